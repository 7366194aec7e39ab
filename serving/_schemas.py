"""Request and response bodies of the HTTP service (pydantic; unknown fields are errors)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from leadscore.features import ENGAGEMENT_FEATURE_NAMES
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


# Precomputed engagement: every engagement feature name, all optional, none negative.
EngagementIn: type[BaseModel] = create_model(
    "EngagementIn",
    __config__=_STRICT,
    __doc__="Precomputed engagement features; a missing count means no such events.",
    **{
        name: (float | None, Field(default=None, ge=0, le=1e9)) for name in ENGAGEMENT_FEATURE_NAMES
    },  # type: ignore[call-overload]
)


class LeadIn(BaseModel):
    """A lead: contact attributes plus either raw ``events`` or precomputed ``engagement``."""

    model_config = _STRICT
    lead_id: str = Field(min_length=1, max_length=200)
    created_at: UtcDatetime | None = Field(
        default=None, description="Required with events; else gives days_since_created."
    )
    days_since_created: float | None = Field(default=None, ge=0, le=1e6)
    title: str | None = Field(default=None, max_length=500)
    company_size: float | None = Field(default=None, ge=0, le=1e8)
    industry: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, max_length=100)
    lead_source: str | None = Field(default=None, max_length=200)
    email_domain: str | None = Field(default=None, max_length=300)
    phone_valid: bool | None = None
    buying_timeline: str | None = Field(default=None, max_length=100)
    requested_demo: bool | None = None
    events: list[EventIn] | None = Field(default=None, max_length=100_000)
    engagement: EngagementIn | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _one_engagement_form(self) -> LeadIn:
        if self.events is not None and self.engagement is not None:
            raise ValueError("give either 'events' or 'engagement', not both")
        if self.events is not None and self.created_at is None:
            raise ValueError("'created_at' is required when 'events' are given")
        return self


class ScoreRequest(BaseModel):
    """One or many leads, scored as of ``as_of`` (default: now, UTC)."""

    model_config = _STRICT
    leads: list[LeadIn] = Field(min_length=1)
    as_of: UtcDatetime | None = None
    reasons: bool = Field(default=True, description="Include the model's top reasons.")


class LeadScore(BaseModel):
    """Both scores for one lead."""

    lead_id: str
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
