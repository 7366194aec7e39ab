"""Point-in-time features of a few leads, computed in memory with numpy (no SQL, no pandas).

The HTTP service scores one lead (or a handful) from its raw events; building a warehouse
per request to run :func:`~features._point_in_time.lead_frame_sql` costs about 100 ms. This
module reads the same :class:`~features._spec.FeatureSpec` (the same feature definitions of
:mod:`features._definitions`) and computes the same values on small numpy arrays.

Contract: :func:`point_in_time_values` takes ``n`` lead rows (each with its creation time)
and their events as flat arrays (each event names its row), and returns, in the lead frame's
column order, ``days_since_created`` (when ``spec.has_time``) and every engagement feature of
the spec: one float64 array of ``n`` values per column, row for row. The values are the
point-in-time SQL's, on the same rules:

* each row has one cutoff: the snapshot ``as_of`` at the ``pipeline`` decision; at the
  ``handoff`` decision the row's own ``created_at`` plus ``spec.handoff_delay_hours`` (whole
  seconds, as in the SQL), with the spec's sales-owned event types left out of every feature;
* only events with ``occurred_at < cutoff`` count: an event exactly at the cutoff is the future;
* a count over ``[cutoff - start_days, cutoff - end_days)`` is exact (an integer as a float),
  0 without events; an event type outside the spec's vocabulary counts only in the features
  over all types; a distinct active day is a calendar day (UTC) with an event in the window;
* ``days_since_last*``, ``hours_to_first_touch`` and ``days_since_created`` are NaN where the
  SQL gives NULL, and otherwise computed with DuckDB's arithmetic (``epoch()`` is
  microseconds / 1e6 as a double), so they equal the DuckDB batch frame to the last bit.

Timestamps are naive UTC at microsecond precision (``datetime64[us]``). The inputs are never
modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
from leadscore.features._definitions import (
    AGE_FEATURE,
    DaysSinceLast,
    DistinctDays,
    EventCount,
    HoursToFirst,
)
from leadscore.features._errors import ConfigError, DataValidationError, ModelError
from leadscore.features._spec import FeatureSpec
from numpy.typing import ArrayLike, NDArray

_US_PER_DAY = 86_400 * 1_000_000
_EXCLUDED = -1  # the code of an event type no feature may read (sales' own at the handoff)

Int64s = NDArray[np.int64]
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class _Plan:
    """What :func:`point_in_time_values` needs from a spec, worked out once per spec."""

    codes: dict[str, int]  # event type -> column of the per-type counts; unknown: n_codes - 1
    n_codes: int
    windows: tuple[tuple[int, int], ...]  # distinct (start_days, end_days) of the counts
    counts: tuple[str, ...]  # the EventCount features
    # (window, type code) cell -> count feature: 1 where the feature sums the cell
    count_cells: NDArray[np.float64]
    recency: tuple[tuple[str, NDArray[np.bool_] | None], ...]  # DaysSinceLast: which codes
    first: tuple[tuple[str, int], ...]  # HoursToFirst: the code of its type
    days: tuple[tuple[str, int], ...]  # DistinctDays: window in days
    order: tuple[str, ...]  # output columns


@lru_cache(maxsize=16)
def _plan(spec: FeatureSpec) -> _Plan:
    """The spec's features as array positions (cached: a served model has one spec)."""
    feats = spec.engagement()
    other = [f for f in feats
             if not isinstance(f, EventCount | DaysSinceLast | DistinctDays | HoursToFirst)]  # fmt: skip
    if other:  # a new kind of definition needs its in-memory twin here, as it has in the SQL
        raise ModelError(f"feature {other[0].name!r} is a {type(other[0]).__name__}, which the "
                         "in-memory point-in-time features do not compute")  # fmt: skip
    named = {t for f in feats if isinstance(f, EventCount | DaysSinceLast) for t in f.event_types}
    named |= {f.event_type for f in feats if isinstance(f, HoursToFirst)}
    excluded = set(spec.excluded_event_types())
    codes = {t: i for i, t in enumerate(sorted(named - excluded))}
    n_codes = len(codes) + 1  # the last column: every type no feature names
    codes |= dict.fromkeys(excluded, _EXCLUDED)

    def of_types(types: Sequence[str]) -> NDArray[np.bool_] | None:
        if not types:
            return None
        table = np.zeros(n_codes, dtype=bool)
        table[[codes[t] for t in types]] = True
        table.flags.writeable = False  # shared by every call through the cache
        return table

    counts = [f for f in feats if isinstance(f, EventCount)]
    windows = tuple(dict.fromkeys((f.start_days, f.end_days) for f in counts))
    count_cells = np.zeros((len(windows) * n_codes, len(counts)))
    for j, f in enumerate(counts):
        first_cell = windows.index((f.start_days, f.end_days)) * n_codes
        types = [codes[t] for t in f.event_types] if f.event_types else range(n_codes)
        count_cells[[first_cell + c for c in types], j] = 1.0
    count_cells.flags.writeable = False
    return _Plan(
        codes=codes,
        n_codes=n_codes,
        windows=windows,
        counts=tuple(f.name for f in counts),
        count_cells=count_cells,
        recency=tuple(
            (f.name, of_types(f.event_types)) for f in feats if isinstance(f, DaysSinceLast)
        ),
        first=tuple((f.name, codes[f.event_type]) for f in feats if isinstance(f, HoursToFirst)),
        days=tuple((f.name, f.window_days) for f in feats if isinstance(f, DistinctDays)),
        order=((AGE_FEATURE,) if spec.has_time else ()) + spec.engagement_names(),
    )


