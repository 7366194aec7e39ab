"""The feature spec: which features a team's data gives, derived from its contract, as data.

Contract:

- A :class:`FeatureSpec` lists the contact attributes the model reads (warehouse column,
  kind, the team's own name for it, the standard role it fills, if any), the event
  vocabulary (the team's event types that get features of their own, and which of them are
  high intent, borrowed interest or sales' own work), the decision moment (``pipeline``:
  open leads at snapshots; ``handoff``: each lead once, at creation plus a delay, with
  sales-owned activity left out), whether the data has a time at all, the horizon and where
  the label comes from.
- Everything downstream reads it: the point-in-time SQL (:meth:`engagement`), the model's
  columns (:meth:`categorical_features`, :meth:`numeric_features`), the rules (the features
  they may read), the pyfunc and HTTP schemas (:meth:`input_columns`), and the phrases of
  reasons (:meth:`label_of`). It is saved with every model as JSON (:meth:`to_dict`) with
  a ``format_version``; :meth:`from_dict` refuses a version it does not know, naming it.
- Building a spec does no I/O; :func:`features._import.spec_for` derives one from a
  contract and the imported tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from leadscore.features._definitions import (
    AGE_FEATURE,
    DEMO_VOCABULARY,
    TREND_FEATURE,
    DistinctDays,
    EventCount,
    EventVocabulary,
    Feature,
    engagement_features,
    unique_slugs,
)
from leadscore.features._errors import ModelError

if TYPE_CHECKING:
    from leadscore.features._contract import Contract
    from leadscore.features._warehouse import Warehouse

SPEC_FORMAT_VERSION = 1
"""The version of :meth:`FeatureSpec.to_dict`'s layout; bump it when the layout changes."""

AttributeKind = Literal["numeric", "categorical", "boolean"]
Decision = Literal["pipeline", "handoff"]

# Standard roles (DESIGN.md section 2) and the derived features each unlocks.
ROLE_KINDS: dict[str, AttributeKind] = {
    "title": "categorical", "company_size": "numeric", "industry": "categorical",
    "country": "categorical", "lead_source": "categorical", "email_domain": "categorical",
    "phone_valid": "boolean", "buying_timeline": "categorical", "requested_demo": "boolean",
}  # fmt: skip
# Raw text the model never reads itself (too many values): only what is derived from it.
RAW_ONLY_ROLES = frozenset({"title", "email_domain"})
# Columns every lead frame has or that name the label: no attribute may take these names.
RESERVED_COLUMNS = frozenset(
    {"contact_id", "created_at", "as_of", "label", "closed_at", "outcome", AGE_FEATURE,
     "title_level", "title_function", "company_size_band", "email_is_free", TREND_FEATURE,
     "probability", "model_tier", "rule_score", "rule_grade", "reasons", "rule_hits"}
)  # fmt: skip
MAX_EVENT_TYPES = 40
"""Event types with features of their own, most frequent first; the rest count in totals."""

_PHRASES = {
    "industry": "industry", "country": "country", "lead_source": "lead source",
    "title_level": "title level", "title_function": "job function",
    "buying_timeline": "buying timeline", "company_size": "company size",
    "phone_valid": "valid phone", "requested_demo": "asked for a demo",
    "email_is_free": "free email domain", AGE_FEATURE: "lead age in days",
    TREND_FEATURE: "activity trend", "company_size_band": "company size band",
}  # fmt: skip


@dataclass(frozen=True)
class AttributeFeature:
    """A contact column the model reads: its warehouse ``name``, ``kind``, the team's own
    name (``label``, used in reasons) and the standard ``role`` it fills, if any."""

    name: str
    kind: AttributeKind
    label: str
    role: str | None = None


