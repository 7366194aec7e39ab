"""The pipeline "features, then score" validates the source tables once, not twice.

`leadscore features` records the fingerprint of the tables it validated
(``Warehouse.fingerprint``) next to its partition; `leadscore score --features-table` skips
validating again only while that fingerprint still matches: any insert, delete or update of
a source row makes it validate again, and bad data then stops it with the usual
ContractViolations, the previous scores kept. Runs on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from leadscore.features import ContractViolations, Warehouse
from leadscore.features._warehouse import copy_tables
from leadscore.serving._batch import (
    VALIDATIONS,
    ScoreConfig,
    ScoringError,
    materialise_features,
    score_warehouse,
)
from leadscore.training import TrainResult

from tests.conftest import WarehouseFactory, contacts_frame, events_frame, outcomes_frame
from tests.engines import copied_warehouse
from tests.servers import generate_and_train, tracking_store, tracking_uri

TRAIN_AS_OF = datetime(2026, 1, 1)
AS_OF = datetime(2025, 11, 15)
ENGINES = pytest.mark.parametrize("engine", ["duckdb", "postgresql"], indirect=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, TrainResult]]:
    """A generated DuckDB warehouse with a registered champion, its store's folder."""
    root = tmp_path_factory.mktemp("reuse")
    with tracking_store(root):
        url, result = generate_and_train(root, n_contacts=3_000, seed=5, as_of=TRAIN_AS_OF)
        yield url, root, result


@pytest.fixture
def warehouse(engine: str, source: tuple[str, Path, TrainResult], tmp_path: Path) -> Iterator[str]:
    """A fresh warehouse on ``engine`` holding a copy of the source's tables."""
    with copied_warehouse(engine, source[0], tmp_path) as url:
        yield url


def _fingerprint(url: str) -> str | None:
    with Warehouse(url, read_only=True) as wh:
        return wh.fingerprint(["contacts", "events", "outcomes"])


def _execute(url: str, sql: str, params: list[object] | None = None) -> None:
    with Warehouse(url) as wh:
        wh.execute(sql, params)


@ENGINES
def test_the_fingerprint_changes_with_any_row_and_only_then(
    engine: str, make_warehouse: WarehouseFactory
) -> None:
    # contact 1 with two events, contact 2 with one; then edits that keep the row count
    contacts = contacts_frame([{"contact_id": 1, "created_at": "2025-01-01"},
                               {"contact_id": 2, "created_at": "2025-02-01"}])  # fmt: skip
    events = events_frame([(1, "2025-03-01 10:00:00", "email_open"),
                           (1, "2025-03-02 10:00:00", "page_view"),
                           (2, "2025-03-03 10:00:00", "email_open")])  # fmt: skip
    outcomes = outcomes_frame([(2, "2025-06-01", "won")])
    url = make_warehouse(contacts=contacts, events=events, outcomes=outcomes)
    # the same rows written in another order: another physical table, the same fingerprint
    twin = make_warehouse(contacts=contacts.iloc[::-1], events=events.iloc[[2, 0, 1]],
                          outcomes=outcomes)  # fmt: skip
    first = _fingerprint(url)
    assert first is not None and len(first) == 64
    assert _fingerprint(twin) == first
    assert _fingerprint(url) == first  # computing it changes nothing

    # one value of one row: the count stays 3, the fingerprint changes
    _execute(url, "UPDATE events SET event_type = 'email_click' WHERE contact_id = 2")
    changed = _fingerprint(url)
    assert changed != first
    # put back: the same rows again, the same fingerprint
    _execute(url, "UPDATE events SET event_type = 'email_open' WHERE contact_id = 2")
    assert _fingerprint(url) == first
    # a deleted row, then an exact duplicate of another row (count back to 3)
    _execute(url, "DELETE FROM events WHERE contact_id = 2")
    assert _fingerprint(url) not in (first, changed)
    _execute(url, "INSERT INTO events SELECT * FROM events WHERE event_type = 'page_view'")
    assert _fingerprint(url) not in (first, changed)
    # the outcomes table counts too
    _execute(twin, "UPDATE outcomes SET outcome = 'lost'")
    assert _fingerprint(twin) != first


