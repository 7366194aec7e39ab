"""The leakage guard: columns that predict the label too well to be known before contact.

Contract:

- :func:`leakage_report` measures every given column on its own, on the rows given (the
  frame is not changed):

  * ``auc``: its cross-validated single-column ROC AUC. Folds are
    ``StratifiedKFold(folds, shuffle=True, random_state=seed)``; the reported value is the
    mean of the per-fold AUCs on the held-out folds. A *numeric* or *boolean* column scores a
    row by its value's rank; missing values are one value of their own, placed below or
    above every number. The training folds choose the direction (higher means more won, or
    fewer) and that placement: of the four orderings, the one with the largest AUC, i.e.
    ``max(auc, 1 - auc)`` on the training folds (ties: higher-is-won, missing-low first);
    the held-out fold is scored with that choice. A *categorical* column is target-encoded
    out of fold: a held-out row gets its value's won rate on the training folds, smoothed
    towards the training folds' overall rate with weight ``smoothing`` (rows), so a value
    seen once cannot look certain; values unseen in training get the overall rate;
    missing is a value of its own. An honest column scores between 0.5 and about 0.75; a
    column equal to the label scores 1.0.
  * ``missing_auc``: the ROC AUC of "is this column missing?" alone, symmetric
    (``max(auc, 1 - auc)``), on all rows: a single yes/no score has no parameter but its
    direction, so cross-validation would add only noise. 0.5 when nothing is missing.
  * ``near_certain``: values (missing included) whose won rate is *shown* to exceed
    ``purity`` (97%): a one-sided exact binomial test of "won in at most 97% of its rows"
    rejects at level ``alpha`` (0.05), over at least ``min_rows`` (30) rows holding at least
    ``min_positive_share`` (1%) of all won rows. These are the tags sales reps write after a
    call ("Converted", "Closed - call back"). The test, not a fixed share, decides: 40 of 40
    won (p = 0.30) or 90 of 91 (p = 0.24) could be an honest attribute's lucky run at 97%;
    100 of 100 (p = 0.048) or 200 of 201 cannot. When the overall won rate is itself at or
    above ``purity`` nothing is near-certain (every value would be).
  * ``sales_values``: up to five of the column's values that read like sales' own work
    (a call, a callback, "converted", "qualified", "closed", a meeting ...), when such
    values cover at least 5% of the rows or number at least two (the words
    ``leadscore init-contract`` uses, :mod:`features._init_contract`).

- :meth:`LeakageReport.suspects` (the *stop list*) names the columns crossing a threshold,
  with the reasons: ``auc >= threshold_auc`` (default 0.90: real leaks cross it, honest lead
  attributes rarely come close), ``missing_auc >= threshold_auc``, or any near-certain value.
- :meth:`LeakageReport.review` (the *review list*) names the columns a person must answer
  once in the contract, as known before contact or known after it, before training goes
  on: a single-column ROC AUC of at least ``review_auc`` (0.75: high for an attribute known
  when the lead arrives), a missingness that itself predicts the outcome
  (``missing_auc >= review_missing_auc``, 0.65), a name that reads like sales' own work
  (status, quality, stage, tags, last activity, owner, disposition ...: the team's own
  column name, from ``labels``), or sales-like values. Stop-list columns are not repeated.
- Columns declared known before contact (``known_before_contact``) or passed as ``allowed``
  are reported but are never on either list.
- :func:`check_leakage` raises :class:`LeakageError` (exit code 3) carrying the suspects, the
  review list and the ranking table, unless ``allow_leaky`` is given (then it logs a warning
  and returns both lists' columns).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from leadscore.features._errors import DataValidationError, LeadscoreError
from leadscore.features._init_contract import after_contact_name, sales_like_values
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binom
from sklearn.model_selection import StratifiedKFold

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD_AUC = 0.90
"""Single-column (or missingness) ROC AUC at which a column is a suspect."""
DEFAULT_PURITY = 0.97
"""Won share at which a value's outcome counts as near-certain."""
DEFAULT_MIN_ROWS = 30
"""Fewest rows a near-certain value must cover."""
DEFAULT_MIN_POSITIVE_SHARE = 0.01
"""Smallest share of all won rows a near-certain value must hold."""
DEFAULT_SMOOTHING = 10.0
"""Weight (in rows) of the overall won rate in a category's out-of-fold encoding."""
DEFAULT_ALPHA = 0.05
"""Level of the one-sided binomial test that a value's won rate exceeds the purity."""
DEFAULT_REVIEW_AUC = 0.75
"""Single-column ROC AUC at which a column goes on the review list."""
DEFAULT_REVIEW_MISSING_AUC = 0.65
"""Missingness ROC AUC at which a column goes on the review list."""

