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

from features._definitions import (
    AGE_FEATURE,
    DaysSinceLast,
    DistinctDays,
    EventCount,
    Feature,
    HoursToFirst,
    engagement_features,
)
from features._errors import ConfigError
from features._schema import CONTACT_COLUMNS
from features._warehouse import Warehouse

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


def _type_filter(event_types: Sequence[str]) -> str:
    return f"e.event_type IN ({_sql_list(event_types)})" if event_types else "TRUE"


def _aggregate(feature: Feature) -> str | None:
    """The aggregate expression over joined events ``e`` and spine ``s`` (None: computed apart)."""
    if isinstance(feature, EventCount):
        conds = [
            _type_filter(feature.event_types),
            f"e.occurred_at >= s.as_of - INTERVAL '{feature.start_days}' DAY",
        ]
        if feature.end_days:
            conds.append(f"e.occurred_at < s.as_of - INTERVAL '{feature.end_days}' DAY")
        # BIGINT: a plain SUM is HUGEINT in DuckDB, which reaches pandas as Python objects
        return f"CAST(SUM(CASE WHEN {' AND '.join(conds)} THEN 1 ELSE 0 END) AS BIGINT)"  # fmt: skip
    if isinstance(feature, DaysSinceLast):
        return f"MAX(CASE WHEN {_type_filter(feature.event_types)} THEN e.occurred_at END)"
    if isinstance(feature, HoursToFirst):
        return f"MIN(CASE WHEN {_type_filter((feature.event_type,))} THEN e.occurred_at END)"
    return None


def lead_frame_sql(
    *, with_labels: bool, horizon_days: int, boolean_columns: Sequence[str] = ()
) -> str:
    """The point-in-time query. Expects a relation ``_snapshots(as_of TIMESTAMP)``.

    ``boolean_columns`` names numeric attributes stored as booleans: they become 1.0/0.0
    (PostgreSQL has no boolean-to-double cast)."""
    feats = engagement_features()
    agg_cols = []
    for f in feats:
        expr = _aggregate(f)
        if expr is not None:
            agg_cols.append(f"{expr} AS {f.name}")
    day_feats = [f for f in feats if isinstance(f, DistinctDays)]
    max_day_window = max((f.window_days for f in day_feats), default=0)
    day_cols = [
        f"CAST(SUM(CASE WHEN d.day >= CAST(d.as_of - INTERVAL '{f.window_days}' DAY AS DATE) "
        f"THEN 1 ELSE 0 END) AS BIGINT) AS {f.name}"
        for f in day_feats
    ]
    select_feats = []
    for f in feats:
        if isinstance(f, EventCount):
            select_feats.append(f"COALESCE(a.{f.name}, 0) AS {f.name}")
        elif isinstance(f, DaysSinceLast):
            select_feats.append(f"(epoch(s.as_of) - epoch(a.{f.name})) / 86400.0 AS {f.name}")
        elif isinstance(f, HoursToFirst):
            select_feats.append(f"(epoch(a.{f.name}) - epoch(s.created_at)) / 3600.0 AS {f.name}")
        elif isinstance(f, DistinctDays):
            select_feats.append(f"COALESCE(dd.{f.name}, 0) AS {f.name}")
    attr_select = []
    for c in LEAD_ATTRIBUTE_COLUMNS:
        if c in NUMERIC_ATTRIBUTES and c in boolean_columns:
            attr_select.append(
                f"CAST(CASE WHEN c.{c} THEN 1 WHEN NOT c.{c} THEN 0 END AS DOUBLE) AS {c}"
            )
        elif c in NUMERIC_ATTRIBUTES:
            attr_select.append(f"CAST(c.{c} AS DOUBLE) AS {c}")
        else:
            attr_select.append(f"CAST(c.{c} AS VARCHAR) AS {c}")
    label_sql = ""
    if with_labels:
        label_sql = (
            ",\n  CASE WHEN EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = s.contact_id "
            "AND o.outcome = 'won' AND o.closed_at >= s.as_of "
            f"AND o.closed_at < s.as_of + INTERVAL '{horizon_days}' DAY) THEN 1 ELSE 0 END AS label"
        )
    newline = ",\n    "
    sep = ",\n  "
    return f"""
WITH spine AS (
  SELECT c.contact_id, c.created_at, CAST(sn.as_of AS TIMESTAMP) AS as_of
  FROM contacts c
  JOIN _snapshots sn ON c.created_at < sn.as_of
  WHERE NOT EXISTS (
    SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id AND o.closed_at < sn.as_of
  )
),
agg AS (
  SELECT s.contact_id, s.as_of,
    {newline.join(agg_cols)}
  FROM spine s
  JOIN events e ON e.contact_id = s.contact_id AND e.occurred_at < s.as_of
  GROUP BY s.contact_id, s.as_of
),
active_days AS (
  SELECT DISTINCT s.contact_id, s.as_of, CAST(e.occurred_at AS DATE) AS day
  FROM spine s
  JOIN events e ON e.contact_id = s.contact_id AND e.occurred_at < s.as_of
   AND e.occurred_at >= s.as_of - INTERVAL '{max_day_window}' DAY
),
dd AS (
  SELECT d.contact_id, d.as_of,
    {newline.join(day_cols)}
  FROM active_days d
  GROUP BY d.contact_id, d.as_of
)
SELECT s.contact_id, s.as_of,
  {", ".join(attr_select)},
  (epoch(s.as_of) - epoch(s.created_at)) / 86400.0 AS {AGE_FEATURE},
  {sep.join(select_feats)}{label_sql}
FROM spine s
JOIN contacts c ON c.contact_id = s.contact_id
LEFT JOIN agg a ON a.contact_id = s.contact_id AND a.as_of = s.as_of
LEFT JOIN dd ON dd.contact_id = s.contact_id AND dd.as_of = s.as_of
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
