"""LeadModel: LightGBM on lead rows, calibrated, with per-lead reasons a sales rep can read.

Contract:

* built for one :class:`~features._spec.FeatureSpec`: its categorical and numeric
  columns are the model's (the team's own attributes, the standard roles' derived ones,
  lead age and engagement);
* input: *lead rows* (the spec's input columns, any of them absent); derived attributes are
  added internally with :func:`features.derive_attributes`, so batch and online callers
  pass the same rows;
* categoricals are encoded with the category lists seen in training; values not seen then
  are scored as missing (LightGBM's "unknown" branch), never rejected;
* :meth:`LeadModel.fit` early-stops on one half of a *later* validation window and fits the
  probability calibration on the other half, so neither step sees its own data twice (the
  halves are split by contact id within each class, so each holds wins);
  :meth:`LeadModel.fit_trees` fits a given number of trees on every row it is given and
  leaves calibration to the caller (:meth:`LeadModel.calibrate`, with scores from
  :meth:`LeadModel.raw_probability` on rows it did not see): the refit of
  :mod:`training._refit`;
* :meth:`LeadModel.save` writes the booster in LightGBM's own text format and everything
  else (parameters, category lists, calibration) as JSON with a ``format_version``;
  :meth:`LeadModel.load` reads them back with the spec, refusing an unknown version. No
  class of ours is pickled;
* :meth:`LeadModel.predict_proba` returns calibrated P(won within the horizon), one per row,
  in input order; :meth:`LeadModel.explain` returns the top factors from LightGBM's own
  exact contributions (``pred_contrib``), as readable phrases.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from leadscore.features import ModelError
from leadscore.features._attributes import LeadColumns, derive_columns, missing_column
from leadscore.features._errors import ConfigError
from leadscore.features._spec import FeatureSpec, demo_spec
from leadscore.models._calibration import Calibrator
from numpy.typing import ArrayLike, NDArray

log = logging.getLogger(__name__)

_MISSING_CATEGORY = "(missing)"
MODEL_FORMAT_VERSION = 1
"""The version of :meth:`LeadModel.save`'s JSON layout."""
SMALL_DATA_ROWS = 100_000
"""Training on fewer rows than this uses one thread: on 2 busy cores OpenMP's waiting costs
more than the work."""

BLOCK_ROWS = 32_768
"""Rows encoded and scored at a time by ``raw_probability`` and ``predict_proba``: a block's
matrix is reused memory, not fresh pages (the matrix of 250,000 rows at once made the
logistic family's scoring of the rows before a test period 3x slower on 2 cores; blocks of
8k-64k rows cost within 30% of each other, smaller ones paying more per-block overhead)."""


def in_blocks(X: pd.DataFrame | LeadColumns,
              score: Callable[[LeadColumns], NDArray[np.float64]]) -> NDArray[np.float64]:  # fmt: skip
    """``score`` of the lead rows ``X`` computed :data:`BLOCK_ROWS` rows at a time, one
    number per row in order. Each row's number depends on that row alone, so the blocks give
    exactly what one call on every row would."""
    columns = LeadColumns.of(X)
    n = columns.n_rows
    if n <= BLOCK_ROWS:
        return score(columns)
    out = np.empty(n, dtype="float64")
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        out[start:stop] = score(columns.rows(start, stop))
    return out


def _runs(names: tuple[str, ...], members: frozenset[str]) -> tuple[tuple[int, int], ...]:
    """The columns of ``names`` in ``members`` as runs ``(start, stop)``."""
    runs: list[tuple[int, int]] = []
    for j, name in enumerate(names):
        if name in members:
            if runs and runs[-1][1] == j:
                runs[-1] = (runs[-1][0], j + 1)
            else:
                runs.append((j, j + 1))
    return tuple(runs)