NUMERIC_KINDS = ("numeric", "boolean")
CATEGORICAL_KINDS = ("categorical",)
MISSING = "(missing)"


class LeakageError(LeadscoreError):
    """Training stopped: columns predict the label too well to be known before contact.

    ``suspects`` lists each column and its reasons; ``table`` is the ranking a person
    checks. Exit code 3, like a data validation error.
    """

    exit_code = 3

    def __init__(self, suspects: list[Suspect], table: str,
                 review: list[Suspect] | None = None) -> None:  # fmt: skip
        self.suspects = suspects
        self.review = list(review or [])
        self.table = table
        parts = []
        if suspects:
            names = ", ".join(repr(s.column) for s in suspects)
            reasons = "\n".join(f"  - {s.column}: {'; '.join(s.reasons)}" for s in suspects)
            parts.append(f"leakage guard: {len(suspects)} column(s) predict the label too well "
                         f"to be known before contact: {names}\n{reasons}")  # fmt: skip
        if self.review:
            names = ", ".join(repr(s.column) for s in self.review)
            reasons = "\n".join(f"  - {s.column}: {'; '.join(s.reasons)}" for s in self.review)
            parts.append(f"leakage guard: {len(self.review)} column(s) to review, answer once "
                         f"in the contract before training: {names}\n{reasons}")  # fmt: skip
        super().__init__(
            "\n\n".join(parts) + f"\n\n{table}\n\n"
            "If a column is filled in after contact, list it under known_after_contact in the "
            "contract (it is then never used). If it is known before contact, list it under "
            "known_before_contact. To train anyway, pass --allow-leaky."
        )


@dataclass(frozen=True)
class ValueOutcome:
    """One value of a column: how many rows hold it and how many of those were won."""

    value: object
    rows: int
    won: int

    @property
    def won_share(self) -> float:
        """Share of the value's rows that were won."""
        return self.won / self.rows if self.rows else math.nan

    def describe(self) -> str:
        """E.g. ``value 'Converted' is won in 40 of 40 rows (100%)``."""
        shown = MISSING if self.value is None else repr(self.value)
        return f"value {shown} is won in {self.won} of {self.rows} rows ({_pct(self.won_share)})"


def _pct(share: float) -> str:
    """A share as a whole percentage, rounded down below 100% (99.6% is "99%", not "100%")."""
    if math.isnan(share):
        return "n/a"
    return "100%" if share >= 1 else f"{math.floor(share * 100)}%"


