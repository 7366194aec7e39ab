"""Snapshot calendars: the ``as_of`` instants training data is cut at."""

from __future__ import annotations

from datetime import datetime

from leadscore.features._errors import ConfigError


def quarter_starts(start: datetime, end: datetime) -> list[datetime]:
    """Every quarter boundary (Jan 1, Apr 1, Jul 1, Oct 1 at 00:00) with ``start < t <= end``.

    A snapshot at a quarter start is "as of the end of the previous quarter": features see
    that quarter, labels look into the next one.
    """
    if end <= start:
        raise ConfigError(
            f"end must be after start, got start={start:%Y-%m-%d}, end={end:%Y-%m-%d}"
        )
    month = ((start.month - 1) // 3) * 3 + 1
    current = datetime(start.year, month, 1)
    out: list[datetime] = []
    while current <= end:
        if current > start:
            out.append(current)
        month = current.month + 3
        current = datetime(current.year + (month > 12), (month - 1) % 12 + 1, 1)
    return out