def _category_key(value: object) -> str:
    """How a raw categorical value is looked up: missing values share one category."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return _MISSING_CATEGORY
    return str(value)


@dataclass(frozen=True)
class LeadModelParams:
    """Hyper-parameters; defaults suit tens of thousands to millions of lead rows."""

    n_estimators: int = 1000
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    early_stopping_rounds: int = 50
    # Platt scaling keeps the ranking (AUC) intact and never returns exactly 0 or 1; on the
    # demo data it beat isotonic on log loss (0.0133 vs 0.0149) at equal ECE.
    calibration: str = "sigmoid"  # or "isotonic"
    seed: int = 0
    n_jobs: int = 2
    # What early stopping watches: log loss mixes ranking with the validation window's base
    # rate (a drifting window stops after a tree or two); "auc" watches the ranking only,
    # for callers that calibrate separately.
    stopping_metric: str = "binary_logloss"  # or "auc"

    def __post_init__(self) -> None:
        if self.calibration not in ("isotonic", "sigmoid"):
            raise ConfigError(
                f"calibration must be 'isotonic' or 'sigmoid', got {self.calibration!r}"
            )
        if self.stopping_metric not in ("binary_logloss", "auc"):
            raise ConfigError(
                f"stopping_metric must be 'binary_logloss' or 'auc', got {self.stopping_metric!r}"
            )
        if self.n_estimators <= 0:
            raise ConfigError(f"n_estimators must be positive, got {self.n_estimators!r}")


@dataclass(frozen=True)
class Reason:
    """One factor behind a lead's model score (contribution in log-odds)."""

    feature: str
    value: object
    contribution: float
    text: str


