"""The logistic-regression baseline every model is measured against.

Contract: ``LogisticBaseline(spec)`` fits scikit-learn's ``LogisticRegression`` (L2,
``C=1.0``, lbfgs) on the same columns as the LightGBM model of ``spec``, with the same
derived attributes: categoricals one-hot encoded (missing is a category of its own; values
not seen in training encode as all zeros), numeric columns with missing values replaced by
the training median, standardised, plus a 0/1 missing-indicator column for every column that
had missing values in training. Infinite or huge values (beyond 1e12 in size) are treated
as missing. :meth:`score` returns P(won), one per row, in order; :meth:`explain` the largest
terms of the linear predictor per row. It is a deliberately plain, well-regularised
reference: if LightGBM cannot beat it, the data (or its drift) is the story, not the tuning.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from leadscore.features._attributes import LeadColumns, derive_columns
from leadscore.features._errors import ModelError
from leadscore.features._spec import FeatureSpec
from leadscore.models._lead_model import Reason, describe
from numpy.typing import ArrayLike, NDArray
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

_MISSING = "(missing)"
_HUGE = 1e12


class LogisticBaseline:
    """One-hot + standardised logistic regression (see the module docstring)."""

    calibrated = True

    def __init__(self, spec: FeatureSpec, C: float = 1.0) -> None:
        self.spec = spec
        self.C = C
        self.name = "baseline"

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        columns = LeadColumns.of(X)
        wanted = [d for d in self.spec.derived_features() if d not in columns]
        if wanted:
            columns = columns.with_columns(derive_columns(columns, wanted))
        counts = self.spec.count_features()
        out: dict[str, Any] = {}
        n = columns.n_rows
        for name in self.spec.categorical_features():
            if name in columns:
                values = pd.Series(columns.coded(name).array(), dtype=object)
                out[name] = values.where(values.notna(), _MISSING).astype(str)
            else:
                out[name] = pd.Series([_MISSING] * n, dtype=object)
        for name in self.spec.numeric_features():
            if name in columns:
                floats = columns.floats(name).copy()
                floats[~np.isfinite(floats) | (np.abs(floats) > _HUGE)] = np.nan
            else:
                floats = np.zeros(n) if name in counts else np.full(n, np.nan)
            out[name] = np.nan_to_num(floats, nan=0.0) if name in counts else floats
        return pd.DataFrame(out, columns=list(self.spec.model_features()))

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> LogisticBaseline:
        """Fit on ``(X, y)``; raises :class:`ModelError` without both classes."""
        labels = np.asarray(y, dtype="float64")
        if len(labels) != len(X):
            raise ModelError(f"X has {len(X)} rows but y has {len(labels)}")
        if labels.sum() == 0 or labels.sum() == len(labels):
            raise ModelError(
                f"the baseline needs won and lost rows; got {int(labels.sum())} won in "
                f"{len(labels)}"
            )
        categorical = list(self.spec.categorical_features())
        numeric = list(self.spec.numeric_features())
        transformers: list[tuple[str, Any, list[str]]] = []
        if categorical:
            transformers.append(
                ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=5),
                 categorical)
            )
        if numeric:
            # keep_empty_features: a column missing in every training row stays a column
            imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
            transformers.append(("numeric", make_pipeline(imputer, StandardScaler()), numeric))
        if not transformers:
            raise ModelError("the baseline needs at least one feature column, got none")
        self.pipeline_: Pipeline = make_pipeline(
            ColumnTransformer(transformers),
            LogisticRegression(C=self.C, max_iter=2000),
        )
        self.pipeline_.fit(self._design(X), labels)
        return self

    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """P(won) per row of ``X``, in order."""
        if not hasattr(self, "pipeline_"):
            raise ModelError("LogisticBaseline is not fitted; call fit(X, y) first")
        if len(X) == 0:
            return np.empty(0, dtype="float64")
        return np.asarray(self.pipeline_.predict_proba(self._design(X))[:, 1], dtype="float64")

    def score(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """The baseline's native score: its probability."""
        return self.predict_proba(X)

    def explain(self, X: pd.DataFrame, top_n: int = 3) -> list[list[Reason]]:
        """Per row, the ``top_n`` largest terms of the linear predictor, summed per input
        column (a one-hot column's terms belong to its categorical column)."""
        design = self._design(X)
        transform, lr = self.pipeline_[0], self.pipeline_[-1]
        matrix = np.asarray(transform.transform(design).toarray()
                            if hasattr(transform.transform(design), "toarray")
                            else transform.transform(design))  # fmt: skip
        terms = matrix * lr.coef_[0]
        owners = _owners(transform.get_feature_names_out(), list(design.columns))
        out: list[list[Reason]] = []
        for i in range(len(design)):
            by_col: dict[str, float] = {}
            for j, owner in enumerate(owners):
                by_col[owner] = by_col.get(owner, 0.0) + float(terms[i, j])
            ranked = sorted(by_col.items(), key=lambda kv: -abs(kv[1]))[:top_n]
            out.append([Reason(c, design.iloc[i][c], v, describe(c, design.iloc[i][c], v, self.spec))
                        for c, v in ranked if v != 0.0])  # fmt: skip
        return out


def _owners(names: Any, columns: list[str]) -> list[str]:
    """The input column each transformed column comes from."""
    out = []
    for name in map(str, names):
        bare = name.split("__", 1)[-1]
        if bare.startswith("missingindicator_"):
            bare = bare[len("missingindicator_"):]
        match = max((c for c in columns if bare == c or bare.startswith(c + "_")),
                    key=len, default=bare)  # fmt: skip
        out.append(match)
    return out
