"""Shared fixtures: small warehouses written to real DuckDB files, or to every engine.

A test marked ``@pytest.mark.all_engines`` that uses ``make_warehouse`` (or ``engine``) runs
once per engine of :data:`tests.engines.ENGINES`; unmarked tests use DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from leadscore.features import Warehouse

from tests.engines import ENGINES, empty_warehouse, engine_summary, record_report

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


def open_contacts(url: str, as_of: datetime) -> set[int]:
    """Brute force: contacts created before ``as_of`` with no outcome closed before it."""
    with Warehouse(url, read_only=True) as wh:
        contacts = wh.query("SELECT contact_id, created_at FROM contacts")
        outcomes = wh.query("SELECT contact_id, closed_at FROM outcomes")
    closed = set(outcomes.loc[outcomes["closed_at"] < as_of, "contact_id"])
    created = contacts.loc[contacts["created_at"] < as_of, "contact_id"]
    return {int(c) for c in created if c not in closed}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("all_engines"):
        metafunc.parametrize("engine", ENGINES, indirect=True)


_ENGINE_OF: dict[str, str] = {}  # test node id -> its ``engine`` parameter


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("engine") in ENGINES:
            _ENGINE_OF[item.nodeid] = params["engine"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record_report(report, _ENGINE_OF.get(report.nodeid))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which engines ran and which were skipped, and why (tests/engines.py)."""
    terminalreporter.section("engines")
    for line in engine_summary():
        terminalreporter.write_line(line)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The engine under test: each of ENGINES for ``all_engines`` tests, else DuckDB."""
    return str(getattr(request, "param", "duckdb"))


@pytest.fixture
def make_warehouse(engine: str, tmp_path: Path) -> Iterator[WarehouseFactory]:
    """Write the given frames as tables of a fresh warehouse on ``engine``; returns its URL."""
    with ExitStack() as stack:

        def _make(**tables: pd.DataFrame) -> str:
            url = stack.enter_context(empty_warehouse(engine, tmp_path))
            with Warehouse(url) as wh:
                for name, frame in tables.items():
                    wh.write_table(name, frame)
            return url

        yield _make
