"""Batch scoring next to other processes: readers of a DuckDB file, a second `score` on the
same DuckDB file or the same PostgreSQL as_of, tables edited while a job scores, and an
as_of in the future.

Every job under test is a real ``leadscore score`` process, held at a named point of its job
by the test hook (``LEADSCORE_HOLD_AT``, see serving/_batch.py) while the test acts. One
model is trained once on a generated DuckDB warehouse; each test copies its tables into a
fresh warehouse and scores it once in-process first, so there are previous scores to keep.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from leadscore.features import ConfigError, Warehouse
from leadscore.serving._batch import HOLD_ENV, ScoreConfig, score_warehouse
from leadscore.training import TrainResult

from tests.conftest import open_contacts
from tests.engines import copied_warehouse
from tests.servers import generate_and_train, tracking_store

TRAIN_AS_OF = datetime(2026, 1, 1)
AS_OF = datetime(2025, 11, 15)
LOCK_ENV = "LEADSCORE_LOCK_WAIT_SECONDS"
HELD = 600  # seconds a held job would sleep: never waited out, the test kills it


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, TrainResult]]:
    """A generated DuckDB warehouse with a registered champion, and its store's folder."""
    root = tmp_path_factory.mktemp("concurrency")
    with tracking_store(root):
        url, result = generate_and_train(root, n_contacts=3_000, seed=5, as_of=TRAIN_AS_OF)
        yield url, root, result


@pytest.fixture
def scored(engine: str, source: tuple[str, Path, TrainResult], tmp_path: Path) -> Iterator[str]:
    """A fresh warehouse on ``engine`` with the source's tables, scored once as of AS_OF."""
    with copied_warehouse(engine, source[0], tmp_path) as url:
        with tracking_store(source[1]):
            score_warehouse(ScoreConfig(warehouse=url, as_of=AS_OF, reasons="none"))
        yield url


def _scores(url: str) -> pd.DataFrame:
    with Warehouse(url, read_only=True) as wh:
        frame = wh.query("SELECT * FROM lead_scores ORDER BY as_of, contact_id")
    frame["contact_id"] = frame["contact_id"].astype("int64")
    return frame


def _env(source: tuple[str, Path, TrainResult], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (HOLD_ENV, LOCK_ENV)}
    env.update({"MLFLOW_TRACKING_URI": f"sqlite:///{source[1] / 'mlflow.db'}",
                "COLUMNS": "200", **extra})  # fmt: skip
    return env