_NAT = np.iinfo(np.int64).min  # NaT as int64


def _micros(values: datetime | ArrayLike, what: str) -> Int64s:
    """Timestamps as int64 microseconds since 1970 (NaT as :data:`_NAT`)."""
    try:
        stamps = np.asarray(values, dtype="datetime64[us]")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be timestamps, got {exc}") from None
    return stamps.astype(np.int64).ravel()


def _seconds(micros: Int64s) -> Floats:
    """DuckDB's ``epoch()``: microseconds / 1e6 as a double (so differences match its bits)."""
    return micros / 1e6


def _cutoffs(spec: FeatureSpec, created: Int64s, as_of: datetime | ArrayLike | None) -> Int64s:
    """Each row's cutoff, in microseconds, at the spec's decision."""
    if spec.decision == "handoff":
        if as_of is not None:
            raise ConfigError(
                "as_of does not apply at the handoff decision: each lead's cutoff is its "
                f"created_at + {spec.handoff_delay_hours:g} h; got as_of={as_of!r}"
            )
        delay = round(spec.handoff_delay_hours * 3600) * 1_000_000  # whole seconds, as the SQL
        return np.where(created == _NAT, 0, created) + delay  # no creation time: 1970 + delay
    if as_of is None:
        raise ConfigError("as_of (the snapshot) is required at the pipeline decision, got None")
    stamps = _micros(as_of, "as_of")
    if len(stamps) not in (1, len(created)):
        raise ConfigError(f"as_of must be one timestamp or one per lead ({len(created)}), "
                          f"got {len(stamps)}")  # fmt: skip
    if (stamps == _NAT).any():
        raise ConfigError("as_of must be a timestamp for every lead, got NaT")
    return np.broadcast_to(stamps, created.shape)


@dataclass(frozen=True)
class _Events:
    """The events that count, sorted by row and then time: ``lead`` (row), ``at``
    (microseconds), ``code`` (type column of the plan), ``before`` (microseconds before the
    row's cutoff, always > 0)."""

    lead: NDArray[np.intp]
    at: Int64s
    code: NDArray[np.intp]
    before: Int64s


def _events_that_count(plan: _Plan, cutoff: Int64s, event_lead: ArrayLike,
                       occurred_at: ArrayLike, event_type: Sequence[str]) -> _Events:  # fmt: skip
    """The events before their row's cutoff, of a type the decision may read."""
    n = len(cutoff)
    lead = np.asarray(event_lead, dtype=np.intp).ravel()
    at = _micros(occurred_at, "occurred_at")
    if not len(lead) == len(at) == len(event_type):
        raise ConfigError(
            "event_lead, occurred_at and event_type must have one value per event, got "
            f"{len(lead)}, {len(at)} and {len(event_type)} values"
        )
    if len(lead) and (lead.min() < 0 or lead.max() >= n):
        bad = lead[(lead < 0) | (lead >= n)]
        raise ConfigError(f"event_lead must be rows 0 to {n - 1}, got {bad[:5].tolist()}")
    if (at == _NAT).any():
        raise DataValidationError("events", "occurred_at", "occurred_at must not be null",
                                  count=int((at == _NAT).sum()))  # fmt: skip
    not_text = [t for t in event_type if not isinstance(t, str)]
    if not_text:
        raise DataValidationError("events", "event_type", "event_type must be text, not null",
                                  count=len(not_text), examples=not_text)  # fmt: skip
    unknown = plan.n_codes - 1  # the column of every type no feature names
    code = np.fromiter((plan.codes.get(t, unknown) for t in event_type), dtype=np.intp,
                       count=len(lead))  # fmt: skip
    keep = (at < cutoff[lead]) & (code != _EXCLUDED)  # THE cutoff: strictly before it
    lead, at, code = lead[keep], at[keep], code[keep]
    order = np.lexsort((at, lead))
    lead, at, code = lead[order], at[order], code[order]
    return _Events(lead, at, code, cutoff[lead] - at)


