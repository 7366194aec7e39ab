"""The logistic-regression family: the plain model every LightGBM model must beat, and can lose to.

Contract: ``LogisticBaseline(spec)`` is a regularised logistic regression (L2, ``C`` from
:class:`LogisticParams`, fitted by scikit-learn's newton-cholesky solver) on the same lead
rows and the same columns as the LightGBM model of ``spec`` (derived attributes included),
through a design matrix of its own:

* a categorical column becomes one 0/1 column per value seen in at least
  ``min_category_rows`` training rows (missing is a value of its own); a value not seen
  then, or seen more rarely, sets none of them (it is "unknown");
* a numeric or boolean column becomes its value standardised with the training mean and
  standard deviation, a missing value replaced by the training median first, plus a 0/1
  missing-indicator column when values were missing in training. Infinite or huge values
  (beyond 1e12 in size) are missing; an absent engagement count is 0 (no events).

It is a model family like :class:`~models.LeadModel`, behind the same scorer interface:
:meth:`fit` (every row, calibrated as it fits), :meth:`raw_probability` and :meth:`calibrate`
(for a calibration fitted elsewhere, see :mod:`training._refit`), :meth:`predict_proba` /
:meth:`score`, :meth:`explain` (the largest terms of the linear predictor, summed per input
column, as readable phrases), the hot-path pair :meth:`encode` / :meth:`predict_proba_encoded`
/ :meth:`explain_encoded` used by batch and HTTP scoring, and :meth:`save` / :meth:`load`:
one JSON file (``logistic_model.json``, with a ``format_version``) holding the category lists,
the medians, means and scales, the coefficients and the calibration. No class of ours and
no scikit-learn object is pickled; scoring is numpy arithmetic.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features._attributes import LeadColumns, derive_columns
from leadscore.features._errors import ConfigError, ModelError
from leadscore.features._spec import FeatureSpec
from leadscore.models._calibration import Calibrator
from leadscore.models._lead_model import (
    _MISSING_CATEGORY,
    Reason,
    _category_key,
    describe,
    in_blocks,
)
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

_HUGE = 1e12
LOGISTIC_FORMAT_VERSION = 1
"""The version of :meth:`LogisticBaseline.save`'s JSON layout."""
LOGISTIC_FILE = "logistic_model.json"


