"""Batch scoring on DuckDB and PostgreSQL: one row per open contact, unscorable rows kept,
atomic swaps, reruns that replace, and a real scoring process killed at each point of its
job (mid-scoring, between the two staging writes, just before the swap).

One model is trained once on a generated DuckDB warehouse; each test copies the tables into
a fresh warehouse on the engine under test. Spark's own job is tested in test_spark.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leadscore.features import ConfigError, DataValidationError, Warehouse, build_lead_frame
from leadscore.features._schema import LEAD_SCORES
from leadscore.features._warehouse import STAGING_PREFIX
from leadscore.models import score_leads
from leadscore.serving._batch import (
    HOLD_ENV,
    HOLD_POINTS,
    LEAD_SCORE_ERRORS,
    Hold,
    ScoreConfig,
    materialise_features,
    score_warehouse,
)
from leadscore.training import TrainResult
from leadscore.training._registry import load_bundle

from tests.conftest import open_contacts
from tests.engines import copied_warehouse, empty_warehouse
from tests.servers import MODEL_URI, generate_and_train, tracking_store

TRAIN_AS_OF = datetime(2026, 1, 1)
AS_OF = datetime(2025, 11, 15)
BATCH_ENGINES = pytest.mark.parametrize("engine", ["duckdb", "postgresql"], indirect=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, TrainResult]]:
    """A generated DuckDB warehouse with a registered champion, its store's folder."""
    root = tmp_path_factory.mktemp("batch")
    with tracking_store(root):
        url, result = generate_and_train(root, n_contacts=6_000, seed=11, as_of=TRAIN_AS_OF)
        yield url, root, result


@pytest.fixture
def warehouse(engine: str, source: tuple[str, Path, TrainResult], tmp_path: Path) -> Iterator[str]:
    """A fresh warehouse on ``engine`` holding a copy of the source's tables."""
    with copied_warehouse(engine, source[0], tmp_path) as url:
        yield url


def _scores(url: str, as_of: datetime) -> pd.DataFrame:
    with Warehouse(url, read_only=True) as wh:
        frame = wh.query("SELECT * FROM lead_scores WHERE as_of = ? ORDER BY contact_id", [as_of])
    frame["contact_id"] = frame["contact_id"].astype("int64")
    return frame


def _staging_tables(url: str) -> list[str]:
    with Warehouse(url, read_only=True) as wh:
        return [t for t in wh.tables() if t.startswith(STAGING_PREFIX)]


@BATCH_ENGINES
def test_scores_match_the_shared_scoring_function(
    warehouse: str, source: tuple[str, Path, TrainResult]
) -> None:
    with tracking_store(source[1]):
        result = score_warehouse(ScoreConfig(warehouse=warehouse, as_of=AS_OF, reasons="25"))
        bundle = load_bundle(MODEL_URI)
    table = _scores(warehouse, AS_OF)
    open_ids = open_contacts(warehouse, AS_OF)
    assert set(table["contact_id"]) == open_ids and table["contact_id"].is_unique
    assert result.rows == len(open_ids) and result.errors == 0 and result.reasons_rows == 25
    # Every number equals a direct call of the shared scoring function on the DuckDB frame.
    with Warehouse(source[0], read_only=True) as wh:
        frame = build_lead_frame(wh, [AS_OF]).frame
    direct = score_leads(bundle, frame, reasons=True).assign(contact_id=frame["contact_id"])
    merged = table.merge(direct, on="contact_id", suffixes=("", "_direct"))
    assert len(merged) == len(open_ids)
    np.testing.assert_allclose(merged["probability"], merged["probability_direct"], rtol=1e-12)
    np.testing.assert_array_equal(merged["rule_score"], merged["rule_score_direct"])
    assert (merged["rule_hits"] == merged["rule_hits_direct"]).all()
    # Reasons exactly for the 25 most probable leads, and the same reasons as the direct call.
    top = set(merged.nlargest(25, "probability", keep="all")["contact_id"])
    explained = merged[merged["reasons"].fillna("") != ""]
    assert set(explained["contact_id"]) == top
    assert (explained["reasons"] == explained["reasons_direct"]).all()
    with Warehouse(warehouse, read_only=True) as wh:
        assert wh.scalar(f"SELECT count(*) FROM {LEAD_SCORE_ERRORS}") == 0


