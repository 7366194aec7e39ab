"""FlatModel: calibrated LightGBM on the columns of a flat CRM export, with readable reasons.

Contract:

* ``FlatModel(features)`` takes the feature columns and their kinds (``FlatData.features``:
  ``numeric``, ``boolean`` or ``categorical``); it only stores them. Input rows are typed
  with :func:`features._flat.coerce_features`, so raw export rows (text as read from a CSV)
  and typed rows (``FlatData.frame``) score the same; a feature column the rows lack is
  missing in every row; other columns are ignored. Inputs are never modified.
* Categoricals use LightGBM's native handling with the category list seen in training;
  missing is a category of its own when training saw it; a value not seen in training is
  scored as missing (LightGBM's "unknown" branch), never rejected.
* :meth:`FlatModel.fit` early-stops on one half of the validation rows and fits Platt
  calibration (a logistic regression on the log-odds) on the other half, so neither step
  sees its own data twice. The halves alternate row by row, won and lost rows separately,
  in the order given: pass validation rows in time order and both halves span the window.
* :meth:`FlatModel.predict_proba` returns calibrated probabilities of a win, one per row,
  in input order. :meth:`FlatModel.explain` returns each row's ``top_n`` factors from
  LightGBM's exact contributions (``pred_contrib``) as :class:`~models._lead_model.Reason`
  with phrases such as ``"job = student raises the odds"`` or ``"euribor3m = 4.857 lowers
  the odds"``.
* A fitted model pickles (the booster travels as its model text).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from leadscore.features._contract import ColumnKind
from leadscore.features._errors import ConfigError, ModelError
from leadscore.features._flat import FEATURE_KINDS, coerce_features
from leadscore.models._lead_model import Reason
from numpy.typing import ArrayLike, NDArray
from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)

SMALL_DATA_ROWS = 100_000
"""Training on fewer rows than this uses one thread, whatever ``n_jobs`` says."""
MISSING_CATEGORY = "(missing)"
"""The category missing values share (when training saw missing values in the column)."""


@dataclass(frozen=True)
class FlatModelParams:
    """Hyper-parameters; the defaults suit a few thousand to a few hundred thousand rows."""

    n_estimators: int = 2000
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_child_samples: int = 40
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    early_stopping_rounds: int = 100
    cat_smooth: float = 10.0
    min_data_per_group: int = 30
    seed: int = 0
    n_jobs: int = 2

    def __post_init__(self) -> None:
        for name in ("n_estimators", "num_leaves", "min_child_samples", "early_stopping_rounds"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value!r}")
        if not 0 < self.learning_rate <= 1:
            raise ConfigError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")


def _labels(y: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(y, dtype="float64")
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise ModelError(f"{name} must hold only 0 and 1, got {np.unique(arr[bad])[:5].tolist()}")
    return arr


def validation_halves(y: NDArray[np.float64]) -> NDArray[np.bool_]:
    """True for the early-stopping half, False for the calibration half: rows alternate,
    won and lost rows separately, in the order given (each half gets half of each class)."""
    stop = np.zeros(len(y), dtype=bool)
    for cls in (0.0, 1.0):
        rows = np.flatnonzero(y == cls)
        stop[rows[::2]] = True
    return stop


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    clipped = np.clip(p, 1e-9, 1 - 1e-9)
    return np.asarray(np.log(clipped / (1 - clipped)))


class FlatModel:
    """Calibrated LightGBM on flat-table columns. See the module docstring for the contract."""

    def __init__(
        self, features: Mapping[str, ColumnKind], params: FlatModelParams | None = None
    ) -> None:
        self.features = dict(features)
        self.params = params or FlatModelParams()

    # -- encoding ----------------------------------------------------------------------
    def typed(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model's feature columns of ``X``, typed (a new frame; see the module docstring)."""
        return coerce_features(X, self.features)

    def encode(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """The matrix LightGBM sees: one column per feature, categoricals as training-time
        codes (NaN for missing-not-seen and unseen values)."""
        self._check_fitted()
        return self.encode_typed(self.typed(X))

    def encode_typed(self, typed: pd.DataFrame) -> NDArray[np.float64]:
        """As :meth:`encode`, on rows already typed by :meth:`typed`."""
        out = np.empty((len(typed), len(self.feature_names_)), dtype="float64", order="F")
        for j, name in enumerate(self.feature_names_):
            values = typed[name]
            if self.features[name] == "categorical":
                lookup = self.categories_[name]
                codes = values.map(lookup).astype("float64")
                missing_code = lookup.get(MISSING_CATEGORY, np.nan)
                out[:, j] = np.where(values.isna().to_numpy(), missing_code, codes.to_numpy())
            else:
                out[:, j] = values.to_numpy(dtype="float64", na_value=np.nan)
        return out

    # -- fitting -----------------------------------------------------------------------
    def fit(
        self, X: pd.DataFrame, y: ArrayLike, *, validation: tuple[pd.DataFrame, ArrayLike]
    ) -> FlatModel:
        """Fit on ``(X, y)``; early-stop and calibrate on the two halves of ``validation``.

        Raises :class:`ModelError` when a label is not 0/1, a part has a single class, a
        feature kind is unknown, or a validation half has no won row.
        """
        bad = {c: k for c, k in self.features.items() if k not in FEATURE_KINDS}
        if bad:
            raise ModelError(f"feature kinds must be one of {list(FEATURE_KINDS)}, got {bad}")
        if not self.features:
            raise ModelError("FlatModel needs at least one feature column, got none")
        y_train = _labels(y, "y")
        X_valid, y_valid_raw = validation
        y_valid = _labels(y_valid_raw, "validation labels")
        if len(X) != len(y_train):
            raise ModelError(f"X has {len(X)} rows but y has {len(y_train)}")
        if len(X_valid) != len(y_valid):
            raise ModelError(f"validation X has {len(X_valid)} rows but y has {len(y_valid)}")
        if y_train.sum() == 0 or y_train.sum() == len(y_train):
            raise ModelError(
                f"training labels have a single class ({int(y_train.sum())} won in "
                f"{len(y_train)} rows); need both won and lost leads"
            )
        stop = validation_halves(y_valid)
        if y_valid[stop].sum() == 0 or y_valid[~stop].sum() == 0:
            raise ModelError(
                f"the validation rows need a won lead in each half (early stopping and "
                f"calibration); they have {int(y_valid.sum())} won in {len(y_valid)} rows"
            )
        self.feature_names_ = list(self.features)
        typed = self.typed(X)
        self.categories_: dict[str, dict[str, int]] = {}
        for name, kind in self.features.items():
            if kind != "categorical":
                continue
            values = typed[name]
            seen = sorted(str(v) for v in values.dropna().unique())
            if values.isna().any():
                seen.append(MISSING_CATEGORY)
            self.categories_[name] = {v: i for i, v in enumerate(seen)}
        X_tr = self.encode_typed(typed)
        X_va = self.encode_typed(self.typed(X_valid))
        p = self.params
        lgb_params: dict[str, Any] = {
            "objective": "binary",
            "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves,
            "min_child_samples": p.min_child_samples,
            "feature_fraction": p.feature_fraction,
            "bagging_fraction": p.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": p.lambda_l2,
            "cat_smooth": p.cat_smooth,
            "min_data_per_group": p.min_data_per_group,
            "seed": p.seed,
            "deterministic": True,
            # Below ~100k rows one thread is faster: on 2 busy cores OpenMP's waiting costs
            # more than the work (25k rows x 300 trees: 0.6 s on 1 thread, 9 s on 2).
            "num_threads": 1 if len(X) < SMALL_DATA_ROWS else p.n_jobs,
            "verbosity": -1,
        }
        categorical = [j for j, n in enumerate(self.feature_names_) if n in self.categories_]
        train_set = lgb.Dataset(
            X_tr,
            y_train,
            feature_name=[f"f{j}" for j in range(len(self.feature_names_))],
            categorical_feature=categorical,
            free_raw_data=False,
        )
        stop_set = lgb.Dataset(X_va[stop], y_valid[stop], reference=train_set)
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
        calibrator = LogisticRegression(C=1e6)
        calibrator.fit(_logit(self._raw_probability(X_va[~stop])).reshape(-1, 1), y_valid[~stop])
        self.calibration_ = (float(calibrator.coef_[0, 0]), float(calibrator.intercept_[0]))
        self.n_train_rows_ = len(X_tr)
        self.n_validation_rows_ = len(X_va)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise ModelError("FlatModel is not fitted; call fit(X, y, validation=...) first")

    def _raw_probability(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        threads = 1 if len(matrix) < SMALL_DATA_ROWS else self.params.n_jobs
        out = self.booster_.predict(matrix, num_iteration=self.best_iteration_, num_threads=threads)
        return np.asarray(out, dtype="float64")

    # -- prediction --------------------------------------------------------------------
    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Calibrated probability of a win, one per row of ``X``, in order."""
        return self.predict_proba_encoded(self.encode(X))

    def predict_proba_encoded(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """As :meth:`predict_proba`, on a matrix from :meth:`encode`."""
        self._check_fitted()
        slope, intercept = self.calibration_
        z = slope * _logit(self._raw_probability(matrix)) + intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype="float64")

    def score(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """The model's native score: the calibrated probability."""
        return self.predict_proba(X)

    def explain(self, X: pd.DataFrame, top_n: int = 3) -> list[list[Reason]]:
        """Per row, the ``top_n`` features with the largest absolute contribution (log-odds,
        exact TreeSHAP), largest first; features contributing exactly 0 are left out."""
        self._check_fitted()
        typed = self.typed(X)
        return self.explain_typed(typed, self.encode_typed(typed), top_n)

    def explain_typed(
        self, typed: pd.DataFrame, matrix: NDArray[np.float64], top_n: int = 3
    ) -> list[list[Reason]]:
        """As :meth:`explain`, given :meth:`typed` rows and their :meth:`encode` matrix."""
        self._check_fitted()
        if top_n <= 0:
            raise ConfigError(f"top_n must be positive, got {top_n!r}")
        threads = 1 if len(matrix) < SMALL_DATA_ROWS else self.params.n_jobs
        contrib = np.asarray(
            self.booster_.predict(
                matrix, num_iteration=self.best_iteration_, pred_contrib=True, num_threads=threads
            )
        )[:, : len(self.feature_names_)]
        order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_n]
        columns = [typed[name].to_numpy(dtype=object) for name in self.feature_names_]
        out: list[list[Reason]] = []
        for i in range(len(matrix)):
            reasons = []
            for j in order[i]:
                c = float(contrib[i, j])
                if c == 0.0:
                    continue
                name = self.feature_names_[j]
                value = _plain(columns[j][i])
                unseen = (
                    name in self.categories_
                    and value is not None
                    and str(value) not in self.categories_[name]
                )
                text = describe_flat(name, self.features[name], value, c, unseen=unseen)
                reasons.append(Reason(name, value, c, text))
            out.append(reasons)
        return out

    def feature_importance(self) -> pd.Series:
        """Total gain per feature, largest first."""
        self._check_fitted()
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.feature_names_).sort_values(ascending=False)

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters as a flat dict (for MLflow)."""
        return asdict(self.params)


def _plain(value: object) -> object:
    """A cell as a plain Python value; missing values as None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def format_value(value: object, kind: str) -> str:
    """A feature value as a reason shows it: ``yes``/``no`` for booleans, numbers with up to
    four significant digits (whole numbers in full), text as it is, ``(missing)``."""
    if value is None:
        return MISSING_CATEGORY
    if kind == "boolean":
        return "yes" if float(value) == 1.0 else "no"  # type: ignore[arg-type]
    if kind == "numeric":
        number = float(value)  # type: ignore[arg-type]
        if number.is_integer():
            return f"{number:.0f}"
        return np.format_float_positional(number, precision=4, fractional=False, trim="-")
    return str(value)


def describe_flat(
    feature: str, kind: str, value: object, contribution: float, *, unseen: bool = False
) -> str:
    """One reason as a phrase, e.g. ``"job = student raises the odds"``; an unseen category
    says so (``"job = astronaut (not seen in training) lowers the odds"``)."""
    direction = "raises" if contribution > 0 else "lowers"
    shown = format_value(value, kind)
    if unseen:
        shown += " (not seen in training)"
    return f"{feature} = {shown} {direction} the odds"