@dataclass(frozen=True)
class ColumnLeakage:
    """What the guard measured for one column (see the module docstring)."""

    column: str
    kind: str
    auc: float
    fold_aucs: tuple[float, ...]
    missing_share: float
    missing_in_won: float
    missing_in_lost: float
    missing_auc: float
    distinct: int
    near_certain: tuple[ValueOutcome, ...]
    top_value: ValueOutcome | None
    sales_values: tuple[str, ...] = ()

    @property
    def strength(self) -> float:
        """The larger of the column's AUC and its missingness AUC (the ranking key)."""
        return max(self.auc, self.missing_auc)

    def reasons(self, threshold_auc: float) -> list[str]:
        """Why the column is a suspect at ``threshold_auc`` (empty when it is not)."""
        found = []
        if self.auc >= threshold_auc:
            found.append(
                f"alone predicts the label with ROC AUC {self.auc:.2f} "
                f"({len(self.fold_aucs)}-fold cross-validated)"
            )
        if self.missing_auc >= threshold_auc:
            when = "lost" if self.missing_in_lost > self.missing_in_won else "won"
            found.append(
                f"missing mostly when {when} (in {_pct(self.missing_in_lost)} of lost rows, "
                f"{_pct(self.missing_in_won)} of won rows): missingness ROC AUC "
                f"{self.missing_auc:.2f}"
            )
        found.extend(v.describe() for v in self.near_certain)
        return found

    def review_reasons(self, review_auc: float, review_missing_auc: float,
                       label: str | None = None) -> list[str]:  # fmt: skip
        """Why the column must be reviewed (empty when it need not be)."""
        found = []
        if self.auc >= review_auc:
            found.append(f"alone predicts the label with ROC AUC {self.auc:.2f}, high for an "
                         "attribute known when the lead arrives")  # fmt: skip
        if self.missing_auc >= review_missing_auc:
            when = "lost" if self.missing_in_lost > self.missing_in_won else "won"
            found.append(f"its missingness predicts the outcome (missing in "
                         f"{_pct(self.missing_in_lost)} of lost rows, {_pct(self.missing_in_won)} "
                         f"of won rows: ROC AUC {self.missing_auc:.2f}; mostly missing when "
                         f"{when})")  # fmt: skip
        if sales_like_name(label or self.column):
            found.append(f"its name {label or self.column!r} reads like sales' own work")
        if self.sales_values:
            shown = ", ".join(repr(v) for v in self.sales_values)
            found.append(f"its values read like sales' own work ({shown})")
        return found


