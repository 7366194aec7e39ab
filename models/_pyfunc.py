"""LeadScoringModel: the MLflow pyfunc that returns both scores side by side.

Contract: ``predict(context, leads)`` takes raw lead rows (strings for categorical
attributes, numbers for counts; any missing engagement column counts as no events) and
returns one row per lead with ``contact_id`` (when given) and :data:`SCORE_COLUMNS`.
Categories are encoded inside with the training-time lists, so MLflow's schema never sees
pandas ``category`` columns. The model's code is the installed ``leadscore`` package (the
bundle pickles fitted state, not code): load it where leadscore is installed, as with any
scikit-learn model. Parameter ``reasons`` (default true) turns the model's
per-lead reasons off for speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from leadscore.features import ENGAGEMENT_FEATURE_NAMES
from leadscore.features._definitions import AGE_FEATURE
from leadscore.features._point_in_time import NUMERIC_ATTRIBUTES, STRING_ATTRIBUTES
from leadscore.models._scoring import SCORE_COLUMNS, ScoringBundle, score_leads
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
from mlflow.types.schema import AnyType

BUNDLE_ARTIFACT = "bundle"


class LeadScoringModel(PythonModel):
    """MLflow pyfunc wrapping a :class:`ScoringBundle` (saved with joblib as an artifact)."""

    def load_context(self, context: Any) -> None:
        """Load the bundle from the model's artifacts."""
        self.bundle: ScoringBundle = joblib.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score lead rows; see the module docstring."""
        reasons = bool((params or {}).get("reasons", True))
        frame = pd.DataFrame(model_input)
        scored = score_leads(self.bundle, frame, reasons=reasons)
        if "contact_id" in frame.columns:
            scored.insert(0, "contact_id", frame["contact_id"].to_numpy())
        return scored


def lead_input_schema() -> Schema:
    """The pyfunc input schema: every column optional; categoricals are strings, numbers
    may be int, float or bool."""
    cols: list[ColSpec | TensorSpec] = [ColSpec("string", "contact_id", required=False)]
    cols += [ColSpec("string", c, required=False) for c in STRING_ATTRIBUTES]
    # Numbers are declared as "any": MLflow refuses to widen int64 to double, and callers
    # send counts as integers, flags as booleans. predict() casts them itself.
    numeric = (*NUMERIC_ATTRIBUTES, AGE_FEATURE, *ENGAGEMENT_FEATURE_NAMES)
    cols += [ColSpec(AnyType(), c, required=False) for c in numeric]
    return Schema(cols)


def lead_signature() -> ModelSignature:
    """Input schema, output schema and the ``reasons`` parameter."""
    out_cols: list[ColSpec | TensorSpec] = [ColSpec("string", "contact_id", required=False)]
    out_cols += [
        ColSpec("double" if c in ("probability", "rule_score") else "string", c)
        for c in SCORE_COLUMNS
    ]
    outputs = Schema(out_cols)
    params = ParamSchema([ParamSpec("reasons", "boolean", True)])
    return ModelSignature(inputs=lead_input_schema(), outputs=outputs, params=params)


def to_model_input(leads: pd.DataFrame) -> pd.DataFrame:
    """Cast lead rows to the pyfunc input schema (ids and categoricals as strings, the rest
    as doubles); columns outside the schema are dropped."""
    names = [c.name for c in lead_input_schema().inputs]
    out = pd.DataFrame(index=leads.index)
    for col in names:
        if col not in leads.columns:
            continue
        if col == "contact_id" or col in STRING_ATTRIBUTES:
            values = leads[col].astype("object")
            out[col] = values.where(values.isna(), values.astype(str))
            out[col] = out[col].astype("object")
        else:
            out[col] = pd.to_numeric(leads[col], errors="coerce").astype("float64")
    return out


def save_bundle(bundle: ScoringBundle, directory: Path) -> Path:
    """Write the bundle with joblib into ``directory``; returns the file path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bundle.joblib"
    joblib.dump(bundle, path)
    return path
