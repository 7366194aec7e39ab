"""The tournament: which model family the backtest supports, and whether it may be champion.

Contract of :func:`decide`: given the folds of a backtest (every scorer measured on each
fold's test rows, see :mod:`training._backtest`), it

* ranks the scorers by their mean ROC AUC over the folds;
* picks the family to register: the one with the higher mean ROC AUC over the folds (the
  point estimate, as the promotion gate judges; on an exact tie the simpler logistic
  regression), or the family ``forced`` by ``--model-family``; the sentence about the two
  says whether the difference is clear, with its interval;
* compares, with DeLong intervals over the folds (:mod:`training._intervals`), the families
  with each other, the chosen family with the *reference* (the rules when they read any of
  the data's features, else the team's existing score, else none), and every scorer with a
  coin (ROC AUC 0.5);
* allows the chosen family to be champion only when some scorer beats a coin (the interval
  of its ROC AUC lies above 0.5: otherwise the data drifts too much to trust any of them, and
  the current champion stays), the chosen family itself beats a coin, its mean ROC AUC is no
  more than ``tolerance`` below the reference's, and (when forced) no more than
  ``tolerance`` below the other family's;
* says in words which scorer the data supports, each sentence with the interval it reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadscore.training._intervals import Difference, auc_difference, auc_over_coin
from leadscore.training._refit import FAMILIES, FAMILY_LABELS

if TYPE_CHECKING:
    from leadscore.training._backtest import FoldResult

SCORER_LABELS = {**FAMILY_LABELS, "rules": "the rules", "existing_score": "your existing score",
                 "ceiling": "the ceiling"}  # fmt: skip


def scorer_label(name: str) -> str:
    """A scorer's name in words."""
    return SCORER_LABELS.get(name, name)