@dataclass(frozen=True)
class Suspect:
    """A column the guard stops on, and why."""

    column: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class LeakageReport:
    """Every column's measurements, strongest first, and the settings they were made with."""

    columns: tuple[ColumnLeakage, ...]
    rows: int
    positives: int
    folds: int
    seed: int
    smoothing: float
    purity: float
    min_rows: int
    min_positive_share: float
    known_before_contact: frozenset[str] = frozenset()
    alpha: float = DEFAULT_ALPHA
    labels: tuple[tuple[str, str], ...] = ()  # (column, the team's own name)

    def __getitem__(self, column: str) -> ColumnLeakage:
        for c in self.columns:
            if c.column == column:
                return c
        raise KeyError(column)

    def suspects(
        self, threshold_auc: float = DEFAULT_THRESHOLD_AUC, *, allowed: Collection[str] = ()
    ) -> list[Suspect]:
        """Columns crossing ``threshold_auc`` or holding a near-certain value, strongest
        first; never those in ``allowed`` or declared known before contact."""
        skip = set(allowed) | self.known_before_contact
        found = []
        for c in self.columns:
            reasons = c.reasons(threshold_auc)
            if reasons and c.column not in skip:
                found.append(Suspect(c.column, tuple(reasons)))
        return found

    def label_of(self, column: str) -> str:
        """The team's own name of ``column`` (the column itself when none was given)."""
        return dict(self.labels).get(column, column)

    def review(
        self,
        threshold_auc: float = DEFAULT_THRESHOLD_AUC,
        review_auc: float = DEFAULT_REVIEW_AUC,
        review_missing_auc: float = DEFAULT_REVIEW_MISSING_AUC,
        *,
        allowed: Collection[str] = (),
    ) -> list[Suspect]:
        """The review list (see the module docstring), strongest first: columns a person
        must answer once in the contract; never stop-list suspects, never those in
        ``allowed`` or declared known before contact."""
        skip = set(allowed) | self.known_before_contact
        found = []
        for c in self.columns:
            if c.column in skip or c.reasons(threshold_auc):
                continue
            reasons = c.review_reasons(review_auc, review_missing_auc, self.label_of(c.column))
            if reasons:
                found.append(Suspect(c.column, tuple(reasons)))
        return found

    def format_table(
        self,
        top: int = 15,
        *,
        threshold_auc: float = DEFAULT_THRESHOLD_AUC,
        allowed: Collection[str] = (),
    ) -> str:
        """The ranking as a plain-text table for a person to check: the ``top`` strongest
        columns, then any suspect or allowed-but-flagged column further down, then the
        reasons."""
        skip = set(allowed) | self.known_before_contact
        shown = list(self.columns[:top])
        shown += [c for c in self.columns[top:] if c.reasons(threshold_auc)]
        most_won = f"most-won value (rows >= {self.min_rows})"
        header = (
            f"{'#':>3}  {'column':<22} {'kind':<11} {'ROC AUC':>7}  {'missing':>7}  "
            f"{'missing AUC':>11}  {most_won:<36}  verdict"
        )
        lines = [
            f"Leakage guard: each column alone against the label ({self.rows} rows, "
            f"{self.positives} won; {self.folds}-fold cross-validated ROC AUC, 0.50 = no "
            "signal, 1.00 = perfect).",
            f"A column is a suspect at ROC AUC >= {threshold_auc:.2f}, missingness AUC >= "
            f"{threshold_auc:.2f}, or a value shown won in more than {self.purity:.0%} of its "
            f">= {self.min_rows} rows (binomial test, p < {self.alpha:g}). Check that none of "
            "these is filled in after contact.",
            "",
            header,
            "-" * len(header),
        ]
        rank = {c.column: i + 1 for i, c in enumerate(self.columns)}
        for c in shown:
            flagged = bool(c.reasons(threshold_auc))
            verdict = ""
            if flagged:
                verdict = "SUSPECT"
                if c.column in self.known_before_contact:
                    verdict = "allowed (known before contact)"
                elif c.column in skip:
                    verdict = "allowed (contract)"
            top_value = ""
            if c.top_value is not None:
                v = c.top_value
                label = MISSING if v.value is None else repr(v.value)
                top_value = f"{_clip(label, 20)} {_pct(v.won_share)} of {v.rows}"
            lines.append(
                f"{rank[c.column]:>3}  {_clip(c.column, 22):<22} {c.kind:<11} {c.auc:>7.2f}  "
                f"{c.missing_share:>7.1%}  {c.missing_auc:>11.2f}  {top_value:<36}  {verdict}"
            )
        hidden = len(self.columns) - len(shown)
        if hidden:
            lines.append(f"     ... {hidden} weaker column(s) not shown")
        suspects = self.suspects(threshold_auc, allowed=allowed)
        flagged_allowed = [c for c in self.columns if c.column in skip and c.reasons(threshold_auc)]
        if suspects:
            lines += ["", "Suspects:"]
            lines += [f"  {s.column}: {'; '.join(s.reasons)}" for s in suspects]
        review = self.review(threshold_auc, allowed=allowed)
        if review:
            lines += ["", "To review (answer in the contract: known_before_contact or "
                      "known_after_contact):"]  # fmt: skip
            lines += [f"  {s.column}: {'; '.join(s.reasons)}" for s in review]
        if flagged_allowed:
            lines += ["", "Flagged but allowed by the contract (not stopping):"]
            lines += [
                f"  {c.column}: {'; '.join(c.reasons(threshold_auc))}" for c in flagged_allowed
            ]
        return "\n".join(lines)

    def to_dict(
        self, threshold_auc: float = DEFAULT_THRESHOLD_AUC, *, allowed: Collection[str] = ()
    ) -> dict[str, Any]:
        """Plain JSON-ready data (for MLflow ``log_dict``): settings, per-column measures and
        the suspects at ``threshold_auc`` (``allowed`` as in :meth:`suspects`)."""
        return {
            "rows": self.rows,
            "positives": self.positives,
            "folds": self.folds,
            "seed": self.seed,
            "smoothing": self.smoothing,
            "threshold_auc": threshold_auc,
            "purity": self.purity,
            "min_rows": self.min_rows,
            "min_positive_share": self.min_positive_share,
            "known_before_contact": sorted(self.known_before_contact),
            "columns": [
                {
                    "column": c.column,
                    "kind": c.kind,
                    "auc": _json_float(c.auc),
                    "fold_aucs": [_json_float(a) for a in c.fold_aucs],
                    "missing_share": c.missing_share,
                    "missing_auc": c.missing_auc,
                    "distinct": c.distinct,
                    "near_certain": [_value_dict(v) for v in c.near_certain],
                    "top_value": None if c.top_value is None else _value_dict(c.top_value),
                }
                for c in self.columns
            ],
            "suspects": [
                {"column": s.column, "reasons": list(s.reasons)}
                for s in self.suspects(threshold_auc, allowed=allowed)
            ],
            "review": [
                {"column": s.column, "reasons": list(s.reasons)}
                for s in self.review(threshold_auc, allowed=allowed)
            ],
            "allowed": sorted(allowed),
        }


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _value_dict(v: ValueOutcome) -> dict[str, Any]:
    value = v.value.item() if isinstance(v.value, np.generic) else v.value
    return {"value": value, "rows": v.rows, "won": v.won}