@dataclass(frozen=True)
class FeatureSpec:
    """The features a team's data gives (see the module docstring)."""

    attributes: tuple[AttributeFeature, ...]
    events: EventVocabulary | None = None
    decision: Decision = "pipeline"
    handoff_delay_hours: float = 1.0
    has_time: bool = True
    horizon_days: int = 90
    label_from: Literal["outcomes", "column"] = "outcomes"
    existing_score: str | None = None
    contract_name: str = "lead-quality"
    time_is_order: bool = False  # stand-in creation times that only say the rows' order
    _engagement: tuple[Feature, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.horizon_days <= 0:
            raise ModelError(f"horizon_days must be positive, got {self.horizon_days!r}")
        if self.handoff_delay_hours < 0:
            raise ModelError(
                f"handoff_delay_hours must be 0 or more, got {self.handoff_delay_hours!r}"
            )
        names = [a.name for a in self.attributes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ModelError(f"feature spec names attributes {twice} twice")
        feats = () if self.events is None else engagement_features(
            self.events, exclude_sales_owned=self.decision == "handoff")  # fmt: skip
        object.__setattr__(self, "_engagement", feats)

    # -- what the data gives ----------------------------------------------------------
    def roles(self) -> dict[str, str]:
        """Standard role -> warehouse column, for the roles this data has."""
        return {a.role: a.name for a in self.attributes if a.role is not None}

    def engagement(self) -> tuple[Feature, ...]:
        """The engagement features of the point-in-time SQL, in column order."""
        return self._engagement

    def engagement_names(self) -> tuple[str, ...]:
        """The names of :meth:`engagement`."""
        return tuple(f.name for f in self._engagement)

    def count_features(self) -> frozenset[str]:
        """Engagement features that are counts: 0, never missing, when there are no events."""
        return frozenset(f.name for f in self._engagement
                         if isinstance(f, EventCount | DistinctDays))  # fmt: skip

    def excluded_event_types(self) -> tuple[str, ...]:
        """Event types no feature may read at this decision moment (sales' own work at the
        handoff)."""
        if self.events is None or self.decision != "handoff":
            return ()
        return self.events.sales_owned

    @property
    def uses_age(self) -> bool:
        """Whether lead age is a feature (pipeline snapshots of dated leads only: at the
        handoff every lead has the same age)."""
        return self.decision == "pipeline" and self.has_time

    def derived_features(self) -> tuple[str, ...]:
        """The derived attributes this data unlocks (rules may read all of them)."""
        roles = self.roles()
        out = []
        if "title" in roles:
            out += ["title_level", "title_function"]
        if "company_size" in roles:
            out.append("company_size_band")
        if "email_domain" in roles:
            out.append("email_is_free")
        if self.events is not None and {"events_30d", "events_30_90d"} <= set(
            self.engagement_names()
        ):
            out.append(TREND_FEATURE)
        return tuple(out)

    # -- the model's columns -------------------------------------------------------------
    def categorical_features(self) -> tuple[str, ...]:
        """The model's categorical columns, in matrix order."""
        cats = [a.name for a in self.attributes
                if a.kind == "categorical" and a.role not in RAW_ONLY_ROLES]  # fmt: skip
        cats += [d for d in self.derived_features() if d in ("title_level", "title_function")]
        return tuple(cats)

    def numeric_features(self) -> tuple[str, ...]:
        """The model's numeric columns (booleans as 1.0/0.0), in matrix order after the
        categorical ones."""
        nums = [a.name for a in self.attributes if a.kind in ("numeric", "boolean")]
        nums += [d for d in self.derived_features() if d == "email_is_free"]
        if self.uses_age:
            nums.append(AGE_FEATURE)
        nums += [d for d in self.derived_features() if d == TREND_FEATURE]
        nums += list(self.engagement_names())
        return tuple(nums)

    def model_features(self) -> tuple[str, ...]:
        """Every model column: categorical, then numeric."""
        return self.categorical_features() + self.numeric_features()

    def rule_features(self) -> tuple[str, ...]:
        """Every feature a rule may read: attributes, derived, age and engagement."""
        names = [*(a.name for a in self.attributes), *self.derived_features()]
        if self.has_time:
            names.append(AGE_FEATURE)
        return tuple(dict.fromkeys([*names, *self.engagement_names()]))

    def input_columns(self) -> tuple[str, ...]:
        """The lead-row columns a scorer reads (besides ``contact_id``), all optional."""
        cols = [a.name for a in self.attributes]
        if self.existing_score is not None:
            cols.append(self.existing_score)
        if self.has_time:
            cols.append(AGE_FEATURE)
        return tuple([*cols, *self.engagement_names()])

    def text_columns(self) -> frozenset[str]:
        """Input columns that hold text (categorical attributes)."""
        return frozenset(a.name for a in self.attributes if a.kind == "categorical")

    def attribute(self, name: str) -> AttributeFeature | None:
        """The attribute called ``name``, if any."""
        return next((a for a in self.attributes if a.name == name), None)

    def label_of(self, name: str) -> str:
        """How a feature is named in reasons: the team's own column name for its
        attributes, a phrase for the standard and derived ones."""
        attr = self.attribute(name)
        if attr is not None and attr.role is None:
            return attr.label
        if name in _PHRASES:
            return _PHRASES[name]
        for feature in self._engagement:
            if feature.name == name and feature.description:
                return feature.description
        return name.replace("_", " ")

    def without(self, columns: Sequence[str]) -> FeatureSpec:
        """The same spec without the contact columns ``columns`` (absent from a warehouse:
        the point-in-time SQL then leaves them out and the scorers read them as missing)."""
        gone = set(columns)
        return replace(self, attributes=tuple(a for a in self.attributes if a.name not in gone),
                       existing_score=None if self.existing_score in gone else self.existing_score)  # fmt: skip

    def with_decision(self, decision: Decision, handoff_delay_hours: float | None = None
                      ) -> FeatureSpec:  # fmt: skip
        """The same data at another decision moment."""
        delay = self.handoff_delay_hours if handoff_delay_hours is None else handoff_delay_hours
        return replace(self, decision=decision, handoff_delay_hours=delay)

    # -- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data with ``format_version``."""
        events = None
        if self.events is not None:
            e = self.events
            events = {"types": list(e.types), "high_intent": list(e.high_intent),
                      "borrowed_interest": list(e.borrowed_interest),
                      "sales_owned": list(e.sales_owned), "first_touch": e.first_touch}  # fmt: skip
        return {
            "format_version": SPEC_FORMAT_VERSION,
            "attributes": [{"name": a.name, "kind": a.kind, "label": a.label, "role": a.role}
                           for a in self.attributes],
            "events": events,
            "decision": self.decision,
            "handoff_delay_hours": self.handoff_delay_hours,
            "has_time": self.has_time,
            "horizon_days": self.horizon_days,
            "label_from": self.label_from,
            "existing_score": self.existing_score,
            "contract_name": self.contract_name,
            "time_is_order": self.time_is_order,
            "engagement_features": list(self.engagement_names()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "feature spec") -> FeatureSpec:
        """Read :meth:`to_dict`'s output; a ModelError names an unknown ``format_version``
        or a layout that does not match."""
        version = data.get("format_version")
        if version != SPEC_FORMAT_VERSION:
            raise ModelError(
                f"{where}: format_version {version!r} is not one this leadscore reads "
                f"(it reads {SPEC_FORMAT_VERSION}); install the leadscore version that wrote "
                "the model, or retrain it"
            )
        try:
            events = data.get("events")
            spec = cls(
                attributes=tuple(AttributeFeature(a["name"], a["kind"], a["label"], a.get("role"))
                                 for a in data["attributes"]),
                events=None if events is None else EventVocabulary(
                    tuple(events["types"]), tuple(events["high_intent"]),
                    tuple(events["borrowed_interest"]), tuple(events["sales_owned"]),
                    events.get("first_touch")),
                decision=data["decision"],
                handoff_delay_hours=float(data["handoff_delay_hours"]),
                has_time=bool(data["has_time"]),
                horizon_days=int(data["horizon_days"]),
                label_from=data["label_from"],
                existing_score=data.get("existing_score"),
                contract_name=data.get("contract_name", "lead-quality"),
                time_is_order=bool(data.get("time_is_order", False)),
            )
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{where}: not a leadscore feature spec ({exc!r} missing or wrong)"
                             ) from None  # fmt: skip
        saved = data.get("engagement_features")
        if saved is not None and list(saved) != list(spec.engagement_names()):
            raise ModelError(
                f"{where}: its engagement features differ from what this leadscore derives "
                "from the same vocabulary; install the leadscore version that wrote the model"
            )
        return spec


def unique_names(labels: Sequence[str], taken: set[str]) -> list[str]:
    """A distinct identifier (:func:`slug`) per label, none in ``taken`` or
    :data:`RESERVED_COLUMNS` (clashes get ``_2``, ``_3`` ...)."""
    return unique_slugs(list(labels), set(taken) | set(RESERVED_COLUMNS))


@cache
def demo_spec() -> FeatureSpec:
    """The synthetic CRM's spec (the packaged demo contract's): the nine standard roles,
    the demo event vocabulary, open leads at quarterly snapshots."""
    return FeatureSpec(
        attributes=tuple(AttributeFeature(role, kind, role, role) for role, kind in ROLE_KINDS.items()),
        events=DEMO_VOCABULARY,
        decision="pipeline",
    )


def spec_for(contract: Contract, wh: Warehouse) -> FeatureSpec:
    """The spec of a contract's data, once imported into ``wh`` (see
    :func:`features._import.import_tables`): the standard roles that hold any value, the
    team's own attributes from the import's catalogue, the event types seen (the
    :data:`MAX_EVENT_TYPES` most frequent get features of their own) with their meanings
    (the standard types' by default, the contract's where it gives them), and the
    contract's decision moment, horizon and label source."""
    from leadscore.features._contract import normalise_token
    from leadscore.features._import import EXISTING_SCORE, read_catalogue
    from leadscore.features._schema import SALES_TOUCH

    counts = wh.query("SELECT " + ", ".join(f"count({r}) AS {r}" for r in ROLE_KINDS)
                      + " FROM contacts")  # fmt: skip
    attributes = [AttributeFeature(r, k, r, r) for r, k in ROLE_KINDS.items()
                  if int(counts[r].iloc[0]) > 0]  # fmt: skip
    attributes += [AttributeFeature(a.name, a.kind, a.label) for a in read_catalogue(wh)]
    events = None
    if contract.events is not None:
        found = wh.query(
            "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC, event_type "
            f"LIMIT {MAX_EVENT_TYPES}"
        )["event_type"].astype(str).tolist()
        ev = contract.events

        def meaning(given: list[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
            if given is None:
                return tuple(t for t in found if t in default)
            wanted = {normalise_token(v) for v in given}
            return tuple(t for t in found if normalise_token(t) in wanted)

        sales = meaning(ev.sales_owned, DEMO_VOCABULARY.sales_owned)
        events = EventVocabulary(
            types=tuple(found),
            high_intent=meaning(ev.high_intent, DEMO_VOCABULARY.high_intent),
            borrowed_interest=meaning(ev.borrowed_interest, DEMO_VOCABULARY.borrowed_interest),
            sales_owned=sales,
            first_touch=SALES_TOUCH if SALES_TOUCH in sales else (sales[0] if sales else None),
        )
    has_score = (contract.contacts.existing_score is not None
                 and EXISTING_SCORE in wh.columns("contacts"))  # fmt: skip
    return FeatureSpec(
        attributes=tuple(attributes),
        events=events,
        decision=contract.decision_moment,
        # without events the delay changes nothing but which leads are handed off yet
        handoff_delay_hours=contract.decision.handoff_delay_hours if events is not None else 0.0,
        has_time=bool(wh.scalar("SELECT count(created_at) FROM contacts")),
        time_is_order=contract.contacts.order_by is not None,
        horizon_days=contract.label.horizon_days,
        label_from="column" if contract.contacts.outcome is not None else "outcomes",
        existing_score=EXISTING_SCORE if has_score else None,
        contract_name=contract.model_name,
    )