@BATCH_ENGINES
def test_unscorable_leads_go_to_the_errors_table_and_none_vanish(
    warehouse: str, source: tuple[str, Path, TrainResult]
) -> None:
    open_ids = sorted(open_contacts(warehouse, AS_OF))
    negative, no_source = open_ids[:2], open_ids[2]
    with Warehouse(warehouse) as wh:
        wh.execute(f"UPDATE contacts SET company_size = -5 WHERE contact_id IN "
                   f"({negative[0]}, {negative[1]})")  # fmt: skip
        wh.execute(f"UPDATE contacts SET lead_source = NULL WHERE contact_id = {no_source}")
    with tracking_store(source[1]):
        result = score_warehouse(ScoreConfig(warehouse=warehouse, as_of=AS_OF, reasons="none",
                                             required=("lead_source",)))  # fmt: skip
    assert result.errors == 3 and result.rows == len(open_ids) - 3
    assert result.error_reasons == {
        "company_size must be a non-negative number of employees": 2,
        "required attribute lead_source is missing": 1,
    }
    with Warehouse(warehouse, read_only=True) as wh:
        errors = wh.query(f"SELECT contact_id, column_name, value, reason FROM {LEAD_SCORE_ERRORS} "
                          "ORDER BY contact_id")  # fmt: skip
    assert errors["contact_id"].astype("int64").tolist() == sorted([*negative, no_source])
    by_id = {int(r.contact_id): (r.column_name, r.value) for r in errors.itertuples()}
    assert by_id[negative[0]] == ("company_size", "-5.0")
    assert by_id[no_source][0] == "lead_source" and pd.isna(by_id[no_source][1])
    scored = set(_scores(warehouse, AS_OF)["contact_id"])
    assert scored == set(open_ids) - {*negative, no_source}


@BATCH_ENGINES
def test_rerun_replaces_and_other_as_of_is_kept(
    warehouse: str, source: tuple[str, Path, TrainResult]
) -> None:
    first, second = datetime(2025, 6, 1), AS_OF
    with tracking_store(source[1]):
        for as_of in (first, second, second):
            score_warehouse(ScoreConfig(warehouse=warehouse, as_of=as_of, reasons="none"))
    with Warehouse(warehouse, read_only=True) as wh:
        counts = wh.query("SELECT as_of, count(*) AS n FROM lead_scores GROUP BY as_of")
    by_as_of = {pd.Timestamp(a): int(n) for a, n in zip(counts["as_of"], counts["n"], strict=True)}
    assert by_as_of == {
        pd.Timestamp(first): len(open_contacts(warehouse, first)),
        pd.Timestamp(second): len(open_contacts(warehouse, second)),
    }
    assert _staging_tables(warehouse) == []


@BATCH_ENGINES
def test_features_table_gives_the_same_scores(
    warehouse: str, source: tuple[str, Path, TrainResult]
) -> None:
    assert materialise_features(warehouse, AS_OF) == len(open_contacts(warehouse, AS_OF))
    with tracking_store(source[1]):
        score_warehouse(ScoreConfig(warehouse=warehouse, as_of=AS_OF, reasons="none"))
        computed = _scores(warehouse, AS_OF)
        score_warehouse(ScoreConfig(warehouse=warehouse, as_of=AS_OF, reasons="none",
                                    features_table="lead_features"))  # fmt: skip
    from_table = _scores(warehouse, AS_OF)
    assert from_table["contact_id"].tolist() == computed["contact_id"].tolist()
    np.testing.assert_allclose(from_table["probability"], computed["probability"], rtol=1e-12)
    np.testing.assert_array_equal(from_table["rule_score"], computed["rule_score"])


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"scoring exited {proc.returncode} early:\n{path.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the log within {timeout} s:\n{path.read_text()}")


# Where a job is killed (the test hook's points, in job order) and the tables it had written
# (inside its open transaction, uncommitted) by then: none while scoring, lead_scores' rows
# at 'staging', both tables' rows (checked) just before the commit at 'swap'.
KILL_POINTS: dict[str, tuple[str, ...]] = {
    "scoring": (),
    "staging": (LEAD_SCORES,),
    "swap": (LEAD_SCORES, LEAD_SCORE_ERRORS),
}
HOLD_SECONDS = 600  # never waited out: the test kills the job as soon as it holds
KILL_CHUNK_ROWS = 1_000  # several chunks, so a kill at 'scoring' comes between two


def test_the_hold_hook_reads_a_point_and_seconds_or_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert tuple(KILL_POINTS) == HOLD_POINTS  # the kill test covers every point
    monkeypatch.delenv(HOLD_ENV, raising=False)
    assert Hold.from_env() == Hold()
    monkeypatch.setenv(HOLD_ENV, "staging:2.5")
    assert Hold.from_env() == Hold("staging", 2.5)
    # a typo must not silently turn the hold off (the job would run through, not hold)
    for bad in ("swap", "swap:", "swap:0", "swap:-1", "swap:nan", "swap:inf", "write:5", "5"):
        monkeypatch.setenv(HOLD_ENV, bad)
        with pytest.raises(ConfigError, match=HOLD_ENV):
            Hold.from_env()