@ENGINES
def test_score_skips_the_second_validation_only_while_the_data_is_unchanged(
    warehouse: str, source: tuple[str, Path, TrainResult]
) -> None:
    config = ScoreConfig(warehouse=warehouse, as_of=AS_OF, reasons="none",
                         features_table="lead_features")  # fmt: skip
    with tracking_store(source[1]):
        rows = materialise_features(warehouse, AS_OF)
        with Warehouse(warehouse, read_only=True) as wh:
            recorded = wh.query(f"SELECT * FROM {VALIDATIONS}")
        assert recorded["features_table"].tolist() == ["lead_features"]
        assert recorded["fingerprint"].tolist() == [_fingerprint(warehouse)]
        counts = {t: int(recorded[t].iloc[0]) for t in ("contacts", "events", "outcomes")}
        with Warehouse(warehouse, read_only=True) as wh:
            assert counts == {t: int(wh.scalar(f"SELECT count(*) FROM {t}"))
                              for t in ("contacts", "events", "outcomes")}  # fmt: skip

        # 1. unchanged tables: the features job's validation is reused
        reused = score_warehouse(config)
        assert reused.validation_reused is True
        assert reused.rows + reused.errors == rows
        # scoring without the features table always validates
        direct = score_warehouse(ScoreConfig(warehouse=warehouse, as_of=AS_OF, reasons="none"))
        assert direct.validation_reused is False

        # 2. a harmless edit of one event (same row count): validated again, and it passes
        with Warehouse(warehouse, read_only=True) as wh:
            contact, at = wh.query("SELECT contact_id, occurred_at FROM events "
                                   "ORDER BY contact_id, occurred_at LIMIT 1").iloc[0]  # fmt: skip
        _execute(warehouse, "UPDATE events SET event_type = 'email_click' WHERE contact_id = ? "
                 "AND occurred_at = CAST(? AS TIMESTAMP)", [int(contact), at])  # fmt: skip
        again = score_warehouse(config)
        assert again.validation_reused is False
        before = _scores(warehouse)

        # 3. bad data after the features job: an event before its contact existed (same
        # count again); the score job validates, names the problem and keeps the scores
        _execute(warehouse, "UPDATE events SET occurred_at = CAST(? AS TIMESTAMP) WHERE "
                 "contact_id = ? AND occurred_at = CAST(? AS TIMESTAMP)",
                 [datetime(2000, 1, 1), int(contact), at])  # fmt: skip
        with pytest.raises(ContractViolations, match="before the contact was created"):
            score_warehouse(config)
        pd.testing.assert_frame_equal(_scores(warehouse), before)

        # 4. rerunning the features job on bad data fails too, and records nothing new
        with pytest.raises(ContractViolations):
            materialise_features(warehouse, AS_OF)
        with Warehouse(warehouse, read_only=True) as wh:
            assert wh.query(f"SELECT fingerprint FROM {VALIDATIONS}")["fingerprint"].tolist() == (
                recorded["fingerprint"].tolist())  # fmt: skip


