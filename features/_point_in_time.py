"""Point-in-time lead frames: one row per (open contact, as_of), features strictly before it.

This module is the one place where the cutoff lives. For each snapshot ``as_of``:

* the **spine** holds every contact with ``created_at < as_of`` and no outcome with
  ``closed_at < as_of`` (an outcome exactly at ``as_of`` is in the future: the lead is open);
* **features** use only events with ``occurred_at < as_of``; a window of N days is
  ``as_of - N days <= occurred_at < as_of``;
* the **label** (training only) is 1 when the contact has a ``won`` outcome with
  ``as_of <= closed_at < as_of + horizon``. Rows whose horizon runs past ``data_end`` are
  *censored*: excluded and counted, never labelled 0.

Output columns, in order: ``contact_id``, ``as_of``, the raw contact attributes
(:data:`LEAD_ATTRIBUTE_COLUMNS`), ``days_since_created``, every engagement feature of
:func:`features._definitions.engagement_features`, and with labels ``label``.
The SQL is written once in DuckDB's dialect from the feature definitions.
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
    engagement_features,
)
from leadscore.features._errors import ConfigError
from leadscore.features._schema import CONTACT_COLUMNS
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


def _attribute(column: str, boolean_columns: Sequence[str]) -> str:
    if column in NUMERIC_ATTRIBUTES and column in boolean_columns:
        return f"CAST(CASE WHEN c.{column} THEN 1 WHEN NOT c.{column} THEN 0 END AS DOUBLE) AS {column}"  # fmt: skip
    if column in NUMERIC_ATTRIBUTES:
        return f"CAST(c.{column} AS DOUBLE) AS {column}"
    return f"CAST(c.{column} AS VARCHAR) AS {column}"


_NL = ",\n    "
# Every event join: events before the row's cutoff; the WHERE lets the scan skip events
# after the last snapshot before they reach the join.
_EVENTS_BEFORE_CUTOFF = """FROM spine s
  JOIN events e ON e.contact_id = s.contact_id AND e.occurred_at < s.as_of"""
_BEFORE_LAST_CUTOFF = "e.occurred_at < (SELECT MAX(as_of) FROM cutoffs)"


def _history_cte(feats: Sequence[DaysSinceLast | HoursToFirst]) -> str:
    """Unbounded features (recency, first touch) over every event before the cutoff."""
    cols = []
    for f in feats:
        if isinstance(f, DaysSinceLast):
            agg = _filtered("MAX(e.occurred_at)", _of_types("e.event_type", f.event_types))
        else:
            agg = _filtered("MIN(e.occurred_at)", _of_types("e.event_type", (f.event_type,)))
        cols.append(f"{agg} AS {f.name}")
    return f"""history AS (
  SELECT s.contact_id, s.as_of,
    {_NL.join(cols)}
  {_EVENTS_BEFORE_CUTOFF}
  WHERE {_BEFORE_LAST_CUTOFF}
  GROUP BY s.contact_id, s.as_of
)"""


def _window_ctes(feats: Sequence[EventCount]) -> list[str]:
    """Event counts: per (contact, snapshot, event type) one count per distinct window, over
    the events of the longest window only; then one row per (contact, snapshot) with, per
    feature, the right window's count summed over the right types.

    The counts are INTEGER until the final SELECT and a single type's count is taken with MAX
    (``by_type`` has one row per type, so MAX is that row's count): DuckDB keeps a 128-bit
    state per SUM, and the pivot's ~40 states per row were most of the query's memory."""
    longest = max(f.start_days for f in feats)
    per_type = []
    for start, end in sorted({(f.start_days, f.end_days) for f in feats}):
        conds = [] if start == longest else [f"e.occurred_at >= s.from_{start}d"]
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
    by_type = f"""by_type AS (
  SELECT s.contact_id, s.as_of, e.event_type,
    {_NL.join(per_type)}
  {_EVENTS_BEFORE_CUTOFF}
   AND e.occurred_at >= s.from_{longest}d
  WHERE {_BEFORE_LAST_CUTOFF}
   AND e.occurred_at >= (SELECT MIN(from_{longest}d) FROM cutoffs)
  GROUP BY s.contact_id, s.as_of, e.event_type
)"""
    windowed = f"""windowed AS (
  SELECT t.contact_id, t.as_of,
    {_NL.join(pivot)}
  FROM by_type t
  GROUP BY t.contact_id, t.as_of
)"""
    return [by_type, windowed]


def _day_ctes(feats: Sequence[DistinctDays]) -> list[str]:
    """Distinct active days: one row per (contact, snapshot, calendar day with an event in the
    longest window) holding the day's last event; a day is active in a window when that last
    event is in it (every event is before the cutoff)."""
    longest = max(f.window_days for f in feats)
    active_days = f"""active_days AS (
  SELECT s.contact_id, s.as_of, MAX(e.occurred_at) AS last_at
  {_EVENTS_BEFORE_CUTOFF}
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


def lead_frame_sql(
    *,
    with_labels: bool,
    horizon_days: int,
    boolean_columns: Sequence[str] = (),
    features: Sequence[Feature] | None = None,
) -> str:
    """The point-in-time query. Expects a relation ``_snapshots(as_of TIMESTAMP)``.

    ``boolean_columns`` names numeric attributes stored as booleans: they become 1.0/0.0
    (PostgreSQL has no boolean-to-double cast). ``features`` restricts the engagement
    columns to these, in this order (default: every feature of
    :func:`~features._definitions.engagement_features`); the other columns do not change.

    The query is layered so that each aggregate reads as few rows as it can (at 1M contacts
    x 50M events the time goes into the aggregates):

    * ``cutoffs``: each snapshot with the start of every window, computed once;
    * ``spine``: the open contacts at each snapshot, with their attributes;
    * ``history``: recency and first touch, the only step that reads every past event
      (a narrow aggregate);
    * ``by_type``, ``windowed``: the event counts, over the longest window's events only;
    * ``active_days``, ``day_counts``: distinct active days, as a GROUP BY over (contact,
      snapshot, day) rather than ``count(DISTINCT ...)``, which is the costly part.

    Events are joined in each step, never read through a CTE of their own: an engine may
    materialise a CTE referenced more than once (DuckDB does), which would copy every event.
    """
    feats = tuple(engagement_features() if features is None else features)
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
    if unbounded:
        ctes.append(_history_cte(unbounded))
        joins.append("LEFT JOIN history h ON h.contact_id = s.contact_id AND h.as_of = s.as_of")
    if counts:
        ctes += _window_ctes(counts)
        joins.append("LEFT JOIN windowed w ON w.contact_id = s.contact_id AND w.as_of = s.as_of")
    if day_feats:
        ctes += _day_ctes(day_feats)
        joins.append("LEFT JOIN day_counts a ON a.contact_id = s.contact_id AND a.as_of = s.as_of")
    select_feats = []
    for f in feats:
        if isinstance(f, EventCount):
            select_feats.append(f"CAST(COALESCE(w.{f.name}, 0) AS BIGINT) AS {f.name}")
        elif isinstance(f, DaysSinceLast):
            select_feats.append(f"(epoch(s.as_of) - epoch(h.{f.name})) / 86400.0 AS {f.name}")
        elif isinstance(f, HoursToFirst):
            select_feats.append(f"(epoch(h.{f.name}) - epoch(s.created_at)) / 3600.0 AS {f.name}")
        else:
            select_feats.append(f"COALESCE(a.{f.name}, 0) AS {f.name}")
    label_sql = ""
    if with_labels:
        label_sql = (
            ",\n  CASE WHEN EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = s.contact_id "
            "AND o.outcome = 'won' AND o.closed_at >= s.as_of "
            f"AND o.closed_at < s.as_of + INTERVAL '{horizon_days}' DAY) THEN 1 ELSE 0 END AS label"
        )
    attributes = ", ".join(_attribute(c, boolean_columns) for c in LEAD_ATTRIBUTE_COLUMNS)
    steps = "".join(f",\n{cte}" for cte in ctes)
    attribute_cols = ", ".join(f"s.{c}" for c in LEAD_ATTRIBUTE_COLUMNS)
    feature_cols = ",\n  ".join(select_feats)
    left_joins = "\n".join(joins)
    return f"""
WITH cutoffs AS (
  SELECT CAST(as_of AS TIMESTAMP) AS as_of{cutoff_cols}
  FROM _snapshots
),
spine AS (
  SELECT c.contact_id, c.created_at, cu.*,
    {attributes}
  FROM contacts c
  JOIN cutoffs cu ON c.created_at < cu.as_of
  WHERE NOT EXISTS (
    SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id AND o.closed_at < cu.as_of
  )
){steps}
SELECT s.contact_id, s.as_of,
  {attribute_cols},
  (epoch(s.as_of) - epoch(s.created_at)) / 86400.0 AS {AGE_FEATURE},
  {feature_cols}{label_sql}
FROM spine s
{left_joins}
ORDER BY s.as_of, s.contact_id
"""


@dataclass(frozen=True)
class LeadFrame:
    """A point-in-time frame and what was left out of it."""

    frame: pd.DataFrame
    censored_rows: int = 0


def build_lead_frame(
    wh: Warehouse,
    as_of: Sequence[datetime],
    *,
    with_labels: bool = False,
    horizon_days: int = 90,
    data_end: datetime | None = None,
) -> LeadFrame:
    """Compute the point-in-time lead frame for the snapshots ``as_of`` (see module doc).

    With ``with_labels``, ``data_end`` (exclusive end of the observed data) is required:
    rows with ``as_of + horizon_days > data_end`` are censored and counted in the result.
    """
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
        return LeadFrame(_empty_frame(with_labels), censored)
    booleans = [c for c, t in wh.columns("contacts").items() if t == "BOOLEAN"]
    sql = lead_frame_sql(
        with_labels=with_labels, horizon_days=horizon_days, boolean_columns=booleans
    )
    with wh.registered("_snapshots", pd.DataFrame({"as_of": pd.to_datetime(kept)})):
        frame = wh.query(sql)
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    log.info("built lead frame: %d rows over %d snapshot(s)", len(frame), len(kept))
    return LeadFrame(frame, censored)


def lead_frame_columns(with_labels: bool) -> list[str]:
    """The output columns of :func:`build_lead_frame`, in order."""
    cols = ["contact_id", "as_of", *LEAD_ATTRIBUTE_COLUMNS, AGE_FEATURE]
    cols += [f.name for f in engagement_features()]
    return [*cols, "label"] if with_labels else cols


def _empty_frame(with_labels: bool) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in lead_frame_columns(with_labels)})