@BATCH_ENGINES
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_scoring_process_killed_at_any_point_keeps_the_previous_scores(
    warehouse: str, source: tuple[str, Path, TrainResult], tmp_path: Path, point: str
) -> None:
    with tracking_store(source[1]):
        score_warehouse(ScoreConfig(warehouse=warehouse, as_of=AS_OF, reasons="none"))
    before = _scores(warehouse, AS_OF)
    n_open = len(open_contacts(warehouse, AS_OF))
    assert len(before) == n_open and _staging_tables(warehouse) == []
    log = tmp_path / "score.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{source[1] / 'mlflow.db'}",
           HOLD_ENV: f"{point}:{HOLD_SECONDS}"}  # fmt: skip
    assert n_open > KILL_CHUNK_ROWS
    cmd = [sys.executable, "-m", "leadscore.serving.cli", "score", "--warehouse", warehouse,
           "--as-of", AS_OF.isoformat(), "--reasons", "none",
           "--chunk-rows", str(KILL_CHUNK_ROWS)]  # fmt: skip
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        # The job logs this line, then sleeps at the point: it is paused there when killed.
        _wait_for(log, f"holding {HOLD_SECONDS:.1f} s at '{point}'", proc, timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # How far the job got, from its log: the chunks it scored and the tables it staged.
    text = log.read_text(errors="replace")
    scored = [int(n) for n in re.findall(r"scored (\d+) of \d+ leads", text)]
    chunks = [*range(KILL_CHUNK_ROWS, n_open, KILL_CHUNK_ROWS), n_open]
    assert scored == ([KILL_CHUNK_ROWS] if point == "scoring" else chunks)
    assert re.findall(r"wrote \d+ rows of (\w+) \(uncommitted\)", text) == list(
        KILL_POINTS[point])
    # the killed job's transaction is rolled back by the engine: nothing of it remains
    assert _staging_tables(warehouse) == []
    after = _scores(warehouse, AS_OF)
    pd.testing.assert_frame_equal(before, after)  # the previous scores, untouched
    # A rerun clears the leftovers and replaces the partition: still one row per contact.
    with tracking_store(source[1]):
        score_warehouse(ScoreConfig(warehouse=warehouse, as_of=AS_OF, reasons="none"))
    rerun = _scores(warehouse, AS_OF)
    assert rerun["contact_id"].tolist() == before["contact_id"].tolist()
    assert rerun["contact_id"].is_unique and len(rerun) == n_open
    assert (rerun["scored_at"] > before["scored_at"]).all()
    assert _staging_tables(warehouse) == []


@BATCH_ENGINES
def test_query_batches_streams_the_same_rows_in_chunks(engine: str, tmp_path: Path) -> None:
    """The streamed read the scoring job uses gives exactly the rows of one read, in order,
    in chunks of the size asked for, on a second connection (``another``)."""
    n = 25_000
    frame = pd.DataFrame({"contact_id": np.arange(n, dtype="int64"),
                          "title": [f"t{i % 7}" for i in range(n)],
                          "x": np.linspace(0.0, 1.0, n)})  # fmt: skip
    with empty_warehouse(engine, tmp_path) as url, Warehouse(url) as wh:
        wh.write_table("rows", frame)
        reader = wh.another()
        try:
            chunks = [t.to_pandas() for t in reader.query_batches(
                "SELECT * FROM rows WHERE x >= ? ORDER BY contact_id", [0.0], rows=10_000)]  # fmt: skip
        finally:
            reader.close()
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame,
                                  check_dtype=False)  # fmt: skip
    assert [len(c) for c in chunks] == [10_000, 10_000, 5_000]


def test_the_reasons_candidates_are_the_top_leads_over_all_chunks() -> None:
    """Chunk by chunk, only the ``limit`` most probable leads are kept: the same leads, in the
    same order, as a stable sort of every probability at once (ties: the earlier lead)."""
    from leadscore.serving._batch import _Top

    rng = np.random.default_rng(3)
    p = rng.choice([0.1, 0.2, 0.5, 0.7, 0.9], size=1_000)  # many ties across chunks
    rows = pd.DataFrame({"contact_id": np.arange(1_000)})
    for limit in (0, 1, 37, 250, 1_000, None):
        top = _Top(limit)
        for start in range(0, 1_000, 128):
            top.add(rows.iloc[start : start + 128], p[start : start + 128])
        brute = np.sort(np.argsort(-p, kind="stable")[: 1_000 if limit is None else limit])
        got = [] if top.rows is None else top.rows["contact_id"].tolist()
        assert got == brute.tolist(), limit


@BATCH_ENGINES
def test_appending_casts_to_the_tables_types_by_column_name(engine: str, tmp_path: Path) -> None:
    """Binary COPY matches columns by position and sends raw bytes: an int32 column appended
    to a DOUBLE column once arrived as 5e-324 instead of 1. Appends go by name, cast."""
    import pyarrow as pa

    with empty_warehouse(engine, tmp_path) as url, Warehouse(url) as wh:
        wh.execute("CREATE TABLE t (x DOUBLE, id BIGINT, label VARCHAR)")
        wh.write_table("t", pa.table({"id": pa.array([1, 2], pa.int32()),
                                      "label": ["a", None],
                                      "x": pa.array([1, 7], pa.int32())}), replace=False)  # fmt: skip
        got = wh.query("SELECT x, id, label FROM t ORDER BY id")
        assert got["x"].tolist() == [1.0, 7.0] and got["id"].tolist() == [1, 2]
        assert got["label"].tolist()[0] == "a" and pd.isna(got["label"].tolist()[1])
        if engine == "postgresql":  # DuckDB's INSERT by name fills a missing column with NULL
            with pytest.raises(DataValidationError, match=r"cannot append rows with columns"):
                wh.write_table("t", pd.DataFrame({"id": [3], "x": [1.0]}), replace=False)
