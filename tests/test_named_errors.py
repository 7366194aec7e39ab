"""Named errors instead of tracebacks where several processes share a DuckDB file or an
MLflow store, a registry lookup misses, or a training process dies mid-run.

Every test runs real processes on real files in ``tmp_path``: a DuckDB file held by a second
Python process, a sqlite MLflow store created by three processes at once, a run whose process
has exited.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from leadscore.features import ConfigError, ModelError, Warehouse
from leadscore.training import configure_tracking
from leadscore.training._registry import rollback
from leadscore.training._tracking import (
    HOST_TAG,
    PID_TAG,
    ensure_experiment,
    fail_orphaned_runs,
    start_run_tags,
)
from mlflow.tracking import MlflowClient

LOCK_ENV = "LEADSCORE_LOCK_WAIT_SECONDS"

# A second process that opens the DuckDB file for writing (DuckDB's exclusive lock), says
# so on stdout, and keeps it until a line arrives on stdin (or it is killed).
HOLDER = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.readline()
    con.close()
    print("released", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def held_duckdb(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A DuckDB file with table ``t`` (one row: 7), held open for writing by another process."""
    path = tmp_path / "crm.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 7 AS a")
    con.close()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
        yield path, proc
    finally:
        proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def test_a_duckdb_file_held_by_another_process_is_a_named_error(
    held_duckdb: tuple[Path, subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, holder = held_duckdb
    monkeypatch.setenv(LOCK_ENV, "0.5")
    for read_only, how in ((True, "read-only"), (False, "for writing")):
        with pytest.raises(ConfigError) as caught:
            Warehouse(f"duckdb:///{path}", read_only=read_only)
        message = str(caught.value)
        # DuckDB's own words end the message: they name the holder's executable and PID
        assert message.startswith(
            f"DuckDB file {str(path)!r} is held by another process, so it cannot be opened "
            f"{how}; waited 0.5 s for it to let go (set LEADSCORE_LOCK_WAIT_SECONDS to wait "
            f'longer). DuckDB: Could not set lock on file "{path}": Conflicting lock is held in '
        )
        assert message.endswith(f"(PID {holder.pid})")


def test_opening_waits_for_another_process_to_let_go_of_a_duckdb_file(
    held_duckdb: tuple[Path, subprocess.Popen[str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The opener starts while the holder has the file; once the opener has been refused and
    # said it is waiting, the holder lets go, and the opener reads the table.
    path, holder = held_duckdb
    monkeypatch.setenv(LOCK_ENV, "120")
    caplog.set_level(logging.INFO, logger="leadscore.features._duckdb")
    rows: list[tuple[int]] = []

    def open_and_read() -> None:
        with Warehouse(f"duckdb:///{path}", read_only=True) as wh:
            rows.extend(wh.connection.execute("SELECT a FROM t").fetchall())

    opener = threading.Thread(target=open_and_read)
    opener.start()
    waiting = f"DuckDB file {str(path)!r} is held by another process; trying again"
    deadline = time.monotonic() + 60
    while not any(waiting in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the opener never reported waiting"
        time.sleep(0.05)
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("let go\n")
    holder.stdin.flush()
    assert holder.stdout.readline() == "released\n"
    opener.join(timeout=120)
    assert rows == [(7,)]


def test_the_lock_wait_setting_must_be_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for bad in ("ten", "-1", "nan"):
        monkeypatch.setenv(LOCK_ENV, bad)
        with pytest.raises(ConfigError) as caught:
            Warehouse(f"duckdb:///{tmp_path / 'new.duckdb'}")
        assert str(caught.value) == f"{LOCK_ENV} must be a number of seconds >= 0, got {bad!r}"


def test_a_missing_duckdb_file_read_only_is_a_config_error_and_creates_nothing(
    tmp_path: Path,
) -> None:
    # 'warehose' is a typo for a folder that does not exist
    path = tmp_path / "warehose" / "crm.duckdb"
    url = f"duckdb:///{path}"
    with pytest.raises(ConfigError) as caught:
        Warehouse(url, read_only=True)
    assert str(caught.value) == (
        f"DuckDB file {str(path)!r} does not exist (from URL {url!r}); create one with "
        "`leadscore generate` or point --warehouse at yours"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new sqlite MLflow store in ``tmp_path``, configured for tracking and the registry."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return configure_tracking()


def test_rollback_on_an_empty_registry_names_the_model(store: str) -> None:
    with pytest.raises(ModelError) as caught:
        rollback("lead-quality")
    assert str(caught.value) == (
        f"model 'lead-quality' is not registered in the registry at {store}; expected one of "
        "the registered names (no model is registered yet)"
    )


def test_rollback_of_an_unknown_name_lists_the_registered_names(store: str) -> None:
    # two models are registered; the name asked for has a typo
    client = MlflowClient()
    client.create_registered_model("lead-quality")
    client.create_registered_model("churn")
    with pytest.raises(ModelError) as caught:
        rollback("lead-qualty")
    assert str(caught.value) == (
        f"model 'lead-qualty' is not registered in the registry at {store}; expected one of "
        "the registered names (registered models: ['churn', 'lead-quality'])"
    )


# Each process imports everything, says it is ready, waits for the go file, then creates
# the store and the experiment: the three reach MLflow's migrations together.
CREATOR = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from leadscore.training import configure_tracking
    from leadscore.training._tracking import ensure_experiment
    folder, name = Path(sys.argv[1]), sys.argv[2]
    (folder / f"ready-{name}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
    configure_tracking()
    print(ensure_experiment(), flush=True)
""")


def test_processes_creating_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(tmp_path), name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b", "c")
    ]
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready-{n}").exists() for n in ("a", "b", "c")):
            assert time.monotonic() < deadline, "the creators never got ready"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.05)
        (tmp_path / "go").touch()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    # all three found the one experiment the first of them created
    ids = {out.strip() for out, _ in results}
    assert len(ids) == 1
    client = MlflowClient(uri, uri)
    names = sorted(e.name for e in client.search_experiments())
    assert names == ["Default", "leadscore"]
    assert (tmp_path / "mlflow.db.lock").exists()


def test_a_running_run_whose_process_is_gone_is_marked_failed(store: str) -> None:
    experiment_id = ensure_experiment()
    host = socket.gethostname()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = gone.stdout.strip()  # that process has exited and been reaped
    client = MlflowClient()
    # orphan: RUNNING, tagged with the exited process on this host -> must become FAILED
    orphan = client.create_run(experiment_id, tags={PID_TAG: dead_pid, HOST_TAG: host})
    # alive: RUNNING, tagged with this (test) process -> stays RUNNING
    alive = client.create_run(experiment_id, tags=start_run_tags())
    # elsewhere: RUNNING, exited pid but another host (cannot be checked) -> stays RUNNING
    elsewhere = client.create_run(experiment_id, tags={PID_TAG: dead_pid, HOST_TAG: "other"})
    # untagged: RUNNING without the tags (started by something else) -> stays RUNNING
    untagged = client.create_run(experiment_id)
    # finished: the exited process's earlier run, which ended well -> stays FINISHED
    finished = client.create_run(experiment_id, tags={PID_TAG: dead_pid, HOST_TAG: host})
    client.set_terminated(finished.info.run_id, status="FINISHED")

    assert fail_orphaned_runs(experiment_id) == [orphan.info.run_id]

    runs = {"orphan": orphan, "alive": alive, "elsewhere": elsewhere, "untagged": untagged,
            "finished": finished}  # fmt: skip
    status = {name: client.get_run(run.info.run_id).info.status for name, run in runs.items()}
    assert status == {"orphan": "FAILED", "alive": "RUNNING", "elsewhere": "RUNNING",
                      "untagged": "RUNNING", "finished": "FINISHED"}  # fmt: skip
    assert client.get_run(orphan.info.run_id).data.tags["leadscore.failure"] == (
        f"process {dead_pid} on {host} ended without finishing the run"
    )
    assert client.get_run(orphan.info.run_id).info.end_time is not None
    # a second pass finds nothing left to mark
    assert fail_orphaned_runs(experiment_id) == []


def test_start_run_tags_name_this_process_and_host() -> None:
    assert start_run_tags() == {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
