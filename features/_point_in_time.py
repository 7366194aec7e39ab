"""Point-in-time lead frames: one row per lead decision, features strictly before it.

This module is the one place where the cutoff lives. Two decision moments (DESIGN.md
section 3), both computed by one query built from a :class:`~features._spec.FeatureSpec`:

* **pipeline** (:func:`build_lead_frame`): one row per (open contact, snapshot ``as_of``);
* **handoff** (:func:`build_handoff_frame`): one row per lead at its own cutoff
  ``as_of = created_at + handoff delay`` (a lead without a creation time: a fixed cutoff, and
  the data has no events), with the spec's sales-owned event types left out of every
  feature; the label is a win within the horizon after creation (a label column without a
  close time: the label itself).

For each snapshot ``as_of``:

* the **spine** holds every contact with ``created_at < as_of`` and no outcome with
  ``closed_at < as_of`` (an outcome exactly at ``as_of`` is in the future: the lead is open);
* **features** use only events with ``occurred_at < as_of``; a window of N days is
  ``as_of - N days <= occurred_at < as_of``;
* the **label** (training only) is 1 when the contact has a ``won`` outcome with
  ``as_of <= closed_at < as_of + horizon``. Rows whose horizon runs past ``data_end`` are
  *censored*: excluded and counted, never labelled 0.

Output columns, in order (:func:`lead_frame_columns`): ``contact_id``, ``as_of``, the
spec's contact attributes, its existing score column if any, ``days_since_created`` (dated
data), every engagement feature of the spec, and with labels ``label``. The SQL is written
once in DuckDB's dialect from the spec; SQLGlot transpiles it for the other engines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from leadscore.features._definitions import (
    AGE_FEATURE,
    DaysSinceLast,
    DistinctDays,
    EventCount,
    Feature,
    HoursToFirst,
)
from leadscore.features._errors import ConfigError
from leadscore.features._schema import CONTACT_COLUMNS
from leadscore.features._spec import FeatureSpec, demo_spec
from leadscore.features._warehouse import Warehouse

log = logging.getLogger(__name__)

STRING_ATTRIBUTES: tuple[str, ...] = (
    "title",
    "industry",
    "country",
    "lead_source",
    "email_domain",
    "buying_timeline",
)
NUMERIC_ATTRIBUTES: tuple[str, ...] = ("company_size", "phone_valid", "requested_demo")
# the contact attributes of the data contract, after the id and the creation time
LEAD_ATTRIBUTE_COLUMNS: tuple[str, ...] = CONTACT_COLUMNS[2:]


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _of_types(column: str, event_types: Sequence[str]) -> str | None:
    """The condition "``column`` is one of ``event_types``" (None: every type counts)."""
    return f"{column} IN ({_sql_list(event_types)})" if event_types else None


def _filtered(aggregate: str, condition: str | None) -> str:
    return f"{aggregate} FILTER (WHERE {condition})" if condition else aggregate


def _window_column(start_days: int, end_days: int) -> str:
    """The column of ``by_type`` that counts events in ``[as_of - start, as_of - end)``."""
    return f"n_{start_days}d" + (f"_to_{end_days}d" if end_days else "")


def _attribute(column: str, numeric: bool, boolean_columns: Sequence[str]) -> str:
    if numeric and column in boolean_columns:
        return f"CAST(CASE WHEN c.{column} THEN 1 WHEN NOT c.{column} THEN 0 END AS DOUBLE) AS {column}"  # fmt: skip
    if numeric:
        return f"CAST(c.{column} AS DOUBLE) AS {column}"
    return f"CAST(c.{column} AS VARCHAR) AS {column}"


def _attribute_columns(spec: FeatureSpec) -> list[tuple[str, bool]]:
    """(column, is numeric) for each contact column of the frame, in order."""
    cols = [(a.name, a.kind != "categorical") for a in spec.attributes]
    if spec.existing_score is not None:
        cols.append((spec.existing_score, True))
    return cols


_NL = ",\n    "
# Every event join: events before the row's cutoff; the WHERE lets the scan skip events
# after the last snapshot before they reach the join.
_EVENTS_BEFORE_CUTOFF = """FROM spine s
  JOIN events e ON e.contact_id = s.contact_id AND e.occurred_at < s.as_of"""
_BEFORE_LAST_CUTOFF = "e.occurred_at < (SELECT MAX(as_of) FROM cutoffs)"


def _events_before_cutoff(excluded: Sequence[str]) -> str:
    """The events join, leaving out the ``excluded`` event types (sales' own at the handoff)."""
    if not excluded:
        return _EVENTS_BEFORE_CUTOFF
    return f"{_EVENTS_BEFORE_CUTOFF} AND e.event_type NOT IN ({_sql_list(excluded)})"


def _history_columns(feats: Sequence[DaysSinceLast | HoursToFirst]) -> list[str]:
    """The recency and first-touch aggregates over events ``e``."""
    cols = []
    for f in feats:
        if isinstance(f, DaysSinceLast):
            agg = _filtered("MAX(e.occurred_at)", _of_types("e.event_type", f.event_types))
        else:
            agg = _filtered("MIN(e.occurred_at)", _of_types("e.event_type", (f.event_type,)))
        cols.append(f"{agg} AS {f.name}")
    return cols


def _history_cte(feats: Sequence[DaysSinceLast | HoursToFirst], excluded: Sequence[str]) -> str:
    """Unbounded features (recency, first touch) over every event before the cutoff."""
    cols = _history_columns(feats)
    return f"""history AS (
  SELECT s.contact_id, s.as_of,
    {_NL.join(cols)}
  {_events_before_cutoff(excluded)}
  WHERE {_BEFORE_LAST_CUTOFF}
  GROUP BY s.contact_id, s.as_of
)"""


def _window_columns(feats: Sequence[EventCount], unbounded: Sequence[DaysSinceLast | HoursToFirst]
                    ) -> tuple[list[str], list[str]]:  # fmt: skip
    """``by_type``'s aggregates over events ``e`` (one row per type) and ``windowed``'s over
    those rows ``t`` (one row per lead); see :func:`_window_ctes`."""
    longest = max(f.start_days for f in feats)
    per_type = []
    for start, end in sorted({(f.start_days, f.end_days) for f in feats}):
        conds = [] if start == longest and not unbounded else [f"e.occurred_at >= s.from_{start}d"]
        if end:
            conds.append(f"e.occurred_at < s.from_{end}d")
        count = _filtered("COUNT(*)", " AND ".join(conds) or None)
        per_type.append(f"CAST({count} AS INTEGER) AS {_window_column(start, end)}")
    pivot = []
    for f in feats:
        agg = "MAX" if len(f.event_types) == 1 else "SUM"
        total = f"{agg}(t.{_window_column(f.start_days, f.end_days)})"
        # INTEGER here (SUM is HUGEINT in DuckDB), BIGINT in the final SELECT
        pivot.append(
            f"CAST({_filtered(total, _of_types('t.event_type', f.event_types))} AS INTEGER)"
            f" AS {f.name}"
        )
    if unbounded:
        per_type += ["MAX(e.occurred_at) AS last_at", "MIN(e.occurred_at) AS first_at"]
        for u in unbounded:
            if isinstance(u, DaysSinceLast):
                agg = _filtered("MAX(t.last_at)", _of_types("t.event_type", u.event_types))
            else:
                agg = _filtered("MIN(t.first_at)", _of_types("t.event_type", (u.event_type,)))
            pivot.append(f"{agg} AS {u.name}")
    return per_type, pivot


def _window_ctes(feats: Sequence[EventCount], excluded: Sequence[str],
                 unbounded: Sequence[DaysSinceLast | HoursToFirst] = ()) -> list[str]:  # fmt: skip
    """Event counts: per (contact, snapshot, event type) one count per distinct window, over
    the events of the longest window only; then one row per (contact, snapshot) with, per
    feature, the right window's count summed over the right types.

    With ``unbounded`` features (recency, first touch), ``by_type`` reads every event before
    the cutoff instead, adding each type's last and first event time (the longest window
    then counts with a condition of its own), and ``windowed`` also holds those features:
    the most recent event of a set of types is the latest of their last events, the first of
    one type its first. One pass over the events instead of two (the ``history`` step).

    The counts are INTEGER until the final SELECT and a single type's count is taken with MAX
    (``by_type`` has one row per type, so MAX is that row's count): DuckDB keeps a 128-bit
    state per SUM, and the pivot's ~40 states per row were most of the query's memory."""
    longest = max(f.start_days for f in feats)
    per_type, pivot = _window_columns(feats, unbounded)
    since = f"""
   AND e.occurred_at >= s.from_{longest}d"""
    since_any = f"""
   AND e.occurred_at >= (SELECT MIN(from_{longest}d) FROM cutoffs)"""
    if unbounded:
        since = since_any = ""
    by_type = f"""by_type AS (
  SELECT s.contact_id, s.as_of, e.event_type,
    {_NL.join(per_type)}
  {_events_before_cutoff(excluded)}{since}
  WHERE {_BEFORE_LAST_CUTOFF}{since_any}
  GROUP BY s.contact_id, s.as_of, e.event_type
)"""
    windowed = f"""windowed AS (
  SELECT t.contact_id, t.as_of,
    {_NL.join(pivot)}
  FROM by_type t
  GROUP BY t.contact_id, t.as_of
)"""
    return [by_type, windowed]


def _day_ctes(feats: Sequence[DistinctDays], excluded: Sequence[str]) -> list[str]:
    """Distinct active days: one row per (contact, snapshot, calendar day with an event in the
    longest window) holding the day's last event; a day is active in a window when that last
    event is in it (every event is before the cutoff)."""
    longest = max(f.window_days for f in feats)
    active_days = f"""active_days AS (
  SELECT s.contact_id, s.as_of, MAX(e.occurred_at) AS last_at
  {_events_before_cutoff(excluded)}
   AND e.occurred_at >= s.from_{longest}d
  WHERE {_BEFORE_LAST_CUTOFF}
   AND e.occurred_at >= (SELECT MIN(from_{longest}d) FROM cutoffs)
  GROUP BY s.contact_id, s.as_of, CAST(e.occurred_at AS DATE)
)"""
    cols = [f"COUNT(*) FILTER (WHERE d.last_at >= cu.from_{f.window_days}d) AS {f.name}"
            for f in feats]  # fmt: skip
    day_counts = f"""day_counts AS (
  SELECT d.contact_id, d.as_of,
    {_NL.join(cols)}
  FROM active_days d
  JOIN cutoffs cu ON cu.as_of = d.as_of
  GROUP BY d.contact_id, d.as_of
)"""
    return [active_days, day_counts]


def _per_lead_events(excluded: Sequence[str], since: str = "") -> str:
    """The events of lead ``s`` before its cutoff, for a per-lead (``LATERAL``) subquery."""
    not_excluded = f" AND e.event_type NOT IN ({_sql_list(excluded)})" if excluded else ""
    return ("FROM events e WHERE e.contact_id = s.contact_id AND e.occurred_at < s.as_of"
            f"{since}{not_excluded}")  # fmt: skip


def _per_lead_joins(counts: Sequence[EventCount], unbounded: Sequence[DaysSinceLast | HoursToFirst],
                    day_feats: Sequence[DistinctDays], excluded: Sequence[str]) -> list[str]:  # fmt: skip
    """The per-lead form of :func:`_history_cte`, :func:`_window_ctes` and :func:`_day_ctes`:
    each lead's aggregates in a ``LEFT JOIN LATERAL`` subquery over its own events, with the
    same expressions and aliases (``h``, ``w``, ``a``) as the joined CTEs. An aggregate over
    no events gives NULL (or a zero count) where the CTEs' join gives NULL: the final SELECT
    reads both alike. See :func:`lead_frame_sql` (``per_lead``)."""
    joins = []
    if unbounded and not counts:
        cols = ", ".join(_history_columns(unbounded))
        joins.append(f"LEFT JOIN LATERAL (SELECT {cols} {_per_lead_events(excluded)}) h ON TRUE")
    if counts:
        per_type, pivot = _window_columns(counts, unbounded)
        longest = max(f.start_days for f in counts)
        since = "" if unbounded else f" AND e.occurred_at >= s.from_{longest}d"
        joins.append(
            f"LEFT JOIN LATERAL (SELECT {', '.join(pivot)} FROM (SELECT e.event_type, "
            f"{', '.join(per_type)} {_per_lead_events(excluded, since)} GROUP BY e.event_type) t) "
            "w ON TRUE")  # fmt: skip
    if day_feats:
        longest = max(f.window_days for f in day_feats)
        cols = ", ".join(f"COUNT(*) FILTER (WHERE d.last_at >= s.from_{f.window_days}d) AS {f.name}"
                         for f in day_feats)  # fmt: skip
        days = _per_lead_events(excluded, f" AND e.occurred_at >= s.from_{longest}d")
        joins.append(f"LEFT JOIN LATERAL (SELECT {cols} FROM (SELECT MAX(e.occurred_at) AS last_at "
                     f"{days} GROUP BY CAST(e.occurred_at AS DATE)) d) a ON TRUE")  # fmt: skip
    return joins


def lead_frame_sql(
    *,
    with_labels: bool,
    horizon_days: int,
    boolean_columns: Sequence[str] = (),
    features: Sequence[Feature] | None = None,
    spec: FeatureSpec | None = None,
    decision: str | None = None,
    snapshots: Sequence[datetime] | None = None,
    per_lead: bool = False,
    lead_filter: str | None = None,
) -> str:
    """The point-in-time query for ``spec`` (default: the demo's).

    At the ``pipeline`` decision it expects a relation ``_snapshots(as_of TIMESTAMP)``, or
    with ``snapshots`` it carries those cutoffs itself as a ``VALUES`` list (for engines
    that plan better with them inline: :attr:`Warehouse.inline_small_relations`); at
    the ``handoff`` decision a relation ``_range(since TIMESTAMP, until TIMESTAMP,
    open_only BOOLEAN)``: every contact whose cutoff is in ``[since, until)`` (with
    ``open_only``, only those with no outcome closed before ``until``: still open). ``decision`` defaults
    to the spec's.

    ``boolean_columns`` names numeric attributes stored as booleans: they become 1.0/0.0
    (PostgreSQL has no boolean-to-double cast). ``features`` restricts the engagement
    columns to these, in this order (default: every engagement feature of the spec); the
    other columns do not change.

    The query is layered so that each aggregate reads as few rows as it can (at 1M contacts
    x 50M events the time goes into the aggregates):

    * ``cutoffs``: each distinct cutoff with the start of every window, computed once;
    * ``spine``: the leads at each cutoff, with their attributes;
    * ``by_type``, ``windowed``: the event counts per type and window, then per lead; with
      recency or first-touch features they read every past event and hold those too (one
      scan of the events for both), otherwise only the longest window's events;
    * ``history``: recency and first touch when the spec has no event counts;
    * ``active_days``, ``day_counts``: distinct active days, as a GROUP BY over (contact,
      cutoff, day) rather than ``count(DISTINCT ...)``, which is the costly part.

    Events are joined in each step, never read through a CTE of their own: an engine may
    materialise a CTE referenced more than once (DuckDB does), which would copy every event.

    With ``per_lead``, the same aggregates are computed lead by lead instead, each in a
    ``LEFT JOIN LATERAL`` subquery over the lead's own events before its cutoff (the same
    expressions; the result is the same frame). An engine that reads a lead's events through
    an index (PostgreSQL with ``events(contact_id, occurred_at)``) then touches only the
    leads' events and never groups or sorts the whole join: a third of the CPU of the
    layered form on PostgreSQL. ``lead_filter`` is a condition on the leads, with
    ``{contact_id}`` standing for their id (e.g. one part of a query split over sessions).
    """
    spec = spec or demo_spec()
    decision = decision or spec.decision
    excluded = spec.excluded_event_types() if decision == "handoff" else ()
    feats = tuple(spec.engagement() if features is None else features)
    unbounded = [f for f in feats if isinstance(f, DaysSinceLast | HoursToFirst)]
    counts = [f for f in feats if isinstance(f, EventCount)]
    day_feats = [f for f in feats if isinstance(f, DistinctDays)]
    bounds = sorted({d for f in counts for d in (f.start_days, f.end_days) if d}
                    | {f.window_days for f in day_feats})  # fmt: skip
    cutoff_cols = "".join(
        f",\n    CAST(as_of AS TIMESTAMP) - INTERVAL '{d}' DAY AS from_{d}d" for d in bounds
    )
    ctes: list[str] = []
    joins: list[str] = []
    history = "h"  # the alias the recency and first-touch columns are read from
    if counts:
        history = "w"
    if per_lead:
        joins = _per_lead_joins(counts, unbounded, day_feats, excluded)
    else:
        if unbounded and not counts:
            ctes.append(_history_cte(unbounded, excluded))
            joins.append("LEFT JOIN history h ON h.contact_id = s.contact_id AND h.as_of = s.as_of")
        if counts:
            ctes += _window_ctes(counts, excluded, unbounded)
            joins.append("LEFT JOIN windowed w ON w.contact_id = s.contact_id AND w.as_of = s.as_of")
        if day_feats:
            ctes += _day_ctes(day_feats, excluded)
            joins.append("LEFT JOIN day_counts a ON a.contact_id = s.contact_id AND a.as_of = s.as_of")
    select_feats = []
    for f in feats:
        if isinstance(f, EventCount):
            select_feats.append(f"CAST(COALESCE(w.{f.name}, 0) AS BIGINT) AS {f.name}")
        elif isinstance(f, DaysSinceLast):
            select_feats.append(
                f"(epoch(s.as_of) - epoch({history}.{f.name})) / 86400.0 AS {f.name}")
        elif isinstance(f, HoursToFirst):
            select_feats.append(
                f"(epoch({history}.{f.name}) - epoch(s.created_at)) / 3600.0 AS {f.name}")
        else:
            select_feats.append(f"COALESCE(a.{f.name}, 0) AS {f.name}")
    if spec.has_time:
        select_feats.insert(
            0, f"(epoch(s.as_of) - epoch(s.created_at)) / 86400.0 AS {AGE_FEATURE}")
    label_sql = ""
    if with_labels:
        if decision == "handoff":
            # a win within the horizon after creation; an undated outcome (a label column
            # without a close time) is the label itself
            window = (f"(o.closed_at IS NULL OR s.created_at IS NULL OR o.closed_at < "
                      f"s.created_at + INTERVAL '{horizon_days}' DAY)")  # fmt: skip
        else:
            window = (f"o.closed_at >= s.as_of AND o.closed_at < s.as_of + INTERVAL "
                      f"'{horizon_days}' DAY")  # fmt: skip
        label_sql = (
            ",\n  CASE WHEN EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = s.contact_id "
            f"AND o.outcome = 'won' AND {window}) THEN 1 ELSE 0 END AS label"
        )
    attrs = _attribute_columns(spec)
    attributes = "".join(f",\n    {_attribute(c, numeric, boolean_columns)}" for c, numeric in attrs)
    steps = "".join(f",\n{cte}" for cte in ctes)
    attribute_cols = "".join(f"s.{c}, " for c, _ in attrs)
    feature_cols = ",\n  ".join(select_feats) or "1 AS _no_features"
    left_joins = "\n".join(joins)
    if decision == "handoff":
        from_cols = "".join(f", cu.from_{d}d" for d in bounds)
        delay = f"INTERVAL '{round(spec.handoff_delay_hours * 3600)}' SECOND"
        head = f"""WITH handoff AS (
  SELECT c.contact_id, c.created_at,
    COALESCE(CAST(c.created_at AS TIMESTAMP), TIMESTAMP '1970-01-01 00:00:00') + {delay} AS as_of{attributes}
  FROM contacts c
),
chosen AS (
  SELECT h.* FROM handoff h, _range r
  WHERE h.as_of >= r.since AND h.as_of < r.until
    AND NOT (r.open_only AND EXISTS (
      SELECT 1 FROM outcomes o WHERE o.contact_id = h.contact_id
        AND (o.closed_at IS NULL OR o.closed_at < r.until))){_lead_filter(lead_filter, "h")}
),
cutoffs AS (
  SELECT DISTINCT as_of{cutoff_cols}
  FROM chosen
),
spine AS (
  SELECT h.*{from_cols}
  FROM chosen h
  JOIN cutoffs cu ON cu.as_of = h.as_of
)"""
    else:
        source = "_snapshots" if snapshots is None else _values_relation(snapshots)
        head = f"""WITH cutoffs AS (
  SELECT CAST(as_of AS TIMESTAMP) AS as_of{cutoff_cols}
  FROM {source}
),
spine AS (
  SELECT c.contact_id, c.created_at, cu.*{attributes}
  FROM contacts c
  JOIN cutoffs cu ON c.created_at < cu.as_of
  WHERE NOT EXISTS (
    SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id
      AND (o.closed_at IS NULL OR o.closed_at < cu.as_of)
  ){_lead_filter(lead_filter, "c")}
)"""
    return f"""
{head}{steps}
SELECT s.contact_id, s.as_of, {attribute_cols}
  {feature_cols}{label_sql}
FROM spine s
{left_joins}
ORDER BY s.as_of, s.contact_id
"""


def _lead_filter(condition: str | None, alias: str) -> str:
    """``condition`` on the leads of alias ``alias`` as an ``AND`` clause ("" without one)."""
    if condition is None:
        return ""
    return f"\n    AND ({condition.replace('{contact_id}', f'{alias}.contact_id')})"


def _values_relation(snapshots: Sequence[datetime]) -> str:
    """``snapshots`` as a relation ``_snapshots(as_of)`` written inline."""
    if not snapshots:
        raise ConfigError("snapshots must name at least one as_of, got an empty list")
    rows = ", ".join(f"(TIMESTAMP '{pd.Timestamp(s):%Y-%m-%d %H:%M:%S.%f}')" for s in snapshots)
    return f"(VALUES {rows}) AS _snapshots(as_of)"


@dataclass(frozen=True)
class LeadFrame:
    """A point-in-time frame and what was left out of it."""

    frame: pd.DataFrame
    censored_rows: int = 0
    open_rows: int = 0  # leads with no outcome yet, left out of a labelled handoff frame


def build_lead_frame(
    wh: Warehouse,
    as_of: Sequence[datetime],
    *,
    with_labels: bool = False,
    horizon_days: int = 90,
    data_end: datetime | None = None,
    spec: FeatureSpec | None = None,
) -> LeadFrame:
    """Compute the pipeline point-in-time lead frame for the snapshots ``as_of`` (see
    module doc) for ``spec`` (default: the demo's).

    With ``with_labels``, ``data_end`` (exclusive end of the observed data) is required:
    rows with ``as_of + horizon_days > data_end`` are censored and counted in the result.
    """
    spec = spec or demo_spec()
    if horizon_days <= 0:
        raise ConfigError(f"horizon_days must be positive, got {horizon_days!r}")
    if not as_of:
        raise ConfigError("as_of must name at least one snapshot, got an empty list")
    if with_labels and data_end is None:
        raise ConfigError("data_end is required with labels (it decides which rows are censored)")
    snaps = sorted({pd.Timestamp(a).to_pydatetime() for a in as_of})
    kept = snaps
    if with_labels:
        assert data_end is not None
        kept = [s for s in snaps if s + timedelta(days=horizon_days) <= data_end]
    censored = 0
    censored_snaps = [s for s in snaps if s not in kept]
    if censored_snaps:
        with wh.registered("_snapshots", pd.DataFrame({"as_of": censored_snaps})):
            censored = int(
                wh.scalar(
                    "SELECT count(*) FROM contacts c JOIN _snapshots sn ON c.created_at < sn.as_of "
                    "WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id "
                    "AND o.closed_at < sn.as_of)"
                )
                or 0
            )
        log.info(
            "censored %d rows at snapshots %s: their %d-day horizon runs past the data end %s",
            censored, [f"{s:%Y-%m-%d}" for s in censored_snaps], horizon_days, data_end,
        )  # fmt: skip
    if not kept:
        return LeadFrame(_empty_frame(with_labels, spec), censored)
    booleans = _booleans(wh)
    per_lead = wh.per_lead_aggregates()
    if wh.inline_small_relations:
        parts = wh.lead_parts() if per_lead else 1  # (the layered form is parallel itself)
        sqls = [lead_frame_sql(with_labels=with_labels, horizon_days=horizon_days,
                               boolean_columns=booleans, spec=spec, decision="pipeline",
                               snapshots=kept, per_lead=per_lead,
                               lead_filter=None if parts == 1 else wh.partition_condition(k, parts))
                for k in range(parts)]  # fmt: skip
        table = wh.query_parts(sqls)
        if parts > 1:  # each part is in order; the whole frame is too
            table = table.sort_by([("as_of", "ascending"), ("contact_id", "ascending")])
        frame = table.to_pandas()
    else:
        sql = lead_frame_sql(with_labels=with_labels, horizon_days=horizon_days,
                             boolean_columns=booleans, spec=spec, decision="pipeline",
                             per_lead=per_lead)  # fmt: skip
        with wh.registered("_snapshots", pd.DataFrame({"as_of": pd.to_datetime(kept)})):
            frame = wh.query(sql)
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    log.info("built lead frame: %d rows over %d snapshot(s)", len(frame), len(kept))
    return LeadFrame(frame, censored)


_EPOCH = datetime(1970, 1, 1)
_FOREVER = datetime(9999, 1, 1)


def build_handoff_frame(
    wh: Warehouse,
    spec: FeatureSpec,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    with_labels: bool = False,
    horizon_days: int | None = None,
    data_end: datetime | None = None,
    open_only: bool = False,
) -> LeadFrame:
    """One row per lead whose handoff cutoff (``created_at`` + the spec's delay) is in
    ``[since, until)`` (default: all), features strictly before it (see module doc). With
    ``open_only`` (scoring), only leads with no outcome closed before ``until``.

    With ``with_labels``: leads whose horizon after creation runs past ``data_end`` and
    that have not won by then are censored (counted, left out); when the label comes from a
    column on the contacts (``spec.label_from == "column"``), leads with no outcome are
    still open (counted in ``open_rows``, left out).
    """
    horizon = horizon_days or spec.horizon_days
    if horizon <= 0:
        raise ConfigError(f"horizon_days must be positive, got {horizon!r}")
    if with_labels and data_end is None and spec.label_from == "outcomes" and spec.has_time:
        raise ConfigError("data_end is required with labels (it decides which rows are censored)")
    lo, hi = since or _EPOCH, until or _FOREVER
    sql = lead_frame_sql(with_labels=with_labels, horizon_days=horizon,
                         boolean_columns=_booleans(wh), spec=spec, decision="handoff",
                         per_lead=wh.per_lead_aggregates())  # fmt: skip
    rng = pd.DataFrame({"since": [pd.Timestamp(lo)], "until": [pd.Timestamp(hi)],
                        "open_only": [open_only]})  # fmt: skip
    with wh.registered("_range", rng):
        frame = wh.query(sql)
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    if "_no_features" in frame.columns:
        frame = frame.drop(columns=["_no_features"])
    censored = open_rows = 0
    if with_labels and until is not None:
        # leads whose handoff is not before ``until`` yet: their decision is still ahead
        delay = f"INTERVAL '{round(spec.handoff_delay_hours * 3600)}' SECOND"
        censored += int(wh.scalar(
            "SELECT count(*) FROM contacts c WHERE COALESCE(CAST(c.created_at AS TIMESTAMP), "
            f"TIMESTAMP '1970-01-01 00:00:00') + {delay} >= CAST(? AS TIMESTAMP)", [hi]) or 0)  # fmt: skip
    if with_labels:
        known = _known_outcome_ids(wh, spec)
        has_outcome = frame["contact_id"].isin(known)
        if spec.label_from == "column":
            keep = has_outcome.to_numpy()
            open_rows = int((~keep).sum())
        else:
            assert data_end is not None or not spec.has_time
            if spec.has_time and data_end is not None:
                created = frame["as_of"] - pd.Timedelta(hours=spec.handoff_delay_hours)
                observed = created + pd.Timedelta(days=horizon) <= pd.Timestamp(data_end)
                keep = (observed | (frame["label"] == 1)).to_numpy()
            else:
                keep = pd.Series(True, index=frame.index).to_numpy()
            censored += int((~keep).sum())
        frame = frame[keep].reset_index(drop=True)
    log.info("built handoff frame: %d rows (%d censored, %d open)", len(frame), censored,
             open_rows)  # fmt: skip
    return LeadFrame(frame, censored, open_rows)


def _known_outcome_ids(wh: Warehouse, spec: FeatureSpec) -> pd.Series:
    return wh.query("SELECT DISTINCT contact_id FROM outcomes")["contact_id"]


def _booleans(wh: Warehouse) -> list[str]:
    return [c for c, t in wh.columns("contacts").items() if t == "BOOLEAN"]


def lead_frame_columns(with_labels: bool, spec: FeatureSpec | None = None) -> list[str]:
    """The output columns of :func:`build_lead_frame` (and :func:`build_handoff_frame`)."""
    spec = spec or demo_spec()
    cols = ["contact_id", "as_of", *(c for c, _ in _attribute_columns(spec))]
    if spec.has_time:
        cols.append(AGE_FEATURE)
    cols += list(spec.engagement_names())
    return [*cols, "label"] if with_labels else cols


def _empty_frame(with_labels: bool, spec: FeatureSpec) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64")
                         for c in lead_frame_columns(with_labels, spec)})  # fmt: skip
