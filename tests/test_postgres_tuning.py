"""PostgreSQL shaped for the point-in-time query: session settings, CTEs inlined, snapshots
carried inline, the events index created (or recommended when the role may not).

The values the oracle tests check (tests/test_point_in_time.py, run on PostgreSQL too) do not
change with any of this; these tests check the settings and the index themselves.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from leadscore.features import ConfigError, LeadscoreError, Warehouse, build_lead_frame
from leadscore.features._point_in_time import lead_frame_sql
from leadscore.features._postgres import PG_PARTS_ENV, PG_WORK_MEM_ENV
from leadscore.features._validation import validate_warehouse

from tests.conftest import WarehouseFactory, contacts_frame, events_frame, outcomes_frame
from tests.engines import empty_warehouse, postgres_base_url

POSTGRES = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


def _narrated(make_warehouse: WarehouseFactory) -> str:
    # contact 1: two events; contact 2: none
    return make_warehouse(
        contacts=contacts_frame([{"contact_id": 1, "created_at": "2025-01-01"},
                                 {"contact_id": 2, "created_at": "2025-01-02"}]),
        events=events_frame([(1, "2025-02-01 09:00:00", "email_open"),
                             (1, "2025-02-02 09:00:00", "page_view")]),
        outcomes=outcomes_frame([]),
    )  # fmt: skip


@POSTGRES
def test_sessions_get_work_mem_and_no_jit(
    make_warehouse: WarehouseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _narrated(make_warehouse)
    with Warehouse(url, read_only=True) as wh:
        assert wh.scalar("SELECT current_setting('work_mem')") == "256MB"
        assert wh.scalar("SELECT current_setting('jit')") == "off"
    monkeypatch.setenv(PG_WORK_MEM_ENV, "64MB")
    with Warehouse(url, read_only=True) as wh:
        assert wh.scalar("SELECT current_setting('work_mem')") == "64MB"
    monkeypatch.setenv(PG_WORK_MEM_ENV, "lots")
    with pytest.raises(ConfigError, match=f"{PG_WORK_MEM_ENV} must be an amount of memory"):
        Warehouse(url, read_only=True)


@POSTGRES
def test_full_scans_compile_with_jit_and_put_it_back(make_warehouse: WarehouseFactory) -> None:
    # validation's scans of whole tables run with JIT (the session's default is off), and the
    # session is as it was after them, also when one fails
    url = _narrated(make_warehouse)
    with Warehouse(url, read_only=True) as wh:
        with wh.full_scans():
            assert wh.scalar("SELECT current_setting('jit')") == "on"
        assert wh.scalar("SELECT current_setting('jit')") == "off"
        with pytest.raises(LeadscoreError), wh.full_scans():
            wh.scalar("SELECT no_such_column FROM contacts")
        assert wh.scalar("SELECT current_setting('jit')") == "off"
        seen: list[str] = []
        real = wh.query_arrow

        def spy(sql: str, params: object = None) -> object:
            seen.append(str(real("SELECT current_setting('jit') AS jit").column(0)[0]))
            return real(sql, params)  # type: ignore[arg-type]

        wh.query_arrow = spy  # type: ignore[method-assign, assignment]
        validate_warehouse(wh, fingerprint=True)
        wh.query_arrow = real  # type: ignore[method-assign]
        # the three tables' scans (with their row hashes) had JIT; the rest did not
        assert seen.count("on") == 3 and "on,on,on" in ",".join(seen) and seen[-1] == "off", seen


@POSTGRES
def test_every_cte_is_inlined_and_the_snapshots_are_values(
    make_warehouse: WarehouseFactory,
) -> None:
    url = _narrated(make_warehouse)
    sql = lead_frame_sql(with_labels=False, horizon_days=90,
                         snapshots=[datetime(2025, 3, 1), datetime(2025, 3, 1, 12)])  # fmt: skip
    with Warehouse(url, read_only=True) as wh:
        native = wh.translate(sql)
    # cutoffs, spine, by_type, windowed, active_days, day_counts: none left to materialise
    assert native.count(" AS NOT MATERIALIZED (") == 6
    assert " AS (" not in native.replace("AS (VALUES", "")
    assert "_snapshots(as_of)" in native and "FROM _snapshots" not in native
    assert "'2025-03-01 12:00:00" in native


@POSTGRES
def test_the_events_index_is_created_once(make_warehouse: WarehouseFactory) -> None:
    url = _narrated(make_warehouse)
    with Warehouse(url) as wh:
        assert wh.ensure_index("events", ["contact_id", "occurred_at"], ["event_type"]) == "created"
        assert wh.ensure_index("events", ["contact_id", "occurred_at"], ["event_type"]) == "exists"
        defs = wh.query("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                        "AND tablename = 'events'")["indexdef"].tolist()  # fmt: skip
    assert len(defs) == 1
    assert defs[0].endswith("USING btree (contact_id, occurred_at) INCLUDE (event_type)")


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(owner URL, URL of a role that may read the schema's tables but owns none)."""
    base = postgres_base_url()
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with empty_warehouse("postgresql", tmp_path) as url:
        schema = url.rsplit("schema=", 1)[1]
        with Warehouse(url) as wh:
            wh.write_table("events", events_frame([(1, "2025-02-01 09:00:00", "email_open")]))
            wh.execute(f'CREATE ROLE "{role}" LOGIN')
            wh.execute(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"')
            wh.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        user_url = base.replace("://leadscore@", f"://{role}@")
        assert user_url != base, "the test server's URL names user leadscore"
        try:
            yield url, f"{user_url}{'&' if '?' in user_url else '?'}schema={schema}"
        finally:
            with Warehouse(base) as wh:
                wh.execute(f'DROP OWNED BY "{role}"')
                wh.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_role_that_cannot_index_gets_the_statement_to_run(
    reader: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    owner, user = reader
    with caplog.at_level(logging.WARNING), Warehouse(user) as wh:
        outcome = wh.ensure_index("events", ["contact_id", "occurred_at"], ["event_type"])
    assert outcome == "recommended"
    assert ('ask the table\'s owner to run: CREATE INDEX IF NOT EXISTS '
            '"leadscore_events_contact_id_occurred_at" ON "events" ("contact_id", '
            '"occurred_at") INCLUDE ("event_type")') in caplog.text  # fmt: skip
    with Warehouse(owner, read_only=True) as wh:  # nothing was created
        assert wh.scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() "
                         "AND tablename = 'events'") == 0  # fmt: skip


@POSTGRES
@pytest.mark.parametrize("ids", ["numbers", "texts"])
def test_the_parts_of_a_split_query_hold_every_lead_once(make_warehouse: WarehouseFactory,
                                                         ids: str) -> None:  # fmt: skip
    # partition_condition puts each id in exactly one of the parts, for ids of any type.
    contacts = contacts_frame([{"contact_id": i, "created_at": "2025-01-01"}
                               for i in range(1, 301)])  # fmt: skip
    if ids == "texts":
        contacts["contact_id"] = [f"crm-{i:05d}" for i in range(1, 301)]
    url = make_warehouse(contacts=contacts, events=events_frame([]), outcomes=outcomes_frame([]))
    with Warehouse(url, read_only=True) as wh:
        every = set(wh.query("SELECT contact_id FROM contacts")["contact_id"])
        parts = [set(wh.query("SELECT contact_id FROM contacts c WHERE " +
                              wh.partition_condition(k, 3).replace("{contact_id}", "c.contact_id")
                              )["contact_id"]) for k in range(3)]  # fmt: skip
    assert set().union(*parts) == every and sum(len(p) for p in parts) == len(every) == 300
    assert all(60 <= len(p) <= 140 for p in parts), [len(p) for p in parts]


@POSTGRES
def test_the_parts_run_on_one_exported_snapshot_and_errors_name_the_part(
    make_warehouse: WarehouseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each part runs on a session of its own; all of them read the snapshot this session
    # exported, so the same transactions are visible to every part.
    url = _narrated(make_warehouse)
    with Warehouse(url, read_only=True) as wh:
        sql = ("SELECT CAST(pg_current_snapshot() AS VARCHAR) AS snap, pg_backend_pid() AS pid, "
               "current_setting('max_parallel_workers_per_gather') AS workers")  # fmt: skip
        rows = wh.query_parts([sql] * 3).to_pandas()
        assert rows["snap"].nunique() == 1 and rows["pid"].nunique() == 3
        assert set(rows["workers"]) == {"0"}
        with pytest.raises(LeadscoreError, match="no_such_column"):
            wh.query_parts(["SELECT 1 AS x", "SELECT no_such_column FROM contacts"])
        # the session is out of the exported snapshot's transaction, and usable
        assert wh.scalar("SELECT count(*) FROM contacts") == 2
        assert wh.lead_parts() == 3  # the server's default: 2 workers per gather + the leader
    monkeypatch.setenv(PG_PARTS_ENV, "2")
    with Warehouse(url, read_only=True) as wh:
        assert wh.lead_parts() == 2
        monkeypatch.setenv(PG_PARTS_ENV, "none")
        with pytest.raises(ConfigError, match=f"{PG_PARTS_ENV} must be a whole number"):
            wh.lead_parts()


@POSTGRES
def test_a_frame_split_over_sessions_is_the_frame_of_one(
    make_warehouse: WarehouseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 40 leads (one closed before both cutoffs) with events before and after the cutoffs:
    # the frame built in 3 parts on 3 sessions equals the frame of one query, row for row
    # and in the same order.
    contacts = contacts_frame([{"contact_id": i, "created_at": f"2025-01-{1 + i % 28:02d}"}
                               for i in range(1, 41)])  # fmt: skip
    events = events_frame([(i, f"2025-{2 + (i + k) % 3:02d}-{1 + (i * k) % 28:02d} 09:00:00",
                            ("email_open", "page_view", "demo_request")[k % 3])
                           for i in range(1, 41) for k in range(i % 7)])  # fmt: skip
    url = make_warehouse(contacts=contacts, events=events,
                         outcomes=outcomes_frame([(5, "2025-02-15", "won")]))  # fmt: skip
    snapshots = [datetime(2025, 3, 1), datetime(2025, 4, 1)]
    with Warehouse(url) as wh:
        # without an index on the events' contact ids, the layered form (a subquery per
        # lead would scan every event); with one, per lead
        assert not wh.per_lead_aggregates()
        layered = build_lead_frame(wh, snapshots).frame
        wh.ensure_index("events", ["contact_id", "occurred_at"], ["event_type"])
        assert wh.per_lead_aggregates()
    frames = []
    for parts in ("1", "3"):
        monkeypatch.setenv(PG_PARTS_ENV, parts)
        with Warehouse(url, read_only=True) as wh:
            frames.append(build_lead_frame(wh, snapshots).frame)
    assert len(frames[0]) == 39 + 39 and frames[0]["events_90d"].sum() > 0
    pd.testing.assert_frame_equal(frames[0], layered)
    pd.testing.assert_frame_equal(frames[1], frames[0])
