"""LeadScoringModel: the MLflow pyfunc that returns both scores side by side.

Contract: ``predict(context, leads)`` takes raw lead rows (any id type; strings for
categorical attributes, numbers for counts; any missing column is unknown, a missing
engagement count is no events; columns the model does not read are ignored, so ``SELECT *
FROM contacts`` works) and returns one row per lead with ``contact_id`` (when given, as
given) and :data:`SCORE_COLUMNS`. Categories are encoded inside with the training-time
lists, so MLflow's schema never sees pandas ``category`` columns. Parameter ``reasons``
(default true) turns the model's per-lead reasons off for speed.

The model is logged *as code* (MLflow's models-from-code: :data:`PYFUNC_CODE_PATH`), its
artifact a :class:`~models._scoring.ScoringBundle` folder of LightGBM text and versioned
JSON: nothing of ours is pickled, so renaming a module never breaks a registered model.
It loads wherever leadscore is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import DataValidationError
from leadscore.features._spec import FeatureSpec, demo_spec
from leadscore.models._scoring import SCORE_COLUMNS, ScoringBundle, score_leads
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
from mlflow.types.schema import AnyType

BUNDLE_ARTIFACT = "bundle"
PYFUNC_CODE_PATH = Path(__file__).with_name("_pyfunc_code.py")
"""The models-from-code script MLflow logs with each model (it builds a LeadScoringModel)."""


class LeadScoringModel(PythonModel):
    """MLflow pyfunc over a :class:`ScoringBundle` folder (the ``bundle`` artifact)."""

    def load_context(self, context: Any) -> None:
        """Load the bundle from the model's artifacts."""
        self.bundle: ScoringBundle = ScoringBundle.load(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score lead rows; see the module docstring."""
        reasons = bool((params or {}).get("reasons", True))
        frame = to_model_input(pd.DataFrame(model_input), self.bundle.spec)
        scored = score_leads(self.bundle, frame, reasons=reasons)
        if "contact_id" in frame.columns:
            scored.insert(0, "contact_id", frame["contact_id"].to_numpy())
        return scored


def lead_input_schema(spec: FeatureSpec) -> Schema:
    """The pyfunc input schema of ``spec``: every column optional; the id and numbers as
    "any" (MLflow refuses to narrow int64 ids to strings or widen ints to doubles: the
    model casts them itself), categorical attributes as strings."""
    text = spec.text_columns()
    cols: list[ColSpec | TensorSpec] = [ColSpec(AnyType(), "contact_id", required=False)]
    cols += [ColSpec("string" if c in text else AnyType(), c, required=False)
             for c in spec.input_columns()]  # fmt: skip
    return Schema(cols)


def lead_signature(spec: FeatureSpec) -> ModelSignature:
    """Input schema, output schema and the ``reasons`` parameter."""
    out_cols: list[ColSpec | TensorSpec] = [ColSpec(AnyType(), "contact_id", required=False)]
    out_cols += [
        ColSpec("double" if c in ("probability", "rule_score") else "string", c)
        for c in SCORE_COLUMNS
    ]
    params = ParamSchema([ParamSpec("reasons", "boolean", True)])
    return ModelSignature(inputs=lead_input_schema(spec), outputs=Schema(out_cols), params=params)


def to_model_input(leads: pd.DataFrame, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Lead rows cast to what the scorers read: ``contact_id`` as given, categorical
    attributes as text (missing stays missing), every other input column as float64
    (booleans 1.0/0.0); columns the spec does not read are dropped (``spec`` default: the
    demo's). A new frame; ``leads`` is not changed.

    A value that is there but cannot be read is a DataValidationError naming the column and
    the values, as batch scoring rejects it (never scored as missing): a yes/no attribute
    holding anything but true/false, yes/no or 1/0 (``"maybe"``), a number column holding
    text that is not a number, a company size that is negative or not finite."""
    spec = spec or demo_spec()
    text = spec.text_columns()
    flags = {a.name for a in spec.attributes if a.kind == "boolean"}
    sizes = {"company_size"} | {a.name for a in spec.attributes if a.role == "company_size"}
    out = pd.DataFrame(index=leads.index)
    if "contact_id" in leads.columns:
        out["contact_id"] = leads["contact_id"]
    for col in spec.input_columns():
        if col not in leads.columns:
            continue
        values = leads[col]
        if col in text:
            obj = values.astype("object")
            out[col] = obj.where(obj.isna(), obj.astype(str)).astype("object")
            continue
        if values.dtype == bool or str(values.dtype) == "boolean":
            numbers = values.astype("float64")
        elif col in flags and not pd.api.types.is_numeric_dtype(values):
            tokens = values.map(lambda v: _FLAG_TOKENS.get(str(v).strip().lower(), v)
                                if isinstance(v, str) else v)  # fmt: skip
            numbers = pd.to_numeric(tokens, errors="coerce").astype("float64")
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        unread = values.notna() & numbers.isna()
        if col in flags:
            unread |= numbers.notna() & ~numbers.isin((0.0, 1.0))
        if col in sizes:  # as batch scoring refuses it (serving._batch.unscorable)
            unread |= numbers.notna() & ~(np.isfinite(numbers) & (numbers >= 0))
        if unread.any():
            problem = (f"{col} must be true/false (1/0)" if col in flags
                       else f"{col} must be a non-negative number of employees" if col in sizes
                       else f"{col} must be a number")  # fmt: skip
            raise DataValidationError("lead rows", col, problem, count=int(unread.sum()),
                                      examples=[str(v) for v in pd.unique(values[unread])])  # fmt: skip
        out[col] = numbers
    return out


# Text a yes/no attribute may hold (besides booleans and the numbers 1 and 0).
_FLAG_TOKENS = {"true": 1.0, "yes": 1.0, "y": 1.0, "t": 1.0,
                "false": 0.0, "no": 0.0, "n": 0.0, "f": 0.0}  # fmt: skip
