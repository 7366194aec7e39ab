"""Shared fixtures: small warehouses written to real DuckDB files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from features import Warehouse

CONTACT_DEFAULTS = {
    "title": "VP Sales",
    "company_size": 250,
    "industry": "software",
    "country": "US",
    "lead_source": "organic_search",
    "email_domain": "acme.com",
    "phone_valid": True,
    "buying_timeline": "0-3 months",
    "requested_demo": False,
}


def contacts_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Contacts with sensible defaults for every attribute not given."""
    full = [{**CONTACT_DEFAULTS, **r} for r in rows]
    frame = pd.DataFrame(full)
    frame["created_at"] = pd.to_datetime(frame["created_at"], format="ISO8601")
    return frame[["contact_id", "created_at", *CONTACT_DEFAULTS]]


def events_frame(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    """Events from (contact_id, occurred_at, event_type) tuples."""
    frame = pd.DataFrame(rows, columns=["contact_id", "occurred_at", "event_type"])
    frame["contact_id"] = frame["contact_id"].astype("int64")
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], format="ISO8601")
    return frame


def outcomes_frame(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    """Outcomes from (contact_id, closed_at, outcome) tuples."""
    frame = pd.DataFrame(rows, columns=["contact_id", "closed_at", "outcome"])
    frame["contact_id"] = frame["contact_id"].astype("int64")
    frame["closed_at"] = pd.to_datetime(frame["closed_at"], format="ISO8601")
    frame["amount"] = 1000.0
    return frame


WarehouseFactory = Callable[..., str]


@pytest.fixture
def make_warehouse(tmp_path: Path) -> WarehouseFactory:
    """Write the given frames as tables of a fresh DuckDB file; returns its URL."""
    counter = {"n": 0}

    def _make(**tables: pd.DataFrame) -> str:
        counter["n"] += 1
        url = f"duckdb:///{tmp_path}/wh{counter['n']}.duckdb"
        with Warehouse(url) as wh:
            for name, frame in tables.items():
                wh.write_table(name, frame)
        return url

    return _make
