"""Differences between scorers with their intervals, and the sentences that read them.

Contract:

* :func:`auc_difference` is the difference of two scorers' ROC AUC on the same rows with its
  variance by DeLong's method (the two AUCs are correlated: the same leads);
  :func:`auc_over_coin` is one scorer's ROC AUC minus 0.5 with its variance. Both take
  several folds (independent sets of rows, such as backtest periods) and combine them as the
  mean over folds, whose variance is the sum of the folds' variances over the number of
  folds squared. Folds with a single class are left out.
* :class:`Difference` holds a difference "a minus b", its 95% interval and what it is about;
  :attr:`Difference.leader` names a scorer only when the interval excludes 0, and
  :meth:`Difference.sentence` states the result together with the interval it reads:
  never "not clear" when the interval excludes 0, never a winner when it includes 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Difference:
    """``a`` minus ``b`` on ``metric`` (``where``: the rows it is measured on), with its 95%
    interval ``[low, high]``."""

    metric: str
    a: str
    b: str
    a_value: float
    b_value: float
    low: float
    high: float
    where: str
    digits: int = 3

    @property
    def estimate(self) -> float:
        """a minus b."""
        return self.a_value - self.b_value

    @property
    def leader(self) -> str | None:
        """The scorer ahead when the interval excludes 0; None when it includes 0 (or is
        not known)."""
        if self.low > 0:
            return self.a
        if self.high < 0:
            return self.b
        return None

    def _num(self, value: float, signed: bool = False) -> str:
        if math.isnan(value):
            return "n/a"
        return f"{value:+.{self.digits}f}" if signed else f"{value:.{self.digits}f}"

    def sentence(self) -> str:
        """The comparison in words, with the interval it is about."""
        interval = (f"difference {self._num(self.estimate, True)}, 95% interval "
                    f"[{self._num(self.low, True)}, {self._num(self.high, True)}]")  # fmt: skip
        values = (f"{self.a} {self._num(self.a_value)} vs {self.b} {self._num(self.b_value)} "
                  f"({self.where})")  # fmt: skip
        if math.isnan(self.low) or math.isnan(self.high):
            return f"On {self.metric}, {values}: no interval could be computed."
        leader = self.leader
        if leader is None:
            return (f"On {self.metric}, neither {self.a} nor {self.b} is clearly ahead: "
                    f"{values}; {interval}, which includes 0.")  # fmt: skip
        behind = self.b if leader == self.a else self.a
        return (f"On {self.metric}, {leader} is ahead of {behind}: {values}; {interval}, "
                "which excludes 0.")  # fmt: skip

    def to_dict(self) -> dict[str, object]:
        """JSON-ready data."""
        return {"metric": self.metric, "a": self.a, "b": self.b, "a_value": self.a_value,
                "b_value": self.b_value, "difference": self.estimate, "low": self.low,
                "high": self.high, "where": self.where, "leader": self.leader,
                "sentence": self.sentence()}  # fmt: skip


def _midrank_components(y: NDArray[np.bool_], score: NDArray[np.float64]
                        ) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:  # fmt: skip
    """DeLong's structural components of one scorer: its AUC, V10 (one per won row) and V01
    (one per lost row); ties count one half."""
    pos, neg = score[y], score[~y]
    m, n = len(pos), len(neg)
    all_ranks = rankdata(np.concatenate([pos, neg]))
    pos_ranks, neg_ranks = rankdata(pos), rankdata(neg)
    v10 = (all_ranks[:m] - pos_ranks) / n
    v01 = 1.0 - (all_ranks[m:] - neg_ranks) / m
    return float(v10.mean()), v10, v01


def _fold_difference(y: ArrayLike, a: ArrayLike, b: ArrayLike | None
                     ) -> tuple[float, float, float] | None:  # fmt: skip
    """(AUC of a, AUC of b or 0.5, variance of the difference) on one fold; None without
    both classes."""
    labels = np.asarray(y, dtype="float64") > 0.5
    m = int(labels.sum())
    n = len(labels) - m
    if m < 2 or n < 2:
        return None
    auc_a, v10_a, v01_a = _midrank_components(labels, np.asarray(a, dtype="float64"))
    if b is None:
        var = float(np.var(v10_a, ddof=1) / m + np.var(v01_a, ddof=1) / n)
        return auc_a, 0.5, var
    auc_b, v10_b, v01_b = _midrank_components(labels, np.asarray(b, dtype="float64"))
    d10, d01 = v10_a - v10_b, v01_a - v01_b
    var = float(np.var(d10, ddof=1) / m + np.var(d01, ddof=1) / n)
    return auc_a, auc_b, var


def _combine(metric: str, a_name: str, b_name: str, where: str,
             parts: list[tuple[float, float, float]]) -> Difference:  # fmt: skip
    if not parts:
        return Difference(metric, a_name, b_name, math.nan, math.nan, math.nan, math.nan, where)
    k = len(parts)
    a_mean = float(np.mean([p[0] for p in parts]))
    b_mean = float(np.mean([p[1] for p in parts]))
    half = Z_95 * math.sqrt(max(sum(p[2] for p in parts), 0.0)) / k
    diff = a_mean - b_mean
    return Difference(metric, a_name, b_name, a_mean, b_mean, diff - half, diff + half, where)


def auc_difference(folds: Sequence[tuple[ArrayLike, ArrayLike, ArrayLike]], a_name: str,
                   b_name: str, where: str) -> Difference:  # fmt: skip
    """ROC AUC of a minus that of b, mean over ``folds`` of ``(labels, a scores, b scores)``,
    with a 95% interval by DeLong's method (see the module docstring)."""
    parts = [p for y, a, b in folds if (p := _fold_difference(y, a, b)) is not None]
    return _combine("ROC AUC", a_name, b_name, where, parts)


def auc_over_coin(folds: Sequence[tuple[ArrayLike, ArrayLike]], name: str,
                  where: str) -> Difference:  # fmt: skip
    """ROC AUC of a scorer against a coin's 0.5, mean over ``folds`` of ``(labels, scores)``,
    with a 95% interval by DeLong's method."""
    parts = [p for y, a in folds if (p := _fold_difference(y, a, None)) is not None]
    return _combine("ROC AUC", name, "a coin", where, parts)
