"""FlatScoringModel: the MLflow pyfunc of flat mode, and the bundle it carries.

Contract:

* :class:`FlatScoringBundle` holds a fitted :class:`~models._flat_model.FlatModel`, the tier
  cut-offs, the contract's id and rule-score column names and metadata. ``score(rows)``
  returns a new frame, one row per input row in input order, with the id column (named as
  in the contract, when the rows have it) followed by :data:`FLAT_SCORE_COLUMNS`:
  ``probability`` (calibrated), ``model_tier`` (A-D), ``reasons`` (the top factors joined by
  ``"; "``; empty when reasons are turned off) and, only when the contract names a rule
  score, ``rule_score`` (the rows' own score as a number; missing when the rows lack it).
* Tiers: A is the top :data:`TIER_SHARES` ``A`` share (10%) of the validation rows by
  probability, B the next 20%, C the next 30%, D the rest; cut-offs are probabilities, so
  later leads fall into tiers by the same yardstick.
* :class:`FlatScoringModel` (``mlflow.pyfunc.PythonModel``) loads the bundle from the
  ``bundle`` artifact (joblib) and calls ``score``. Input: raw export rows or typed rows,
  every column optional and of any type (categories are encoded inside with the
  training-time lists, so MLflow's schema never sees pandas ``category`` columns). Parameter
  ``reasons`` (default true) turns reasons off for speed. The code is the installed
  ``leadscore`` package; the artifact pickles fitted state only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from leadscore.features._flat import coerce_features
from leadscore.models._flat_model import FlatModel
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
from mlflow.types.schema import AnyType
from numpy.typing import NDArray

BUNDLE_ARTIFACT = "bundle"
TIERS: tuple[str, ...] = ("A", "B", "C", "D")
TIER_SHARES: dict[str, float] = {"A": 0.10, "B": 0.20, "C": 0.30}
"""Share of the validation rows in tiers A, B and C (D holds the remaining 40%)."""
FLAT_SCORE_COLUMNS: tuple[str, ...] = ("probability", "model_tier", "reasons", "rule_score")
"""Output columns after the id; ``rule_score`` only when the contract names one."""


def tier_thresholds_by_share(
    probability: NDArray[np.float64], shares: dict[str, float] = TIER_SHARES
) -> dict[str, float]:
    """Minimum probability of tiers A, B, C such that, on ``probability`` (the validation
    rows), A holds the top ``shares["A"]`` of rows, B the next ``shares["B"]``, C the next
    ``shares["C"]`` (rounded up; a tie group straddling a cut goes to the higher tier).
    Non-increasing; ``inf`` for a tier that would hold no row."""
    ranked = np.sort(np.asarray(probability, dtype="float64"))[::-1]
    thresholds: dict[str, float] = {}
    cumulative = 0.0
    for tier in TIERS[:3]:
        cumulative += shares[tier]
        k = min(math.ceil(round(cumulative * len(ranked), 9)), len(ranked))
        thresholds[tier] = float(ranked[k - 1]) if k > 0 else math.inf
    thresholds["B"] = min(thresholds["B"], thresholds["A"])
    thresholds["C"] = min(thresholds["C"], thresholds["B"])
    return thresholds


@dataclass
class FlatScoringBundle:
    """Everything needed to score flat-table rows (see the module docstring)."""

    model: FlatModel
    tier_thresholds: dict[str, float]
    id_column: str | None = None
    rule_score_column: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def tier(self, probability: NDArray[np.float64]) -> NDArray[np.object_]:
        """Tier A-D of each probability: the best tier whose minimum it meets."""
        p = np.asarray(probability, dtype="float64")
        cuts = self.tier_thresholds
        return np.select(
            [p >= cuts["A"], p >= cuts["B"], p >= cuts["C"]], ["A", "B", "C"], "D"
        ).astype(object)

    def score(
        self, rows: pd.DataFrame, *, reasons: bool = True, top_reasons: int = 3
    ) -> pd.DataFrame:
        """Score ``rows`` (see the module docstring); ``rows`` is not modified."""
        model = self.model
        typed = model.typed(rows)
        matrix = model.encode_typed(typed)
        probability = model.predict_proba_encoded(matrix)
        out = pd.DataFrame(index=range(len(rows)))
        if self.id_column is not None and self.id_column in rows.columns:
            out[self.id_column] = rows[self.id_column].to_numpy()
        out["probability"] = probability
        out["model_tier"] = self.tier(probability)
        if reasons and len(rows):
            explained = model.explain_typed(typed, matrix, top_reasons)
            out["reasons"] = ["; ".join(r.text for r in rs) for rs in explained]
        else:
            out["reasons"] = ""
        if self.rule_score_column is not None:
            column = self.rule_score_column
            scores = coerce_features(rows, {column: "numeric"})[column]
            out["rule_score"] = scores.to_numpy(dtype="float64", na_value=np.nan)
        return out

    @property
    def score_columns(self) -> list[str]:
        """The output columns after the id."""
        return [c for c in FLAT_SCORE_COLUMNS if c != "rule_score" or self.rule_score_column]


class FlatScoringModel(PythonModel):
    """MLflow pyfunc wrapping a :class:`FlatScoringBundle` saved with joblib as an artifact."""

    def load_context(self, context: Any) -> None:
        """Load the bundle from the model's artifacts."""
        self.bundle: FlatScoringBundle = joblib.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score rows; see the module docstring."""
        reasons = bool((params or {}).get("reasons", True))
        return self.bundle.score(pd.DataFrame(model_input), reasons=reasons)


def flat_signature(bundle: FlatScoringBundle) -> ModelSignature:
    """Every input column optional and of any type (see the module docstring); the outputs;
    the ``reasons`` parameter."""
    names = [bundle.id_column, *bundle.model.features, bundle.rule_score_column]
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec(AnyType(), name, required=False) for name in dict.fromkeys(names) if name
    ]
    outputs: list[ColSpec | TensorSpec] = []
    if bundle.id_column is not None:
        outputs.append(ColSpec(AnyType(), bundle.id_column, required=False))
    outputs += [
        ColSpec("string" if c in ("model_tier", "reasons") else "double", c)
        for c in bundle.score_columns
    ]
    params = ParamSchema([ParamSpec("reasons", "boolean", True)])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def flat_model_input(rows: pd.DataFrame, bundle: FlatScoringBundle) -> pd.DataFrame:
    """The columns of ``rows`` the pyfunc reads, as plain objects (text columns with None for
    missing), a form MLflow accepts as an input example or a request."""
    names = [bundle.id_column, *bundle.model.features, bundle.rule_score_column]
    keep = [c for c in dict.fromkeys(names) if c and c in rows.columns]
    out = rows[keep].reset_index(drop=True).copy()
    for column in keep:
        if not pd.api.types.is_numeric_dtype(out[column]):
            values = out[column].astype(object)
            out[column] = values.where(values.notna(), None)
    return out


def save_flat_bundle(bundle: FlatScoringBundle, directory: Path) -> Path:
    """Write the bundle with joblib into ``directory``; returns the file path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "flat_bundle.joblib"
    joblib.dump(bundle, path)
    return path