def _score_cmd(url: str, as_of: datetime = AS_OF) -> list[str]:
    return [sys.executable, "-m", "leadscore.serving.cli", "score", "--warehouse", url,
            "--as-of", as_of.isoformat(), "--reasons", "none"]  # fmt: skip


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the job exited {proc.returncode} early:\n{log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the log within {timeout} s:\n{log.read_text()}")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def _words(text: str) -> str:
    """Terminal output with its line wrapping undone."""
    return " ".join(text.split())


def test_a_second_score_on_a_duckdb_file_being_swapped_waits_then_names_the_holder(
    scored: str, source: tuple[str, Path, TrainResult], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Job A is held inside its swap transaction: it has the file open for writing.
    before = _scores(scored)
    path = scored[len("duckdb:///") :]
    log_a = tmp_path / "a.log"
    a = _start(_score_cmd(scored), _env(source, **{HOLD_ENV: f"swap:{HELD}"}), log_a)
    try:
        _wait_for(log_a, f"holding {HELD:.1f} s at 'swap'", a)
        # A reader in another process (this one) cannot open the file during the swap...
        monkeypatch.setenv(LOCK_ENV, "0.5")
        with pytest.raises(ConfigError) as caught:
            Warehouse(scored, read_only=True)
        assert str(caught.value).startswith(
            f"DuckDB file {path!r} is held by another process, so it cannot be opened "
            "read-only; waited 0.5 s for it to let go"
        )
        assert str(caught.value).endswith(f"(PID {a.pid})")
        # ... and a second `score` waits its bounded time, then exits 2 naming job A.
        b = subprocess.run(_score_cmd(scored), env=_env(source, **{LOCK_ENV: "1"}),
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        message = _words(b.stderr)
        assert b.returncode == 2, b.stderr
        assert (
            f"error: DuckDB file {path!r} is held by another process, so it cannot be opened "
            "read-only; waited 1 s for it to let go (set LEADSCORE_LOCK_WAIT_SECONDS to wait "
            f'longer). DuckDB: Could not set lock on file "{path}": Conflicting lock is held in '
        ) in message, message
        assert message.endswith(f"(PID {a.pid})"), message
    finally:
        _kill(a)
    # A was killed before its commit: the previous scores are all there, untouched.
    pd.testing.assert_frame_equal(_scores(scored), before)


# A reader that opens the DuckDB file read-only, says how many scores it sees, and keeps the
# file open (as a BI tool does) until it is killed.
READER = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("SELECT count(*) FROM lead_scores").fetchall()[0][0], flush=True)
    time.sleep(600)
""")


def test_score_scores_beside_an_open_duckdb_reader_then_waits_for_it_to_write(
    scored: str, source: tuple[str, Path, TrainResult], tmp_path: Path
) -> None:
    # The reader holds the file read-only throughout. `score` reads and scores beside it (both
    # are readers), then cannot open the file for writing: it waits 1 s, exits 2 naming the
    # reader, and writes nothing.
    before = _scores(scored)
    path = scored[len("duckdb:///") :]
    with subprocess.Popen([sys.executable, "-c", READER, path], text=True,
                          stdout=subprocess.PIPE) as reader:  # fmt: skip
        try:
            assert reader.stdout is not None and reader.stdout.readline() == f"{len(before)}\n"
            job = subprocess.run(_score_cmd(scored), env=_env(source, **{LOCK_ENV: "1"}),
                                 capture_output=True, text=True, timeout=300)  # fmt: skip
            message = _words(job.stderr)
            assert job.returncode == 2, job.stderr
            assert f"scoring {len(before)} open contacts as of {AS_OF}" in message  # it read
            assert f"scored {len(before)} of {len(before)} leads" in message  # and scored
            assert (
                f"error: DuckDB file {path!r} is held by another process, so it cannot be opened "
                "for writing; waited 1 s for it to let go"
            ) in message, message
            assert message.endswith(f"(PID {reader.pid})"), message
        finally:
            reader.kill()
            reader.wait(timeout=30)
    pd.testing.assert_frame_equal(_scores(scored), before)


def test_a_duckdb_reader_sees_the_old_scores_while_score_scores_and_the_new_after(
    scored: str, source: tuple[str, Path, TrainResult], tmp_path: Path
) -> None:
    before = _scores(scored)
    log = tmp_path / "job.log"
    hold = 10  # the job sleeps this long after its first chunk, then goes on by itself
    job = _start(_score_cmd(scored), _env(source, **{HOLD_ENV: f"scoring:{hold}"}), log)
    try:
        _wait_for(log, f"holding {hold:.1f} s at 'scoring'", job)
        during = _scores(scored)  # another process opening the file read-only meanwhile
        # (the job had not begun to write when that read ended, so it read the old scores)
        assert "(uncommitted)" not in log.read_text(), "the read came too late to test this"
        assert job.wait(timeout=300) == 0, log.read_text()
    finally:
        _kill(job)
    pd.testing.assert_frame_equal(during, before)
    after = _scores(scored)
    assert after["contact_id"].tolist() == before["contact_id"].tolist()
    assert (after["scored_at"] > before["scored_at"]).all()  # all new, none old


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_second_score_for_the_same_as_of_on_postgresql_is_refused_naming_the_first(
    scored: str, source: tuple[str, Path, TrainResult], tmp_path: Path
) -> None:
    before = _scores(scored)
    log_a = tmp_path / "a.log"
    a = _start(_score_cmd(scored), _env(source, **{HOLD_ENV: f"scoring:{HELD}"}), log_a)
    try:
        _wait_for(log_a, f"holding {HELD:.1f} s at 'scoring'", a)
        b = subprocess.run(_score_cmd(scored), env=_env(source), capture_output=True, text=True,
                           timeout=300)  # fmt: skip
        assert b.returncode == 5, b.stderr
        pattern = (
            re.escape(f"error: another job is already running 'score as_of {AS_OF}' on warehouse "
                      f"{scored}: leadscore pid {a.pid} on {socket.gethostname()} (PostgreSQL "
                      "session ")
            + r"\d+, connected since [-\d]+ [:\d]+ \w+"
            + re.escape("); this one stopped before writing anything. Wait for that job to "
                        "finish (or stop it), then run this one again")
        )  # fmt: skip
        assert re.search(pattern, _words(b.stderr)), b.stderr
        # another as_of is another claim: it is scored while A still holds its own
        with tracking_store(source[1]):
            other = score_warehouse(ScoreConfig(warehouse=scored, as_of=datetime(2025, 6, 1),
                                                reasons="none"))  # fmt: skip
        assert other.rows == len(open_contacts(scored, datetime(2025, 6, 1)))
    finally:
        _kill(a)
    after = _scores(scored)
    assert set(after["as_of"]) == {pd.Timestamp(AS_OF), pd.Timestamp(2025, 6, 1)}
    pd.testing.assert_frame_equal(
        after[after["as_of"] == pd.Timestamp(AS_OF)].reset_index(drop=True), before)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_tables_edited_while_score_scores_roll_its_swap_back(
    scored: str, source: tuple[str, Path, TrainResult], tmp_path: Path
) -> None:
    # The job counts the open leads, scores them, and is held after its first chunk; the test
    # then adds a contact created the day before AS_OF (open at AS_OF). The job's swap
    # recounts, finds one more lead than it scored, rolls back and exits 5.
    before = _scores(scored)
    n_open = len(before)
    log = tmp_path / "job.log"
    hold = 10  # the job goes on by itself after this
    job = _start(_score_cmd(scored), _env(source, **{HOLD_ENV: f"scoring:{hold}"}), log)
    try:
        _wait_for(log, f"holding {hold:.1f} s at 'scoring'", job)
        with Warehouse(scored) as wh:
            new = wh.query("SELECT * FROM contacts ORDER BY contact_id LIMIT 1")
            new = new.assign(contact_id=new["contact_id"] + 1_000_000,
                             created_at=pd.Timestamp("2025-11-14"))  # fmt: skip
            wh.write_table("contacts", new, replace=False)
        assert "(uncommitted)" not in log.read_text(), "the edit came too late to test this"
        assert job.wait(timeout=300) == 5, log.read_text()
    finally:
        _kill(job)
    assert (
        f"the leads to score as of {AS_OF} changed while this job ran ({n_open} when it "
        f"started, {n_open + 1} now: the tables were imported or edited meanwhile); rolled "
        "back, previous scores kept: run it again"
    ) in _words(log.read_text())
    pd.testing.assert_frame_equal(_scores(scored), before)


def test_an_as_of_in_the_future_is_refused_unless_allowed(
    scored: str, source: tuple[str, Path, TrainResult]
) -> None:
    before = _scores(scored)
    future = datetime(2999, 1, 1)
    with tracking_store(source[1]), pytest.raises(ConfigError) as caught:
        score_warehouse(ScoreConfig(warehouse=scored, as_of=future, reasons="none"))
    assert caught.value.exit_code == 2
    assert re.fullmatch(
        re.escape("as_of 2999-01-01 00:00:00 is in the future (now: ")
        + r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
        + re.escape(" UTC): no data exists yet after now, so its scores would be today's under "
                    "a date to come; score as of now or a past moment (or, to mean it, "
                    "allow_future_as_of)"),
        str(caught.value),
    )  # fmt: skip
    pd.testing.assert_frame_equal(_scores(scored), before)  # nothing written
    # allowed explicitly, it is scored (every contact created before it and never closed)
    with tracking_store(source[1]):
        result = score_warehouse(ScoreConfig(warehouse=scored, as_of=future, reasons="none",
                                             allow_future_as_of=True))  # fmt: skip
    assert result.rows == len(open_contacts(scored, future))
