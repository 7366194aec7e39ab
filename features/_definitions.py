"""Feature definitions: *what* each engagement feature means, apart from any engine.

A definition is data. :mod:`features._sql` compiles these into one point-in-time
aggregate query; the brute-force oracle in the tests reads the same definitions and
computes them with plain Python loops. Every feature uses only events with
``occurred_at < as_of`` (the cutoff); windows are ``as_of - N days <= occurred_at``.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadscore.features._schema import BORROWED_INTEREST_EVENTS, EVENT_TYPES, HIGH_INTENT_EVENTS

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


def _human(event_type: str) -> str:
    return event_type.replace("_", " ")


def engagement_features() -> tuple[Feature, ...]:
    """All engagement features, in output column order."""
    out: list[Feature] = []
    for w in WINDOWS_DAYS:
        out.append(EventCount(f"events_{w}d", (), w, 0, f"events in the last {w} days"))
    for w in (7, 30, 90):
        out.append(
            EventCount(
                f"high_intent_{w}d",
                HIGH_INTENT_EVENTS,
                w,
                0,
                f"high-intent events in the last {w} days",
            )
        )
    for w in (30, 180):
        out.append(
            EventCount(
                f"borrowed_interest_{w}d",
                BORROWED_INTEREST_EVENTS,
                w,
                0,
                f"giveaway, prize-draw, lunch or badge-scan events in the last {w} days",
            )
        )
    for event_type in EVENT_TYPES:
        for w in PER_TYPE_WINDOWS_DAYS:
            out.append(
                EventCount(
                    f"{event_type}_{w}d",
                    (event_type,),
                    w,
                    0,
                    f"{_human(event_type)} events in the last {w} days",
                )
            )
    out.append(
        EventCount("events_30_90d", (), 90, 30, "events between 90 and 30 days before the cutoff")
    )
    out.append(DaysSinceLast("days_since_last_event", (), "days since the last event"))
    out.append(
        DaysSinceLast(
            "days_since_last_high_intent",
            HIGH_INTENT_EVENTS,
            "days since the last high-intent event",
        )
    )
    out.append(DistinctDays("active_days_30d", 30, "distinct active days in the last 30 days"))
    out.append(DistinctDays("active_days_90d", 90, "distinct active days in the last 90 days"))
    out.append(
        HoursToFirst(
            "hours_to_first_touch",
            "sales_touch",
            "hours from lead creation to the first sales touch",
        )
    )
    return tuple(out)


# Computed in the engine from the contact row and the cutoff (not from events).
AGE_FEATURE = "days_since_created"
# Derived from other engagement columns row-wise (same code in batch and online).
TREND_FEATURE = "activity_trend"

ENGAGEMENT_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in engagement_features())
# Counts: zero when there are no events (the other engagement features are then null).
COUNT_FEATURE_NAMES: tuple[str, ...] = tuple(
    f.name for f in engagement_features() if isinstance(f, EventCount | DistinctDays)
)
