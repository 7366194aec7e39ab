"""Sales capacity: how many leads the team actually works, read from the data."""

from __future__ import annotations

from datetime import datetime

from leadscore.features._schema import SALES_TOUCH
from leadscore.features._warehouse import Warehouse


def weekly_leads_worked(wh: Warehouse, start: datetime, end: datetime) -> float:
    """Median number of distinct contacts receiving their *first* sales touch per week,
    over the whole weeks in ``[start, end)``. Zero when nobody was touched."""
    value = wh.scalar(
        f"""
        WITH first_touch AS (
          SELECT contact_id, min(occurred_at) AS touched_at
          FROM events WHERE event_type = '{SALES_TOUCH}' AND occurred_at < CAST(? AS TIMESTAMP)
          GROUP BY contact_id
        ),
        weeks AS (
          SELECT date_trunc('week', touched_at) AS week, count(*) AS n
          FROM first_touch
          WHERE touched_at >= CAST(? AS TIMESTAMP) AND touched_at < CAST(? AS TIMESTAMP)
          GROUP BY 1
        )
        SELECT median(n) FROM weeks
        """,
        [end, start, end],
    )
    return float(value or 0.0)