def _run_starts(*keys: NDArray[np.int64] | NDArray[np.intp]) -> NDArray[np.bool_]:
    """Where a run of equal keys (all of them equal) starts, in sorted arrays."""
    starts = np.ones(len(keys[0]), dtype=bool)
    if len(starts) > 1:
        changed = np.zeros(len(starts) - 1, dtype=bool)
        for k in keys:
            changed |= k[1:] != k[:-1]
        starts[1:] = changed
    return starts


def _counts(plan: _Plan, ev: _Events, n: int) -> Floats:
    """Every count feature (columns in ``plan.counts`` order): per row one count per
    (window, type code) cell, as the SQL's ``by_type``, then each feature sums its cells
    (exact: float64 holds integers up to 2**53)."""
    width = len(plan.windows) * plan.n_codes
    cell = [
        (ev.lead * width + w * plan.n_codes + ev.code)[
            (ev.before <= start * _US_PER_DAY) & (ev.before > end * _US_PER_DAY)]
        for w, (start, end) in enumerate(plan.windows)
    ]  # fmt: skip
    cells = np.bincount(np.concatenate([np.empty(0, np.intp), *cell]), minlength=n * width)
    return cells.reshape(n, width).astype(np.float64) @ plan.count_cells


def _days_since_last(ev: _Events, types: NDArray[np.bool_] | None, cutoff: Int64s) -> Floats:
    chosen = slice(None) if types is None else types[ev.code]
    rows, at = ev.lead[chosen], ev.at[chosen]
    last = np.empty(len(rows), dtype=bool)  # the latest event of a row ends its run
    last[:-1] = _run_starts(rows)[1:]
    last[-1:] = True
    values = np.full(len(cutoff), np.nan)
    r = rows[last]
    values[r] = (_seconds(cutoff[r]) - _seconds(at[last])) / 86400.0
    return values


def _hours_to_first(ev: _Events, type_code: int, created: Int64s) -> Floats:
    chosen = ev.code == type_code
    rows, at = ev.lead[chosen], ev.at[chosen]
    first = _run_starts(rows)  # the earliest event of a row starts its run
    values = np.full(len(created), np.nan)
    r = rows[first]
    values[r] = np.where(created[r] == _NAT, np.nan,
                         (_seconds(at[first]) - _seconds(created[r])) / 3600.0)  # fmt: skip
    return values


def _active_days(ev: _Events, window_days: int, n: int) -> Floats:
    inside = ev.before <= window_days * _US_PER_DAY
    rows = ev.lead[inside]
    day = ev.at[inside] // _US_PER_DAY  # the calendar day: floor, as CAST(... AS DATE)
    return np.bincount(rows[_run_starts(rows, day)], minlength=n).astype(np.float64)


def point_in_time_values(
    spec: FeatureSpec,
    created_at: ArrayLike,
    *,
    event_lead: ArrayLike,
    occurred_at: ArrayLike,
    event_type: Sequence[str],
    as_of: datetime | ArrayLike | None = None,
) -> dict[str, Floats]:
    """The time and engagement features of ``len(created_at)`` lead rows (see the module
    docstring).

    ``event_lead[k]`` is the row (0 to n-1) that event ``k`` belongs to, at ``occurred_at[k]``
    of type ``event_type[k]``; events may come in any order and may lie after the cutoff.
    ``as_of`` is the snapshot of the ``pipeline`` decision (one timestamp, or one per row);
    at the ``handoff`` decision each row has its own cutoff and ``as_of`` must be None.
    Raises ConfigError for an input that is not what is expected here, DataValidationError
    for an event the data contract forbids (no time, no type).
    """
    plan = _plan(spec)
    created = _micros(created_at, "created_at")
    n = len(created)
    cutoff = _cutoffs(spec, created, as_of)
    ev = _events_that_count(plan, cutoff, event_lead, occurred_at, event_type)
    out: dict[str, Floats] = {}
    if spec.has_time:
        age = (_seconds(cutoff) - _seconds(created)) / 86400.0
        out[AGE_FEATURE] = np.where(created == _NAT, np.nan, age)
    counts = _counts(plan, ev, n)
    out |= {name: counts[:, j].copy() for j, name in enumerate(plan.counts)}
    out |= {name: _days_since_last(ev, types, cutoff) for name, types in plan.recency}
    out |= {name: _hours_to_first(ev, code, created) for name, code in plan.first}
    out |= {name: _active_days(ev, days, n) for name, days in plan.days}
    return {name: out[name] for name in plan.order}
