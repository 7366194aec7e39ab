"""The logistic-regression baseline every flat-mode model is measured against.

Contract: ``LogisticBaseline(features)`` stores the feature kinds; :meth:`fit` types the rows
like the model does (:func:`features._flat.coerce_features`) and fits scikit-learn's
``LogisticRegression`` (L2, ``C=1.0``, lbfgs) on: categoricals one-hot encoded (missing is a
category of its own; values not seen in training encode as all zeros), numeric and boolean
columns with missing values replaced by the training median, standardised with the
training mean and deviation, plus a 0/1 missing-indicator column for every column that had
missing values in training. :meth:`predict_proba` returns P(won), one per row, in order. It is a
deliberately plain, well-regularised reference: if LightGBM cannot beat it, the data (or its
drift) is the story, not the tuning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features._contract import ColumnKind
from leadscore.features._errors import ModelError
from leadscore.features._flat import coerce_features
from numpy.typing import ArrayLike, NDArray
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

_MISSING = "(missing)"


class LogisticBaseline:
    """One-hot + standardised logistic regression (see the module docstring)."""

    def __init__(self, features: Mapping[str, ColumnKind], C: float = 1.0) -> None:
        self.features = dict(features)
        self.C = C

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        typed = coerce_features(X, self.features)
        out: dict[str, Any] = {}
        for name, kind in self.features.items():
            if kind == "categorical":
                values = typed[name].astype(object)
                out[name] = values.where(values.notna(), _MISSING)
            else:
                out[name] = typed[name].astype("float64")
        return pd.DataFrame(out, index=X.index, columns=list(self.features))

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
        categorical = [n for n, k in self.features.items() if k == "categorical"]
        numeric = [n for n, k in self.features.items() if k != "categorical"]
        transformers: list[tuple[str, Any, list[str]]] = []
        if categorical:
            transformers.append(
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)
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