@dataclass
class Tournament:
    """The tournament's result (see the module docstring)."""

    folds: int
    where: str
    mean_auc: dict[str, float]  # scorer -> mean ROC AUC over the folds
    chosen: str
    forced: bool
    reference: str | None
    tolerance: float
    family_difference: Difference | None = None
    reference_difference: Difference | None = None
    coin: dict[str, Difference] = field(default_factory=dict)
    champion_ok: bool = False
    supported: str = "none"  # the scorer the data supports, or "none"

    @property
    def beats_coin(self) -> bool:
        """Whether any scorer's ROC AUC interval lies above a coin's 0.5."""
        return any(d.leader == d.a for d in self.coin.values())

    def sentences(self) -> list[str]:
        """The verdict in words: the figures, each comparison with its interval, the outcome."""
        shown = ", ".join(f"{scorer_label(s)} {v:.3f}" for s, v in self.mean_auc.items()
                          if s != "ceiling" and not math.isnan(v))  # fmt: skip
        out = [f"Backtest over {self.where}: mean ROC AUC {shown}."]
        if self.family_difference is not None:
            out.append(self.family_difference.sentence())
            if not self.forced:
                out.append(f"{FAMILY_LABELS[self.chosen]} has the higher mean ROC AUC over the "
                           "folds and is registered.")  # fmt: skip
        if self.reference_difference is not None:
            out.append(self.reference_difference.sentence())
        else:
            out.append("There are no rules that read this data and no existing score: the "
                       "reference to beat is a coin (ROC AUC 0.5).")  # fmt: skip
        if not self.beats_coin:
            coins = "; ".join(f"{scorer_label(s)} {d.a_value:.3f} [{d.low + 0.5:.3f}, "
                              f"{d.high + 0.5:.3f}]" for s, d in self.coin.items())  # fmt: skip
            out.append(f"No scorer beats a coin on the later windows (ROC AUC and 95% interval: "
                       f"{coins}): the data drifts too much to trust any of them.")  # fmt: skip
        out.append(self.supported_sentence())
        return out

    def supported_sentence(self) -> str:
        """Which scorer the data supports, in one sentence."""
        if self.supported == "none":
            return "The data supports no scorer: none ranks the later leads better than a coin."
        return f"The data supports {scorer_label(self.supported)}."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (MLflow, the bundle's metadata)."""
        return {
            "folds": self.folds, "where": self.where, "mean_auc": self.mean_auc,
            "chosen": self.chosen, "forced": self.forced, "reference": self.reference,
            "tolerance": self.tolerance, "champion_ok": self.champion_ok,
            "supported": self.supported, "beats_coin": self.beats_coin,
            "family_difference": None if self.family_difference is None
            else self.family_difference.to_dict(),
            "reference_difference": None if self.reference_difference is None
            else self.reference_difference.to_dict(),
            "coin": {s: d.to_dict() for s, d in self.coin.items()},
            "sentences": self.sentences(),
        }  # fmt: skip


def decide(results: Sequence[FoldResult], *, where: str, tolerance: float,
           forced: str | None = None, families: Sequence[str] = FAMILIES) -> Tournament:  # fmt: skip
    """The tournament over backtest folds (see the module docstring)."""
    if not results:
        raise ValueError("the tournament needs at least one backtest fold")
    scorers = list(results[0].fitted.metrics)
    mean_auc = {s: _mean([r.fitted.metrics[s]["roc_auc"] for r in results
                          if s in r.fitted.metrics]) for s in scorers}  # fmt: skip
    present = [f for f in families if f in mean_auc]
    reference = next((s for s in ("rules", "existing_score") if s in mean_auc), None)

    def folds_of(*names: str) -> list[tuple[Any, ...]]:
        return [(r.fitted.test_labels, *(r.fitted.test_scores[n] for n in names))
                for r in results if all(n in r.fitted.test_scores for n in names)]  # fmt: skip

    trees = None
    if {"lightgbm", "logistic"} <= set(present):
        trees = auc_difference(folds_of("lightgbm", "logistic"), FAMILY_LABELS["lightgbm"],
                               FAMILY_LABELS["logistic"], f"mean over {where}")  # fmt: skip
    if forced is not None:
        chosen = forced
    else:  # the higher mean ROC AUC; on an exact tie the simpler family (the last of FAMILIES)
        chosen = max(present, key=lambda f: (_or(mean_auc[f]), FAMILIES.index(f)))
    t = Tournament(len(results), where, mean_auc, chosen, forced is not None, reference,
                   tolerance)  # fmt: skip
    others = [f for f in present if f != chosen]
    t.family_difference = trees
    if reference is not None:
        t.reference_difference = auc_difference(folds_of(chosen, reference),
                                                FAMILY_LABELS[chosen], scorer_label(reference),
                                                f"mean over {where}")  # fmt: skip
    for scorer in [*present, *([reference] if reference else [])]:
        t.coin[scorer] = auc_over_coin(folds_of(scorer), scorer_label(scorer),
                                       f"mean over {where}")  # fmt: skip
    chosen_beats_coin = t.coin[chosen].leader == t.coin[chosen].a
    near_reference = reference is None or (
        _or(mean_auc[chosen]) >= _or(mean_auc[reference]) - tolerance)
    near_family = not others or not t.forced or (
        _or(mean_auc[chosen]) >= _or(mean_auc[others[0]]) - tolerance)
    t.champion_ok = t.beats_coin and chosen_beats_coin and near_reference and near_family
    candidates = [s for s in [*present, *([reference] if reference else [])]
                  if t.coin[s].leader == t.coin[s].a]  # fmt: skip
    if candidates:
        best = max(candidates, key=lambda s: _or(mean_auc[s]))
        # the chosen family stands for the data unless something clearly better exists
        t.supported = chosen if t.champion_ok and _or(mean_auc[chosen]) >= _or(
            mean_auc[best]) - tolerance else best  # fmt: skip
    return t


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _or(value: float) -> float:
    """NaN ranks last."""
    return -math.inf if math.isnan(value) else value