def test_an_empty_features_partition_is_an_error_only_when_leads_are_open(
    source: tuple[str, Path, TrainResult], tmp_path: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'crm.duckdb'}"
    with Warehouse(source[0], read_only=True) as src, Warehouse(url) as dst:
        copy_tables(src, dst, ["contacts", "events", "outcomes"])
        open_before = int(dst.scalar(
            "SELECT count(*) FROM contacts c WHERE c.created_at < CAST(? AS TIMESTAMP) AND NOT "
            "EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id AND "
            "o.closed_at < CAST(? AS TIMESTAMP))", [AS_OF, AS_OF]))  # fmt: skip
    assert open_before > 0
    config = ScoreConfig(warehouse=url, as_of=AS_OF, reasons="none",
                         features_table="lead_features")  # fmt: skip
    with tracking_store(source[1]):
        # open leads and no partition for that day: the job says to run the features first
        materialise_features(url, datetime(2025, 10, 1))
        with pytest.raises(ScoringError, match=r"has no rows for as_of 2025-11-15.*run "
                           r"`leadscore features`"):  # fmt: skip
            score_warehouse(config)
        # every contact closed (an export of past campaigns): nothing open, nothing to score
        _execute(url, "DELETE FROM contacts WHERE created_at >= CAST(? AS TIMESTAMP)", [AS_OF])
        for table, at in (("outcomes", "closed_at"), ("events", "occurred_at")):
            _execute(url, f"DELETE FROM {table} t WHERE t.{at} >= CAST(? AS TIMESTAMP) OR NOT "
                     "EXISTS (SELECT 1 FROM contacts c WHERE c.contact_id = t.contact_id)",
                     [AS_OF])  # fmt: skip
        _execute(url, "INSERT INTO outcomes (contact_id, outcome, closed_at) SELECT contact_id, "
                 "'lost', created_at FROM contacts c WHERE NOT EXISTS (SELECT 1 FROM outcomes o "
                 "WHERE o.contact_id = c.contact_id)")  # fmt: skip
        assert materialise_features(url, AS_OF) == 0
        result = score_warehouse(config)
    assert (result.rows, result.errors) == (0, 0)
    with Warehouse(url, read_only=True) as wh:
        assert int(wh.scalar("SELECT count(*) FROM lead_scores WHERE as_of = CAST(? AS "
                             "TIMESTAMP)", [AS_OF])) == 0  # fmt: skip


def _scores(url: str) -> pd.DataFrame:
    with Warehouse(url, read_only=True) as wh:
        return wh.query("SELECT contact_id, probability, scored_at FROM lead_scores WHERE "
                        "as_of = CAST(? AS TIMESTAMP) ORDER BY contact_id", [AS_OF])  # fmt: skip


def test_the_cli_pipeline_says_when_it_did_not_validate_again(
    source: tuple[str, Path, TrainResult], tmp_path: Path
) -> None:
    # `leadscore features` then `leadscore score --features-table`, as a user runs them
    db = tmp_path / "crm.duckdb"
    with Warehouse(source[0], read_only=True) as src, Warehouse(f"duckdb:///{db}") as dst:
        copy_tables(src, dst, ["contacts", "events", "outcomes"])
    env = {**os.environ, "COLUMNS": "200", "MLFLOW_TRACKING_URI": tracking_uri(source[1])}
    common = ["--warehouse", f"duckdb:///{db}", "--as-of", "2025-11-15"]

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "leadscore.serving.cli", *args],
                              capture_output=True, text=True, cwd=source[1], env=env,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    said = " ".join(run("features", *common).split())
    # the rows written (the open leads as of that day, counted here) and the time of each step
    with Warehouse(f"duckdb:///{db}", read_only=True) as wh:
        written = int(wh.scalar("SELECT count(*) FROM lead_features"))
    assert written > 0 and f"wrote {written:,} rows to table lead_features" in said
    assert re.search(r"validated in \d+\.\d s, features in \d+\.\d s, written in \d+\.\d s",
                     said), said  # fmt: skip (DuckDB needs no index: none is reported)
    score = [*common, "--features-table", "lead_features", "--reasons", "none"]
    said = ("tables unchanged since `leadscore features` validated them for table "
            "lead_features: not validated again")  # fmt: skip
    assert said in " ".join(run("score", *score).split())
    # one more event for a contact that exists: the score job validates again, silently
    _execute(f"duckdb:///{db}", "INSERT INTO events SELECT contact_id, occurred_at, 'email_open' "
             "FROM events ORDER BY contact_id, occurred_at LIMIT 1")  # fmt: skip
    assert "not validated again" not in run("score", *score)