def _weighted_median(values: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    """The median of ``values`` each repeated ``weights`` times (exactly ``np.median`` of the
    repeated values for whole-number weights): the mean of the values at positions
    ``floor((W - 1) / 2)`` and ``floor(W / 2)`` of the repeated, sorted values, W the total."""
    # per distinct value (hashed, then only the distinct values sorted: a count column has
    # few), its total weight; the repeated positions of value i are [ends[i-1], ends[i])
    codes, distinct = pd.factorize(values)
    order = np.argsort(distinct)
    ends = np.cumsum(np.bincount(codes, weights=weights, minlength=len(distinct))[order])
    total = float(ends[-1])
    last = len(distinct) - 1
    lo = min(int(np.searchsorted(ends, math.floor((total - 1) / 2), side="right")), last)
    hi = min(int(np.searchsorted(ends, math.floor(total / 2), side="right")), last)
    return (float(distinct[order[lo]]) + float(distinct[order[hi]])) / 2


@dataclass(frozen=True)
class LogisticParams:
    """Hyper-parameters of the logistic family."""

    C: float = 1.0  # inverse L2 strength on standardised columns
    min_category_rows: int = 5  # rarer values of a categorical column get no column
    max_iter: int = 2000
    n_jobs: int = 1  # the arithmetic is numpy's; kept so batch engines set threads alike

    def __post_init__(self) -> None:
        if not self.C > 0:
            raise ConfigError(f"C must be positive, got {self.C!r}")
        if self.min_category_rows < 1:
            raise ConfigError(f"min_category_rows must be 1 or more, got {self.min_category_rows!r}")


@dataclass(frozen=True)
class _Number:
    """How one numeric column enters the design matrix."""

    column: int
    median: float
    mean: float
    scale: float
    indicator: int | None  # the missing-indicator column, when training had missing values


class LogisticBaseline:
    """One-hot + standardised logistic regression (see the module docstring)."""

    family = "logistic"
    name = "baseline"
    calibrated = True

    def __init__(self, spec: FeatureSpec, params: LogisticParams | None = None) -> None:
        self.spec = spec
        self.params = params or LogisticParams()

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The lead columns the model reads, in the LightGBM model's order."""
        return self.spec.model_features()

    # -- the design matrix ---------------------------------------------------------------
    def _columns(self, X: pd.DataFrame | LeadColumns) -> LeadColumns:
        columns = LeadColumns.of(X)
        wanted = [d for d in self.spec.derived_features() if d not in columns]
        return columns.with_columns(derive_columns(columns, wanted)) if wanted else columns

    def _keys(self, name: str, columns: LeadColumns) -> list[str] | NDArray[np.object_]:
        """Each row's category key of column ``name`` (missing: ``(missing)``)."""
        if name not in columns:
            return [_MISSING_CATEGORY] * columns.n_rows
        coded = columns.coded(name)
        if all(isinstance(v, str) for v in coded.values):
            return coded.map(lambda v: v, _MISSING_CATEGORY, object)
        return [_category_key(v) for v in columns.objects(name)]  # 1, 1.0 and True differ

    def _positions(self, name: str, columns: LeadColumns,
                   lookup: dict[str, int]) -> NDArray[np.intp]:  # fmt: skip
        """Each row's design column for categorical ``name`` (-1: none), one lookup per
        distinct value when the values are text."""
        missing = lookup.get(_MISSING_CATEGORY, -1)
        if name not in columns:
            return np.full(columns.n_rows, missing, dtype=np.intp)
        coded = columns.coded(name)
        if all(isinstance(v, str) for v in coded.values):
            return coded.map(lambda v: lookup.get(v, -1), missing, np.intp)
        return np.array([lookup.get(_category_key(v), -1) for v in columns.objects(name)],
                        dtype=np.intp)  # fmt: skip

    def _numbers(self, name: str, columns: LeadColumns) -> NDArray[np.float64]:
        """Column ``name`` as floats: missing, unreadable or huge values NaN; an absent or
        missing engagement count 0."""
        n = columns.n_rows
        counts = self.spec.count_features()
        if name not in columns:
            return np.zeros(n) if name in counts else np.full(n, np.nan)
        values = columns.floats(name).copy()
        values[~np.isfinite(values) | (np.abs(values) > _HUGE)] = np.nan
        return np.nan_to_num(values, nan=0.0) if name in counts else values

    def encode(self, X: pd.DataFrame | LeadColumns) -> NDArray[np.float64]:
        """The design matrix of lead rows (one row per lead, the fitted columns)."""
        self._check_fitted()
        columns = self._columns(X)
        out = np.zeros((columns.n_rows, len(self.coef_)), dtype="float64")
        for name, lookup in self.categories_.items():
            if not lookup:
                continue
            where = self._positions(name, columns, lookup)
            hit = where >= 0
            out[np.flatnonzero(hit), where[hit]] = 1.0
        for name, number in self.numbers_.items():
            values = self._numbers(name, columns)
            missing = np.isnan(values)
            filled = np.where(missing, number.median, values)
            out[:, number.column] = (filled - number.mean) / number.scale
            if number.indicator is not None:
                out[:, number.indicator] = missing
        return out

    # -- fitting -------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: ArrayLike,
            sample_weight: ArrayLike | None = None) -> LogisticBaseline:  # fmt: skip
        """Fit on every row of ``(X, y)`` (weighted by ``sample_weight`` when given: a sample
        of the negatives weighted up to their number); raises :class:`ModelError` without
        both classes. A logistic regression is calibrated on its own rows: the calibration
        is the identity until :meth:`calibrate` gives another. With weights, the design
        columns (category counts, medians, means and scales) are those of the rows repeated
        by their weights, so a fit on a weighted sample matches one on the full rows."""
        labels = np.asarray(y, dtype="float64")
        if len(labels) != len(X):
            raise ModelError(f"X has {len(X)} rows but y has {len(labels)}")
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype="float64")
        if weights is not None and weights.shape != labels.shape:
            raise ModelError(f"sample_weight must hold one weight per row ({len(labels)}), got "
                             f"shape {weights.shape}")  # fmt: skip
        if labels.sum() == 0 or labels.sum() == len(labels):
            raise ModelError(
                f"the baseline needs won and lost rows; got {int(labels.sum())} won in "
                f"{len(labels)}"
            )
        if not self.feature_names:
            raise ModelError("the baseline needs at least one feature column, got none")
        columns = self._columns(X)
        self._learn_columns(columns, weights)
        design = self.encode(columns)
        # Newton steps on the Cholesky factor: a few iterations for many rows and ~100-200
        # design columns (3.9 s against lbfgs' 6.1 s on 332k rows, same ROC AUC).
        lr = LogisticRegression(C=self.params.C, max_iter=self.params.max_iter,
                                solver="newton-cholesky")  # fmt: skip
        lr.fit(design, labels, sample_weight=weights)
        self.coef_ = np.asarray(lr.coef_[0], dtype="float64")
        self.intercept_ = float(lr.intercept_[0])
        self.calibrator_ = Calibrator("identity")
        self.n_train_rows_ = len(labels)
        spread = design.std(axis=0)
        self.importance_ = {name: 0.0 for name in self.feature_names}
        for j, owner in enumerate(self._owners()):
            self.importance_[owner] += abs(float(self.coef_[j])) * float(spread[j])
        return self

    def _learn_columns(self, columns: LeadColumns,
                       weights: NDArray[np.float64] | None = None) -> None:  # fmt: skip
        """The design columns of the training rows (repeated by their ``weights``, when
        given): category lists, medians, scales."""
        position = 0
        self.categories_: dict[str, dict[str, int]] = {}
        for name in self.spec.categorical_features():
            keys = pd.Series(self._keys(name, columns), dtype=object)
            counts: pd.Series = (keys.value_counts() if weights is None else
                                 pd.Series(weights).groupby(keys.to_numpy()).sum())  # fmt: skip
            kept = sorted(str(k) for k, n in counts.items() if n >= self.params.min_category_rows)
            self.categories_[name] = {k: position + i for i, k in enumerate(kept)}
            position += len(kept)
        self.numbers_: dict[str, _Number] = {}
        for name in self.spec.numeric_features():
            values = self._numbers(name, columns)
            missing = np.isnan(values)
            if weights is None:
                median = float(np.median(values[~missing])) if (~missing).any() else 0.0
                filled = np.where(missing, median, values)
                mean, sd = float(filled.mean()), float(filled.std())
            else:
                median = (_weighted_median(values[~missing], weights[~missing])
                          if (~missing).any() else 0.0)  # fmt: skip
                filled = np.where(missing, median, values)
                mean = float(np.average(filled, weights=weights))
                sd = math.sqrt(float(np.average((filled - mean) ** 2, weights=weights)))
            indicator = position + 1 if missing.any() else None
            self.numbers_[name] = _Number(position, median, mean, sd if sd > 0 else 1.0, indicator)
            position += 2 if indicator is not None else 1
        self.coef_ = np.zeros(position)  # the width encode() builds; fitted next

    def _owners(self) -> list[str]:
        """The lead column each design column comes from, in design order."""
        owners = [""] * len(self.coef_)
        for name, lookup in self.categories_.items():
            for j in lookup.values():
                owners[j] = name
        for name, number in self.numbers_.items():
            owners[number.column] = name
            if number.indicator is not None:
                owners[number.indicator] = name
        return owners

    def calibrate(self, calibrator: Calibrator) -> LogisticBaseline:
        """Use ``calibrator`` from now on; returns the model."""
        self._check_fitted()
        self.calibrator_ = calibrator
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "categories_"):
            raise ModelError("LogisticBaseline is not fitted; call fit(X, y) first")

    # -- scoring -------------------------------------------------------------------------
    def _raw(self, design: NDArray[np.float64]) -> NDArray[np.float64]:
        # Row by row, not a matrix product: BLAS sums a lone row in another order than a
        # batch, and a lead must get the same number over HTTP as in batch, to the last bit.
        terms = np.ascontiguousarray(design) * self.coef_
        z = terms.sum(axis=1) + self.intercept_
        return np.asarray(expit(z), dtype="float64")  # no overflow for extreme inputs

    def raw_probability(self, X: pd.DataFrame | LeadColumns) -> NDArray[np.float64]:
        """The regression's own probability, before any calibration, one per row."""
        self._check_fitted()
        return in_blocks(X, lambda rows: self._raw(self.encode(rows)))

    def predict_proba(self, X: pd.DataFrame | LeadColumns) -> NDArray[np.float64]:
        """Calibrated P(won) per row of ``X``, in order."""
        self._check_fitted()
        if LeadColumns.of(X).n_rows == 0:
            return np.empty(0, dtype="float64")
        return self.calibrator_.apply(self.raw_probability(X))

    def predict_proba_encoded(self, design: NDArray[np.float64]) -> NDArray[np.float64]:
        """As :meth:`predict_proba`, on a matrix from :meth:`encode` (the hot path)."""
        self._check_fitted()
        return self.calibrator_.apply(self._raw(design))

    def score(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """The family's native score: its calibrated probability."""
        return self.predict_proba(X)

    def explain(self, X: pd.DataFrame | LeadColumns, top_n: int = 3) -> list[list[Reason]]:
        """Per row, the ``top_n`` largest terms of the linear predictor, summed per input
        column (a categorical column's one-hot terms, a number and its missing indicator)."""
        return self.explain_encoded(self.encode(X), top_n)

    def explain_encoded(self, design: NDArray[np.float64], top_n: int = 3) -> list[list[Reason]]:
        """As :meth:`explain`, on a matrix from :meth:`encode` (values are read back from it)."""
        self._check_fitted()
        owners = self._owners()
        names = list(dict.fromkeys(owners))
        index = {name: i for i, name in enumerate(names)}
        owner_of = np.array([index[o] for o in owners], dtype=np.intp)
        terms = np.zeros((len(design), len(names)))
        np.add.at(terms.T, owner_of, (design * self.coef_).T)
        categories = {name: {j: value for value, j in lookup.items()}
                      for name, lookup in self.categories_.items()}  # fmt: skip
        out: list[list[Reason]] = []
        for i in range(len(design)):
            reasons = []
            for k in np.argsort(-np.abs(terms[i]), kind="stable")[:top_n]:
                contribution = float(terms[i, k])
                if contribution == 0.0:
                    continue
                name = names[k]
                value = self._value(name, design[i], categories)
                reasons.append(Reason(name, value, contribution,
                                      describe(name, value, contribution, self.spec)))  # fmt: skip
            out.append(reasons)
        return out

    def _value(self, name: str, row: NDArray[np.float64],
               categories: dict[str, dict[int, str]]) -> object:  # fmt: skip
        """Column ``name``'s value in a design row (None when unknown or missing)."""
        if name in categories:
            hit = [v for j, v in categories[name].items() if row[j] == 1.0]
            return hit[0] if hit else None
        number = self.numbers_[name]
        if number.indicator is not None and row[number.indicator] == 1.0:
            return None
        return float(row[number.column] * number.scale + number.mean)

    def feature_importance(self) -> pd.Series:
        """Per lead column, the summed size of its coefficients times its design columns'
        spread on the training rows, largest first."""
        self._check_fitted()
        return pd.Series(self.importance_, dtype="float64").sort_values(ascending=False)

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters as a flat dict (for MLflow)."""
        return asdict(self.params)

    # -- persistence ---------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write ``logistic_model.json`` (see the module docstring) into ``directory``."""
        self._check_fitted()
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "format_version": LOGISTIC_FORMAT_VERSION,
            "family": self.family,
            "params": asdict(self.params),
            "feature_names": list(self.feature_names),
            "categories": self.categories_,
            "numbers": {name: asdict(n) for name, n in self.numbers_.items()},
            "coef": [float(c) for c in self.coef_],
            "intercept": self.intercept_,
            "calibrator": self.calibrator_.to_dict(),
            "n_train_rows": self.n_train_rows_,
            "importance": self.importance_,
        }
        (directory / LOGISTIC_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, spec: FeatureSpec) -> LogisticBaseline:
        """Read what :meth:`save` wrote, for the model's ``spec``; a ModelError names an
        unknown ``format_version`` or a model whose columns are not the spec's."""
        where = f"model file {str(directory / LOGISTIC_FILE)!r}"
        try:
            state = json.loads((directory / LOGISTIC_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{where}: cannot read it ({exc})") from None
        if state.get("format_version") != LOGISTIC_FORMAT_VERSION:
            raise ModelError(
                f"{where}: format_version {state.get('format_version')!r} is not one this "
                f"leadscore reads (it reads {LOGISTIC_FORMAT_VERSION}); install the leadscore "
                "version that wrote the model, or retrain it"
            )
        known = {f.name for f in fields(LogisticParams)}
        model = cls(spec, LogisticParams(**{k: v for k, v in state["params"].items()
                                            if k in known}))  # fmt: skip
        if list(state["feature_names"]) != list(model.feature_names):
            raise ModelError(f"{where}: its columns differ from its feature spec's")
        model.categories_ = {k: {str(v): int(j) for v, j in d.items()}
                             for k, d in state["categories"].items()}  # fmt: skip
        model.numbers_ = {k: _Number(int(d["column"]), float(d["median"]), float(d["mean"]),
                                     float(d["scale"]),
                                     None if d["indicator"] is None else int(d["indicator"]))
                          for k, d in state["numbers"].items()}  # fmt: skip
        model.coef_ = np.asarray(state["coef"], dtype="float64")
        model.intercept_ = float(state["intercept"])
        model.calibrator_ = Calibrator.from_dict(state["calibrator"])
        model.n_train_rows_ = int(state["n_train_rows"])
        model.importance_ = {str(k): float(v) for k, v in state["importance"].items()}
        if math.isnan(model.intercept_) or not np.isfinite(model.coef_).all():
            raise ModelError(f"{where}: its coefficients are not finite numbers")
        return model