def _as_labels(y: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(y, dtype="float64")
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise ModelError(f"{name} must hold only 0 and 1, got {np.unique(arr[bad])[:5].tolist()}")
    return arr


def _as_weights(weights: ArrayLike | None, n_rows: int, name: str) -> NDArray[np.float64] | None:
    """Row weights as float64 (None stays None): one per row, each positive and finite."""
    if weights is None:
        return None
    arr = np.asarray(weights, dtype="float64")
    if arr.shape != (n_rows,):
        raise ModelError(f"{name} must hold one weight per row ({n_rows}), got shape {arr.shape}")
    if not (np.isfinite(arr) & (arr > 0)).all():
        raise ModelError(f"{name} must be positive and finite, got {arr[~(arr > 0)][:5].tolist()}")
    return arr


def _check_training_rows(X: pd.DataFrame, y: NDArray[np.float64]) -> None:
    """As many labels as rows, and both classes among them."""
    if len(X) != len(y):
        raise ModelError(f"X has {len(X)} rows but y has {len(y)}")
    if y.sum() == 0 or y.sum() == len(y):
        raise ModelError(
            f"training labels have a single class ({int(y.sum())} positives in "
            f"{len(y)} rows); need both won and not-won leads"
        )


def _validation_halves(ids: pd.Series | None, y: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Deterministic half split of the validation rows (True: early stopping): within each
    class, rows ordered by a hash of their contact id (their position without ids) go to
    the halves in turn, so both halves hold wins even when there are few."""
    if ids is not None:
        key = pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy()
    else:
        key = np.arange(len(y), dtype=np.uint64)
    out = np.zeros(len(y), dtype=bool)
    for cls in (0.0, 1.0):
        rows = np.flatnonzero(y == cls)
        ordered = rows[np.argsort(key[rows], kind="stable")]
        out[ordered[::2]] = True
    return out


class LeadModel:
    """Calibrated LightGBM lead scorer. See the module docstring for the contract."""

    family = "lightgbm"
    name = "model"
    calibrated = True

    def __init__(self, params: LeadModelParams | None = None, spec: FeatureSpec | None = None
                 ) -> None:  # fmt: skip
        self.params = params or LeadModelParams()
        self.spec = spec or demo_spec()

    @property
    def categorical_features(self) -> tuple[str, ...]:
        """The model's categorical columns, from its spec."""
        return self.spec.categorical_features()

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every column of the matrix LightGBM sees, in order."""
        return self.spec.model_features()

    # -- encoding ----------------------------------------------------------------------
    def _prepared(self, X: pd.DataFrame | LeadColumns) -> LeadColumns:
        columns = LeadColumns.of(X)
        wanted = [d for d in self.spec.derived_features() if d not in columns]
        if not wanted:
            return columns
        return columns.with_columns(derive_columns(columns, wanted))

    def encode(self, X: pd.DataFrame | LeadColumns, dtype: str = "float64") -> NDArray[Any]:
        """The numeric matrix LightGBM sees (columns in :attr:`feature_names` order; stored
        column by column, which LightGBM reads as it is). Training encodes its rows as
        ``float32`` (half the memory; the training frame's values are float32 already)."""
        self._check_fitted()
        columns = self._prepared(X)
        cats = self.categorical_features
        names = self.feature_names
        counts = self.spec.count_features()
        out = np.empty((columns.n_rows, len(names)), dtype=dtype, order="F")
        for j, name in enumerate(cats):
            out[:, j] = self._category_codes(name, columns)
        for j, name in enumerate(names[len(cats):], start=len(cats)):
            if name not in columns:
                # Absent engagement counts mean "no events"; absent attributes are missing.
                out[:, j] = 0.0 if name in counts else np.nan
            else:
                columns.fill_floats(name, out[:, j])  # booleans 0/1, unreadable values NaN
        for start, stop in _runs(names, counts):
            # A count with no events is 0, never missing, whichever way the lead arrived.
            block = out[:, start:stop]
            if not np.isfinite(block).all():
                np.nan_to_num(block, nan=0.0, copy=False)
        return out

    def _category_codes(self, name: str, columns: LeadColumns) -> NDArray[np.float64] | float:
        """Training-time category codes of column ``name``; values not seen in training are
        NaN, i.e. missing for LightGBM (its "unknown" branch)."""
        lookup = self.categories_[name]
        missing = lookup.get(_MISSING_CATEGORY, np.nan)
        if name not in columns:
            return missing
        coded = columns.coded(name)
        if all(isinstance(v, str) for v in coded.values):
            # one lookup per distinct value, spread back by code
            return coded.map(lambda v: lookup.get(v, np.nan), missing, "float64")
        # Numbers or booleans among the values: 1, 1.0 and True share a code but not a text,
        # so look each row's own value up.
        return np.array(
            [lookup.get(_category_key(v), np.nan) for v in columns.objects(name)],
            dtype="float64",
        )

    # -- fitting -----------------------------------------------------------------------
    def fit(
        self,
        X: pd.DataFrame,
        y: ArrayLike,
        *,
        validation: tuple[pd.DataFrame, ArrayLike],
        sample_weight: ArrayLike | None = None,
        validation_weight: ArrayLike | None = None,
    ) -> LeadModel:
        """Fit on ``(X, y)``; early-stop and calibrate on the later ``validation`` window.
        ``sample_weight`` / ``validation_weight`` weigh the rows (negative sampling: see
        :mod:`training._sampling`); calibration uses the validation weights too."""
        y_train = _as_labels(y, "y")
        X_valid, y_valid_raw = validation
        y_valid = _as_labels(y_valid_raw, "validation labels")
        _check_training_rows(X, y_train)
        w_train = _as_weights(sample_weight, len(y_train), "sample_weight")
        w_valid = _as_weights(validation_weight, len(y_valid), "validation_weight")
        X_tr = self._learn_categories(X)
        X_va = self.encode(X_valid, dtype="float32")
        ids = X_valid.get("contact_id", None)
        stop_mask = _validation_halves(ids, y_valid)
        if y_valid[stop_mask].sum() == 0 or y_valid[~stop_mask].sum() == 0:
            raise ModelError(
                f"the validation rows need a won lead in each half (early stopping and "
                f"calibration); they have {int(y_valid.sum())} won in {len(y_valid)} rows"
            )
        p = self.params
        lgb_params = self._lgb_params(len(X_tr))
        lgb_params["metric"] = p.stopping_metric
        cat_idx = list(range(len(self.categorical_features)))
        # LightGBM's own names are positional: a team's column names may hold any character
        n_train = len(X_tr)
        train_set = lgb.Dataset(X_tr, y_train, weight=w_train,
                                feature_name=[f"f{j}" for j in range(len(self.feature_names))],
                                categorical_feature=cat_idx, free_raw_data=True,
                                params=lgb_params).construct()  # fmt: skip
        del X_tr  # binned now: the raw matrix is not needed while the trees grow
        stop_set = lgb.Dataset(X_va[stop_mask], y_valid[stop_mask], reference=train_set,
                               weight=None if w_valid is None else w_valid[stop_mask])  # fmt: skip
        self.booster_ = lgb.train(
            lgb_params,
            train_set,
            num_boost_round=p.n_estimators,
            valid_sets=[stop_set],
            valid_names=["validation"],
            callbacks=[lgb.early_stopping(p.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(self.booster_.best_iteration or p.n_estimators)
        log.info("LightGBM stopped at %d trees", self.best_iteration_)
        calib_raw = self._raw_probability(X_va[~stop_mask])
        calib_y = y_valid[~stop_mask]
        calib_w = None if w_valid is None else w_valid[~stop_mask]
        if p.calibration == "isotonic":
            self.calibrator_ = Calibrator.isotonic(calib_raw, calib_y, calib_w)
        else:
            self.calibrator_ = Calibrator.platt(calib_raw, calib_y, calib_w)
        self.n_train_rows_ = n_train
        self.n_validation_rows_ = len(X_va)
        return self

    def fit_trees(self, X: pd.DataFrame, y: ArrayLike, n_trees: int,
                  sample_weight: ArrayLike | None = None) -> LeadModel:  # fmt: skip
        """Fit exactly ``n_trees`` trees on every row of ``(X, y)`` (no validation rows, no
        early stopping), weighted by ``sample_weight`` when given. The probabilities are
        uncalibrated until :meth:`calibrate` is given a map fitted on scores of rows this
        model did not see."""
        if n_trees <= 0:
            raise ModelError(f"n_trees must be positive, got {n_trees!r}")
        y_train = _as_labels(y, "y")
        _check_training_rows(X, y_train)
        weights = _as_weights(sample_weight, len(y_train), "sample_weight")
        X_tr = self._learn_categories(X)
        n_train = len(X_tr)
        lgb_params = self._lgb_params(n_train)
        train_set = lgb.Dataset(X_tr, y_train, weight=weights,
                                feature_name=[f"f{j}" for j in range(len(self.feature_names))],
                                categorical_feature=list(range(len(self.categorical_features))),
                                free_raw_data=True, params=lgb_params).construct()  # fmt: skip
        del X_tr  # binned now: the raw matrix is not needed while the trees grow
        self.booster_ = lgb.train(lgb_params, train_set, num_boost_round=n_trees)
        self.best_iteration_ = int(n_trees)
        self.calibrator_ = Calibrator("identity")
        self.n_train_rows_ = n_train
        self.n_validation_rows_ = 0
        return self

    def calibrate(self, calibrator: Calibrator) -> LeadModel:
        """Use ``calibrator`` from now on (fitted on :meth:`raw_probability` scores of rows
        this model did not see); returns the model."""
        self._check_fitted()
        self.calibrator_ = calibrator
        return self

    def raw_probability(self, X: pd.DataFrame | LeadColumns) -> NDArray[np.float64]:
        """LightGBM's own probability, before calibration, one per row."""
        self._check_fitted()
        return in_blocks(X, lambda rows: self._raw_probability(self.encode(rows)))

    def _learn_categories(self, X: pd.DataFrame) -> NDArray[np.float32]:
        """Learn the category lists of ``X`` (the training rows); their encoded matrix
        (float32)."""
        rows = self._prepared(X)
        self.__dict__.pop("_inverse", None)  # a refit has new categories
        self.categories_: dict[str, dict[str, int]] = {}
        for name in self.categorical_features:
            coded = rows.coded(name) if name in rows else missing_column(0)
            used = np.unique(coded.codes).tolist()
            seen = sorted(dict.fromkeys(coded.values[c] if c >= 0 else _MISSING_CATEGORY
                                        for c in used))  # fmt: skip
            self.categories_[name] = {str(v): i for i, v in enumerate(seen)}
        return self.encode(rows, dtype="float32")

    def _lgb_params(self, n_rows: int) -> dict[str, Any]:
        """LightGBM's parameters for ``n_rows`` training rows."""
        small = n_rows < SMALL_DATA_ROWS
        p = self.params
        lgb_params: dict[str, Any] = {
            "objective": "binary",
            "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves,
            # a few thousand leads cannot fill leaves of 100
            "min_child_samples": min(p.min_child_samples, max(10, n_rows // 250)),
            "feature_fraction": p.feature_fraction,
            "bagging_fraction": p.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": p.lambda_l2,
            "seed": p.seed,
            "deterministic": True,
            "num_threads": 1 if small else p.n_jobs,
            "verbosity": -1,
            "cat_smooth": 10.0,
            "min_data_per_group": 50 if not small else 20,
        }
        return lgb_params

    def _check_fitted(self) -> None:
        if not hasattr(self, "categories_"):
            raise ModelError("LeadModel is not fitted; call fit(X, y, validation=...) first")

    def _raw_probability(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        threads = 1 if len(matrix) < 2000 else self.params.n_jobs
        out = self.booster_.predict(matrix, num_iteration=self.best_iteration_, num_threads=threads)
        return np.asarray(out, dtype="float64")

    # -- prediction --------------------------------------------------------------------
    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Calibrated probability of a win within the horizon, one per row."""
        self._check_fitted()
        return self.calibrator_.apply(self.raw_probability(X))

    def predict_proba_encoded(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """As :meth:`predict_proba`, on a matrix from :meth:`encode` (the hot path)."""
        self._check_fitted()
        return self.calibrator_.apply(self._raw_probability(matrix))

    def score(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """The model's native score: the calibrated probability."""
        return self.predict_proba(X)

    def explain(self, X: pd.DataFrame, top_n: int = 3) -> list[list[Reason]]:
        """Top ``top_n`` factors per row by absolute contribution (exact TreeSHAP)."""
        return self.explain_encoded(self.encode(X), top_n)

    def explain_encoded(self, matrix: NDArray[np.float64], top_n: int = 3) -> list[list[Reason]]:
        """As :meth:`explain`, on a matrix from :meth:`encode` (values are read back from it)."""
        self._check_fitted()
        threads = 1 if len(matrix) < 2000 else self.params.n_jobs
        contrib = np.asarray(
            self.booster_.predict(
                matrix, num_iteration=self.best_iteration_, pred_contrib=True, num_threads=threads
            )
        )[:, : len(self.feature_names)]
        order = np.argsort(-np.abs(contrib), axis=1)[:, :top_n]
        names = self.feature_names
        out: list[list[Reason]] = []
        inverse = self._category_values()
        for i in range(len(matrix)):
            reasons = []
            for j in order[i]:
                c = float(contrib[i, j])
                if c == 0.0:
                    continue
                name = names[j]
                raw = matrix[i, j]
                value: object
                if name in inverse:
                    value = None if np.isnan(raw) else inverse[name].get(int(raw))
                else:
                    value = None if np.isnan(raw) else float(raw)
                reasons.append(Reason(name, value, c, describe(name, value, c, self.spec)))
            out.append(reasons)
        return out

    def _category_values(self) -> dict[str, dict[int, str]]:
        """Category code to value, per categorical feature (built once, not pickled)."""
        inverse: dict[str, dict[int, str]] | None = self.__dict__.get("_inverse")
        if inverse is None:
            inverse = {name: {i: v for v, i in lookup.items()}
                       for name, lookup in self.categories_.items()}  # fmt: skip
            self._inverse = inverse
        return inverse

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write ``lightgbm.txt`` (the booster, LightGBM's own format) and
        ``lead_model.json`` (parameters, categories, calibration) into ``directory``."""
        self._check_fitted()
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(directory / "lightgbm.txt"), num_iteration=self.best_iteration_)
        state = {
            "format_version": MODEL_FORMAT_VERSION,
            "params": asdict(self.params),
            "best_iteration": self.best_iteration_,
            "feature_names": list(self.feature_names),
            "categories": self.categories_,
            "calibrator": self.calibrator_.to_dict(),
            "n_train_rows": self.n_train_rows_,
            "n_validation_rows": self.n_validation_rows_,
        }
        (directory / "lead_model.json").write_text(json.dumps(state, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, spec: FeatureSpec) -> LeadModel:
        """Read what :meth:`save` wrote, for the model's ``spec``; a ModelError names an
        unknown ``format_version`` or a model whose columns are not the spec's."""
        where = f"model file {str(directory / 'lead_model.json')!r}"
        try:
            state = json.loads((directory / "lead_model.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{where}: cannot read it ({exc})") from None
        if state.get("format_version") != MODEL_FORMAT_VERSION:
            raise ModelError(
                f"{where}: format_version {state.get('format_version')!r} is not one this "
                f"leadscore reads (it reads {MODEL_FORMAT_VERSION}); install the leadscore "
                "version that wrote the model, or retrain it"
            )
        known = {f.name for f in fields(LeadModelParams)}
        model = cls(LeadModelParams(**{k: v for k, v in state["params"].items() if k in known}),
                    spec)  # fmt: skip
        if list(state["feature_names"]) != list(model.feature_names):
            raise ModelError(f"{where}: its columns differ from its feature spec's")
        model.booster_ = lgb.Booster(model_file=str(directory / "lightgbm.txt"))
        model.best_iteration_ = int(state["best_iteration"])
        model.categories_ = {k: {str(v): int(i) for v, i in d.items()}
                             for k, d in state["categories"].items()}  # fmt: skip
        model.calibrator_ = Calibrator.from_dict(state["calibrator"])
        model.n_train_rows_ = int(state["n_train_rows"])
        model.n_validation_rows_ = int(state["n_validation_rows"])
        return model

    def feature_importance(self) -> pd.Series:
        """Total gain per feature, largest first."""
        self._check_fitted()
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=list(self.feature_names)).sort_values(ascending=False)

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters as a flat dict (for MLflow)."""
        return asdict(self.params)


def _num(value: object) -> float:
    return float(value)  # type: ignore[arg-type]


def format_value(value: object, kind: str) -> str:
    """A feature value as a reason shows it: ``yes``/``no`` for flags, numbers with up to
    four significant digits (whole numbers in full), text as it is, ``unknown``."""
    if value is None or value == _MISSING_CATEGORY:
        return "unknown"
    if kind == "boolean":
        return "yes" if _num(value) == 1.0 else "no"
    if kind == "numeric":
        number = _num(value)
        if number.is_integer():
            return f"{number:,.0f}"
        return str(np.format_float_positional(number, precision=4, fractional=False, trim="-"))
    return str(value)


def describe(feature: str, value: object, contribution: float,
             spec: FeatureSpec | None = None) -> str:  # fmt: skip
    """A phrase a sales rep can read, e.g. ``'3 pricing page view events in the last 30 days
    (raises)'``; a team's own attribute reads ``'Specialization: Finance Management
    (raises)'`` in the team's own words."""
    spec = spec or demo_spec()
    direction = "raises" if contribution > 0 else "lowers"
    v = value if not (isinstance(value, float) and math.isnan(value)) else None
    attr = spec.attribute(feature)
    if attr is not None and attr.role is None:
        return f"{attr.label}: {format_value(v, attr.kind)} ({direction})"
    if feature in ("industry", "country", "lead_source", "title_level", "title_function",
                   "buying_timeline"):  # fmt: skip
        text = f"{spec.label_of(feature)}: {'unknown' if v in (None, _MISSING_CATEGORY) else v}"
    elif feature == "phone_valid":
        text = "phone number unknown" if v is None else ("valid phone" if v else "phone not valid")
    elif feature == "requested_demo":
        text = "demo answer missing" if v is None else (
            "ticked 'I want a demo'" if v else "did not ask for a demo")  # fmt: skip
    elif feature == "email_is_free":
        text = "email domain unknown" if v is None else (
            "free email domain" if v else "corporate email domain")  # fmt: skip
    elif feature == "company_size":
        text = "company size unknown" if v is None else f"company of {_num(v):,.0f} employees"
    elif feature == "days_since_created":
        text = "lead age unknown" if v is None else f"lead created {_num(v):.0f} days ago"
    elif feature == "activity_trend":
        text = (
            "activity trend unknown"
            if v is None
            else f"activity trend x{_num(v):.1f} (last 30 days vs the 60 before)"
        )
    elif feature == "hours_to_first_touch":
        text = (
            "no sales touch yet"
            if v is None
            else f"first sales touch {_num(v):.0f} hours after creation"
        )
    elif feature.startswith("days_since_last"):
        what = "high-intent activity" if "high_intent" in feature else "activity"
        text = f"no {what} yet" if v is None else f"last {what} {_num(v):.0f} days ago"
    elif feature in spec.engagement_names():
        text = f"{0 if v is None else _num(v):.0f} {spec.label_of(feature)}"
    else:
        text = f"{spec.label_of(feature)}: {format_value(v, 'numeric')}"
    return f"{text} ({direction})"