# --------------------------------------------------------------------------- measuring


def _ordered_codes(score: NDArray[np.float64]) -> tuple[NDArray[np.intp], int]:
    """Each row's position among the distinct values of ``score`` (no NaN), ascending, and
    how many there are: equal values (``-0.0`` and ``0.0`` too) share a position, as they
    share a rank.

    A column of few distinct values (event counts, flags: most columns) is hashed
    (``pandas.factorize``, linear) and only its distinct values sorted, 10-20x faster than
    sorting every row on 1.7M rows; one of many (judged on a sample) is sorted whole."""
    score = np.asarray(score, dtype="float64").reshape(-1)
    sample = score[:: max(1, len(score) // 10_000)]
    if len(np.unique(sample)) * 2 > len(sample):
        distinct, codes = np.unique(score, return_inverse=True)
        return codes.reshape(-1), len(distinct)
    codes, values = pd.factorize(score)  # (-0.0 and 0.0 are one value here too)
    position = np.empty(len(values), dtype=np.intp)
    position[np.argsort(values, kind="stable")] = np.arange(len(values))
    return position[codes], len(values)


def auc_by_counting(y: NDArray[np.bool_], score: NDArray[np.float64]) -> float:
    """ROC AUC of ``score`` (no NaN) for labels ``y``, ties one half, counted exactly
    (:func:`_auc`): the rank-sum formula's number, bit for bit; NaN without both classes."""
    codes, k = _ordered_codes(score)
    return _auc(np.asarray(y, dtype=bool), codes, k)


def _auc(y: NDArray[np.bool_], codes: NDArray[np.intp], k: int, *, reverse: bool = False
         ) -> float:  # fmt: skip
    """ROC AUC of a score given as ordered codes 0 .. k - 1 (:func:`_ordered_codes`; with
    ``reverse`` the order is turned round, the score negated): the Mann-Whitney statistic,
    ties counting one half, by counting the pairs per code in exact integers (the number
    the rank-sum formula gives, without sorting); NaN without both classes."""
    won = np.bincount(codes[y], minlength=k)
    lost = np.bincount(codes[~y], minlength=k)
    n_pos, n_neg = int(won.sum()), int(lost.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    if reverse:
        won, lost = won[::-1], lost[::-1]
    lost_below = np.cumsum(lost) - lost
    twice = int(np.dot(won, 2 * lost_below + lost))  # 2 x (pairs won above + ties / 2)
    return twice / (2 * n_pos * n_neg)


@dataclass(frozen=True)
class _Orderings:
    """A numeric column's two orderings, missing values below every number (``low``) or
    above (``high``), as ordered codes of all rows."""

    low: NDArray[np.intp]
    k_low: int
    high: NDArray[np.intp]
    k_high: int

    @classmethod
    def of(cls, x: NDArray[np.float64]) -> _Orderings:
        missing = np.isnan(x)
        low, k_low = _ordered_codes(np.where(missing, -np.inf, x))
        high, k_high = _ordered_codes(np.where(missing, np.inf, x))
        return cls(low, k_low, high, k_high)


def _numeric_fold_auc(
    orders: _Orderings, y: NDArray[np.bool_], train: NDArray[np.intp], test: NDArray[np.intp]
) -> float:
    """Choose direction and the place of missing values on ``train``; AUC on ``test``."""
    a_low = _auc(y[train], orders.low[train], orders.k_low)
    a_high = _auc(y[train], orders.high[train], orders.k_high)
    # (AUC, codes, k, reversed): -x with missing high is the reverse order of x with missing low
    options = [(a_low, orders.low, orders.k_low, False),
               (a_high, orders.high, orders.k_high, False),
               (1 - a_high, orders.high, orders.k_high, True),
               (1 - a_low, orders.low, orders.k_low, True)]  # fmt: skip
    best = max(range(4), key=lambda i: (options[i][0], -i))
    _, codes, k, reverse = options[best]
    return _auc(y[test], codes[test], k, reverse=reverse)


def _categorical_fold_auc(
    codes: NDArray[np.intp],
    y: NDArray[np.bool_],
    train: NDArray[np.intp],
    test: NDArray[np.intp],
    smoothing: float,
) -> float:
    """Target-encode ``test`` rows with ``train`` statistics only; AUC on ``test``."""
    k = int(codes.max()) + 1
    rows = np.bincount(codes[train], minlength=k).astype("float64")
    won = np.bincount(codes[train], weights=y[train].astype("float64"), minlength=k)
    prior = float(y[train].mean())
    encoded = (won + smoothing * prior) / (rows + smoothing)
    order, n_scores = _ordered_codes(encoded)  # values with equal encodings tie
    return _auc(y[test], order[codes[test]], n_scores)


def _value_outcomes(values: pd.Series, y: NDArray[np.bool_]) -> list[ValueOutcome]:
    """Rows and won rows per value (missing as None), most rows first."""
    grouped = (
        pd.DataFrame({"value": values.to_numpy(), "won": y})
        .groupby("value", dropna=False, sort=False)["won"]
        .agg(["size", "sum"])
        .sort_values("size", ascending=False, kind="stable")
    )
    return [
        ValueOutcome(None if pd.isna(value) else _plain(value), int(n), int(w))
        for value, n, w in zip(grouped.index, grouped["size"], grouped["sum"], strict=True)
    ]


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _as_label(frame: pd.DataFrame, label: str | ArrayLike) -> NDArray[np.bool_]:
    values = frame[label] if isinstance(label, str) else label
    array = np.asarray(values)
    if len(array) != len(frame):
        raise ValueError(f"label has {len(array)} values but the frame has {len(frame)} rows")
    present = array[~pd.isna(array)]
    if len(present) < len(array) or not all(v in (0, 1) for v in np.unique(present).tolist()):
        found = sorted({str(v) for v in np.unique(present)})[:5]
        raise ValueError(f"label must be 0/1 (or booleans) with no missing values; found {found}")
    return array.astype(bool)


def leakage_report(
    frame: pd.DataFrame,
    label: str | ArrayLike,
    columns: Mapping[str, str],
    *,
    folds: int = 5,
    seed: int = 0,
    smoothing: float = DEFAULT_SMOOTHING,
    purity: float = DEFAULT_PURITY,
    min_rows: int = DEFAULT_MIN_ROWS,
    min_positive_share: float = DEFAULT_MIN_POSITIVE_SHARE,
    known_before_contact: Collection[str] = (),
    alpha: float = DEFAULT_ALPHA,
    labels: Mapping[str, str] | None = None,
) -> LeakageReport:
    """Measure each column of ``columns`` (name to kind: numeric, boolean or categorical)
    against ``label`` (0/1 values aligned with ``frame``, or the name of a column of it).

    See the module docstring for what is measured. ``folds`` is lowered to the number of
    rows of the smaller class when that is smaller; fewer than 2 won or 2 lost rows is a
    :class:`DataValidationError`. Columns listed in ``known_before_contact`` are measured
    and shown, never suspects.
    """
    y = _as_label(frame, label)
    positives = int(y.sum())
    smaller = min(positives, len(y) - positives)
    if smaller < 2:
        raise DataValidationError(
            "leakage guard",
            label if isinstance(label, str) else None,
            f"needs at least 2 won and 2 lost rows to cross-validate; found {positives} won "
            f"and {len(y) - positives} lost",
        )
    n_folds = min(folds, smaller)
    if n_folds < folds:
        log.warning(
            "leakage guard: %d folds instead of %d (only %d rows in the smaller class)",
            n_folds,
            folds,
            smaller,
        )
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(np.zeros(len(y)), y))
    rate = positives / len(y)
    measured = []
    for column, kind in columns.items():
        if kind not in NUMERIC_KINDS + CATEGORICAL_KINDS:
            raise ValueError(
                f"column {column!r}: kind must be one of "
                f"{list(NUMERIC_KINDS + CATEGORICAL_KINDS)}, got {kind!r}"
            )
        values = frame[column]
        is_missing = values.isna().to_numpy()
        if kind in NUMERIC_KINDS:
            x = pd.to_numeric(values, errors="raise").to_numpy(dtype="float64", na_value=np.nan)
            orders = _Orderings.of(x)  # sorted once; each fold counts
            fold_aucs = [_numeric_fold_auc(orders, y, tr, te) for tr, te in splits]
            del orders
        else:
            codes, _ = pd.factorize(values, use_na_sentinel=False)
            fold_aucs = [_categorical_fold_auc(codes, y, tr, te, smoothing) for tr, te in splits]
        missing_auc = _auc(y, is_missing.astype(np.intp), 2)
        outcomes = _value_outcomes(values, y)
        big = [v for v in outcomes if v.rows >= min_rows]
        near = tuple(
            v
            for v in big
            if rate < purity and v.won >= min_positive_share * positives
            and convincingly_above(v, purity, alpha)
        )
        measured.append(
            ColumnLeakage(
                column=column,
                kind=kind,
                auc=float(np.mean(fold_aucs)),
                fold_aucs=tuple(fold_aucs),
                missing_share=float(is_missing.mean()),
                missing_in_won=float(is_missing[y].mean()),
                missing_in_lost=float(is_missing[~y].mean()),
                missing_auc=max(missing_auc, 1 - missing_auc),
                distinct=int(values.nunique()),
                near_certain=near,
                top_value=max(big, key=lambda v: v.won_share) if big else None,
                sales_values=_sales_values(outcomes, len(y)) if kind in CATEGORICAL_KINDS else (),
            )
        )
    measured.sort(key=lambda c: (-c.strength, c.column))
    return LeakageReport(
        columns=tuple(measured),
        rows=len(y),
        positives=positives,
        folds=n_folds,
        seed=seed,
        smoothing=smoothing,
        purity=purity,
        min_rows=min_rows,
        min_positive_share=min_positive_share,
        known_before_contact=frozenset(known_before_contact),
        alpha=alpha,
        labels=tuple((labels or {}).items()),
    )


def convincingly_above(value: ValueOutcome, purity: float, alpha: float) -> bool:
    """Whether a one-sided exact binomial test rejects "the value is won in at most
    ``purity`` of its rows" at level ``alpha``: P(at least ``won`` of ``rows`` | purity)."""
    if value.rows == 0 or value.won_share <= purity:
        return False
    return float(binom.sf(value.won - 1, value.rows, purity)) < alpha


def sales_like_name(name: str) -> bool:
    """Whether a column name reads like sales' own work (the words init-contract uses)."""
    return after_contact_name(name)


def _sales_values(outcomes: list[ValueOutcome], n_rows: int) -> tuple[str, ...]:
    """Values that read like sales' own work (see :func:`features._init_contract.sales_like_values`)."""
    return sales_like_values([(v.value, v.rows) for v in outcomes], n_rows)


def review_columns(frame: pd.DataFrame, y: ArrayLike, kinds: Mapping[str, str],
                   labels: Mapping[str, str] | None = None, *, min_rows: int = 200,
                   min_class: int = 20) -> dict[str, list[str]]:  # fmt: skip
    """The columns the guard would stop on or ask about (stop list, then review list), with
    their reasons, for a table measured against 0/1 labels ``y``; nothing when the table has
    fewer than ``min_rows`` rows or ``min_class`` rows of either class (a single-column AUC
    on a few dozen rows is noise). What ``leadscore init-contract`` writes as TODOs."""
    labels_arr = np.asarray(y)
    won = int(labels_arr.sum())
    if len(labels_arr) < min_rows or min(won, len(labels_arr) - won) < min_class:
        return {}
    report = leakage_report(frame, labels_arr, kinds, labels=labels)
    return {s.column: list(s.reasons) for s in [*report.suspects(), *report.review()]}


def check_leakage(
    report: LeakageReport,
    contract_allowed: Collection[str] = (),
    *,
    allow_leaky: bool = False,
    threshold_auc: float = DEFAULT_THRESHOLD_AUC,
) -> list[Suspect]:
    """The suspects and the columns to review (none allowed by the contract); raises
    :class:`LeakageError` when there are any, unless ``allow_leaky``, in which case it logs a
    warning and returns them (suspects first)."""
    suspects = report.suspects(threshold_auc, allowed=contract_allowed)
    review = report.review(threshold_auc, allowed=contract_allowed)
    if not suspects and not review:
        return []
    table = report.format_table(threshold_auc=threshold_auc, allowed=contract_allowed)
    if not allow_leaky:
        raise LeakageError(suspects, table, review)
    flagged = [*suspects, *review]
    log.warning(
        "leakage guard: training with %d suspect column(s) (--allow-leaky): %s",
        len(flagged),
        ", ".join(s.column for s in flagged),
    )
    return flagged


LEAKAGE_METRIC_COLUMNS = 15
_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. /:]")


def metric_key(prefix: str, column: str) -> str:
    """An MLflow metric name for a column (characters MLflow refuses become ``_``)."""
    return f"{prefix}/{_METRIC_NAME.sub('_', column)}"


def log_leakage(report: LeakageReport, allowed: list[Suspect]) -> None:
    """Log the guard's findings to the active MLflow run (see the module docstring)."""
    mlflow.log_text(report.format_table(), "leakage/ranking.txt")
    payload = report.to_dict()
    payload["trained_with_suspects"] = [s.column for s in allowed]
    mlflow.log_dict(payload, "leakage/report.json")
    for c in report.columns[:LEAKAGE_METRIC_COLUMNS]:
        if np.isfinite(c.auc):
            mlflow.log_metric(metric_key("leakage_auc", c.column), float(c.auc))
        mlflow.log_metric(metric_key("leakage_missing_auc", c.column), float(c.missing_auc))
    suspects = report.suspects()
    mlflow.set_tag("leakage.suspects", ", ".join(s.column for s in suspects)[:5000] or "none")
    review = report.review()
    mlflow.set_tag("leakage.review", ", ".join(s.column for s in review)[:5000] or "none")
