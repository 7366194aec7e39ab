"""Feature definitions: *what* each engagement feature means, apart from any engine.

A definition is data. :mod:`features._sql` compiles these into one point-in-time
aggregate query; the brute-force oracle in the tests reads the same definitions and
computes them with plain Python loops. Every feature uses only events with
``occurred_at < as_of`` (the cutoff); windows are ``as_of - N days <= occurred_at``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leadscore.features._schema import (
    BORROWED_INTEREST_EVENTS,
    EVENT_TYPES,
    HIGH_INTENT_EVENTS,
    SALES_OWNED_EVENTS,
    SALES_TOUCH,
)

WINDOWS_DAYS: tuple[int, ...] = (7, 30, 90, 180)
PER_TYPE_WINDOWS_DAYS: tuple[int, ...] = (30, 180)


@dataclass(frozen=True)
class EventCount:
    """Number of events of ``event_types`` (all types if empty) in the window.

    The window is ``[as_of - start_days, as_of - end_days)``; ``end_days`` is 0 for
    windows that run up to the cutoff.
    """

    name: str
    event_types: tuple[str, ...]
    start_days: int
    end_days: int = 0
    description: str = ""


@dataclass(frozen=True)
class DaysSinceLast:
    """Days from the most recent event of ``event_types`` (all if empty) to as_of; null if none."""

    name: str
    event_types: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class DistinctDays:
    """Number of distinct calendar days with any event in the last ``window_days``."""

    name: str
    window_days: int
    description: str = ""


@dataclass(frozen=True)
class HoursToFirst:
    """Hours from contact creation to the first event of ``event_type``; null if none before as_of."""

    name: str
    event_type: str
    description: str = ""


Feature = EventCount | DaysSinceLast | DistinctDays | HoursToFirst


def slug(text: str) -> str:
    """``text`` as a lower-case SQL identifier: ``Lead Source`` and ``leadSource`` give
    ``lead_source``; a leading digit gets ``c_``; empty gives ``column``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(text))
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]
    name = "_".join(words) or "column"
    return f"c_{name}" if name[0].isdigit() else name


@dataclass(frozen=True)
class EventVocabulary:
    """The event types of the data and what they mean.

    ``types`` get features of their own (per-type counts); ``high_intent``,
    ``borrowed_interest`` and ``sales_owned`` are subsets (values as stored in the events
    table). ``first_touch`` is the sales-owned type whose first occurrence measures speed
    to lead, if any.
    """

    types: tuple[str, ...]
    high_intent: tuple[str, ...] = ()
    borrowed_interest: tuple[str, ...] = ()
    sales_owned: tuple[str, ...] = ()
    first_touch: str | None = None


DEMO_VOCABULARY = EventVocabulary(
    types=EVENT_TYPES,
    high_intent=HIGH_INTENT_EVENTS,
    borrowed_interest=BORROWED_INTEREST_EVENTS,
    sales_owned=SALES_OWNED_EVENTS,
    first_touch=SALES_TOUCH,
)
"""The synthetic CRM's event vocabulary (and the default meanings of the standard types)."""


def unique_slugs(labels: tuple[str, ...] | list[str], taken: set[str] | frozenset[str] = frozenset()
                 ) -> list[str]:  # fmt: skip
    """A distinct identifier (:func:`slug`) per label, none in ``taken`` (clashes get
    ``_2``, ``_3`` ...), in order."""
    used = set(taken)
    out = []
    for label in labels:
        base = slug(label)
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        out.append(name)
    return out


def _type_names(types: tuple[str, ...]) -> dict[str, str]:
    """A distinct identifier per event type (``Viewed Pricing`` -> ``viewed_pricing``)."""
    return dict(zip(types, unique_slugs(types), strict=True))


def engagement_features(
    vocabulary: EventVocabulary = DEMO_VOCABULARY, *, exclude_sales_owned: bool = False
) -> tuple[Feature, ...]:
    """The engagement features of an event vocabulary, in output column order.

    With ``exclude_sales_owned`` (the handoff decision) sales-owned types get no feature
    and speed to lead is not measured: the point-in-time SQL also leaves their events out
    of every all-activity feature."""
    v = vocabulary
    owned = set(v.sales_owned) if exclude_sales_owned else set()
    types = tuple(t for t in v.types if t not in owned)
    high = tuple(t for t in v.high_intent if t not in owned)
    borrowed = tuple(t for t in v.borrowed_interest if t not in owned)
    names = _type_names(types)
    out: list[Feature] = []
    for w in WINDOWS_DAYS:
        out.append(EventCount(f"events_{w}d", (), w, 0, f"events in the last {w} days"))
    if high:
        for w in (7, 30, 90):
            out.append(EventCount(f"high_intent_{w}d", high, w, 0,
                                  f"high-intent events in the last {w} days"))  # fmt: skip
    if borrowed:
        for w in (30, 180):
            out.append(EventCount(f"borrowed_interest_{w}d", borrowed, w, 0,
                                  f"borrowed-interest events (giveaways, prize draws, lunches, "
                                  f"badge scans) in the last {w} days"))  # fmt: skip
    for event_type in types:
        for w in PER_TYPE_WINDOWS_DAYS:
            out.append(EventCount(f"{names[event_type]}_{w}d", (event_type,), w, 0,
                                  f"{_human(event_type)} events in the last {w} days"))  # fmt: skip
    out.append(
        EventCount("events_30_90d", (), 90, 30, "events between 90 and 30 days before the cutoff")
    )
    out.append(DaysSinceLast("days_since_last_event", (), "days since the last event"))
    if high:
        out.append(DaysSinceLast("days_since_last_high_intent", high,
                                 "days since the last high-intent event"))  # fmt: skip
    out.append(DistinctDays("active_days_30d", 30, "distinct active days in the last 30 days"))
    out.append(DistinctDays("active_days_90d", 90, "distinct active days in the last 90 days"))
    if v.first_touch is not None and v.first_touch in types:
        out.append(HoursToFirst("hours_to_first_touch", v.first_touch,
                                "hours from lead creation to the first sales touch"))  # fmt: skip
    return tuple(out)


def _human(event_type: str) -> str:
    return " ".join(slug(event_type).split("_")) if event_type == slug(event_type) else event_type


# Computed in the engine from the contact row and the cutoff (not from events).
AGE_FEATURE = "days_since_created"
# Derived from other engagement columns row-wise (same code in batch and online).
TREND_FEATURE = "activity_trend"

ENGAGEMENT_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in engagement_features())
# Counts: zero when there are no events (the other engagement features are then null).
COUNT_FEATURE_NAMES: tuple[str, ...] = tuple(
    f.name for f in engagement_features() if isinstance(f, EventCount | DistinctDays)
)
