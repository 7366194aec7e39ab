"""Request and response bodies of the HTTP service (pydantic; unknown fields are errors)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from leadscore.features._spec import FeatureSpec, demo_spec
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

_STRICT = ConfigDict(extra="forbid")


def _naive_utc(ts: datetime) -> datetime:
    """Aware timestamps to naive UTC; the warehouse and the features are in naive UTC."""
    if ts.tzinfo is None:
        return ts
    try:
        return ts.astimezone(UTC).replace(tzinfo=None)
    except OverflowError as exc:
        raise ValueError("timestamp is out of range once converted to UTC") from exc


UtcDatetime = Annotated[datetime, AfterValidator(_naive_utc)]


class EventIn(BaseModel):
    """One engagement event of a lead."""

    model_config = _STRICT
    occurred_at: UtcDatetime
    event_type: str = Field(min_length=1, max_length=100)


_LIMITS = {"company_size": (0.0, 1e8)}


def _attribute_field(kind: str, name: str, label: str) -> tuple[Any, Any]:
    desc = label if label == name else f"{label} (the team's column)"
    if kind == "categorical":
        return (str | None, Field(default=None, max_length=500, description=desc))
    if kind == "boolean":
        return (bool | None, Field(default=None, description=desc))
    lo, hi = _LIMITS.get(name, (-1e12, 1e12))
    return (float | None, Field(default=None, ge=lo, le=hi, allow_inf_nan=False,
                                description=desc))  # fmt: skip


@lru_cache(maxsize=16)
def request_models(spec: FeatureSpec) -> tuple[type[BaseModel], type[BaseModel]]:
    """The request body models of a model's spec: ``(LeadIn, ScoreRequest)``. A lead has
    ``lead_id`` (text or a number), ``created_at`` (required with events), every attribute
    of the spec as an optional field (its own column name; the team's name in the
    description), and either raw ``events`` or precomputed ``engagement`` counts named as
    the spec's engagement features."""
    engagement: type[BaseModel] = create_model(
        "EngagementIn",
        __config__=_STRICT,
        __doc__="Precomputed engagement features; a missing count means no such events.",
        **{
            name: (float | None, Field(default=None, ge=0, le=1e9, allow_inf_nan=False))
            for name in spec.engagement_names()
        },  # type: ignore[call-overload]
    )
    fields: dict[str, Any] = {
        "lead_id": (str | int, Field(description="Your id for the lead; echoed back.")),
        "created_at": (UtcDatetime | None, Field(
            default=None, description="Required with events; else gives days_since_created.")),
        "days_since_created": (float | None, Field(default=None, ge=0, le=1e6,
                                                   allow_inf_nan=False)),
    }  # fmt: skip
    for a in spec.attributes:
        fields[a.name] = _attribute_field(a.kind, a.name, a.label)
    if spec.existing_score is not None:
        fields[spec.existing_score] = (float | None, Field(default=None, allow_inf_nan=False))
    fields["events"] = (list[EventIn] | None, Field(default=None, max_length=100_000))
    fields["engagement"] = (engagement | None, None)
    validators: dict[str, Any] = {"one_form": model_validator(mode="after")(_one_engagement_form)}
    lead_in: type[BaseModel] = create_model(
        "LeadIn", __config__=_STRICT, __validators__=validators,
        __doc__="A lead: contact attributes plus either raw ``events`` or precomputed "
                "``engagement``.", **fields)  # fmt: skip
    request: type[BaseModel] = create_model(
        "ScoreRequest", __config__=_STRICT,
        __doc__="One or many leads, scored as of ``as_of`` (default: now, UTC).",
        leads=(list[lead_in], Field(min_length=1)),  # type: ignore[valid-type]
        as_of=(UtcDatetime | None, None),
        reasons=(bool, Field(default=True, description="Include the model's top reasons.")),
    )  # fmt: skip
    return lead_in, request


def _one_engagement_form(lead: Any) -> Any:
    if lead.events is not None and lead.engagement is not None:
        raise ValueError("give either 'events' or 'engagement', not both")
    if lead.events is not None and lead.created_at is None:
        raise ValueError("'created_at' is required when 'events' are given")
    return lead


LeadIn, ScoreRequest = request_models(demo_spec())
"""The demo model's request bodies (the packaged contract's spec)."""


class LeadScore(BaseModel):
    """Both scores for one lead."""

    lead_id: str | int
    probability: float
    model_tier: str
    rule_score: float
    rule_grade: str
    reasons: list[str]
    rule_hits: list[str]


class ScoreResponse(BaseModel):
    """Scores in request order, with the model that produced them."""

    model_config = ConfigDict(protected_namespaces=())
    model_name: str
    model_version: str
    as_of: datetime
    scores: list[LeadScore]


class ModelInfo(BaseModel):
    """What the service is serving."""

    model_config = ConfigDict(protected_namespaces=())
    model_name: str
    model_version: str
    alias: str | None
    uri: str
    loaded_at: datetime
    training_window: dict[str, Any]
    metrics_at_registration: dict[str, Any]
