"""Shared plumbing for the tests and benchmarks that run real servers (not a test module).

A trained champion in a temporary sqlite MLflow store (``generate_and_train`` inside
``tracking_store``), ``leadscore serve`` and ``mlflow models serve`` as separate processes in
their own process groups, waiting for them to answer and stopping them again.

Only the standard library is imported at module level: ``benchmarks/http_bench.py`` imports
this module and its load-generator processes (``spawn``) re-import it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadscore.training import TrainResult

MODEL_URI = "models:/lead-quality@champion"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str) -> int | None:
    """The HTTP status of ``GET url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_until_ok(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the log's tail if ``proc`` exits first or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if http_status(url) == 200:
            return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not 200 after {timeout:.0f} s:\n{log.read_text()[-4000:]}")


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (``mlflow models serve`` runs uvicorn as a child)
    and wait until every process in it is gone; SIGKILL after 15 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)


def tracking_uri(path: Path) -> str:
    """The sqlite MLflow store ``path/mlflow.db``."""
    return f"sqlite:///{path / 'mlflow.db'}"


@contextlib.contextmanager
def tracking_store(path: Path) -> Iterator[str]:
    """Point ``MLFLOW_TRACKING_URI`` at ``path/mlflow.db`` (yielded); restore it on exit."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri = tracking_uri(path)
    try:
        yield uri
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def generate_and_train(
    root: Path, n_contacts: int, seed: int, as_of: datetime
) -> tuple[str, TrainResult]:
    """Write a synthetic warehouse to ``root/crm.duckdb`` and train on it (into the tracking
    store the environment names); the warehouse URL and the training result."""
    import duckdb
    from leadscore.features._generator import GeneratorConfig, write_crm
    from leadscore.training import TrainConfig, train

    db = root / "crm.duckdb"
    con = duckdb.connect(str(db))
    try:
        write_crm(con, GeneratorConfig(n_contacts=n_contacts, seed=seed))
    finally:
        con.close()
    url = f"duckdb:///{db}"
    return url, train(TrainConfig(warehouse=url, as_of=as_of))


def _server_env(store: Path) -> dict[str, str]:
    """The environment for a server on the store in ``store``: no API token, and the venv's
    ``bin`` first on PATH (``mlflow models serve`` execs uvicorn from PATH)."""
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(store),
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}  # fmt: skip
    env.pop("LEADSCORE_API_TOKEN", None)
    return env


def _start(cmd: list[str], store: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(cmd, env=_server_env(store), cwd=store, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def start_leadscore_serve(
    store: Path, port: int, *, model: str | None = None, log_name: str = "leadscore-serve.log"
) -> tuple[subprocess.Popen[bytes], Path]:
    """``python -m serving.cli serve`` on ``port`` with the MLflow store in ``store`` (also
    its working directory, and where the log goes); the process and its log."""
    cmd = [sys.executable, "-m", "leadscore.serving.cli", "serve"]
    if model is not None:
        cmd += ["--model", model]
    cmd += ["--port", str(port), "--poll-seconds", "3600"]
    log = store / log_name
    return _start(cmd, store, log), log


def start_mlflow_serve(
    store: Path, port: int, *, model: str = MODEL_URI, log_name: str = "mlflow-serve.log"
) -> tuple[subprocess.Popen[bytes], Path]:
    """``mlflow models serve`` (local env manager) on ``port`` with the MLflow store in
    ``store`` (also its working directory, and where the log goes); the process and its log."""
    mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
    cmd = [mlflow_bin, "models", "serve", "-m", model, "--env-manager", "local",
           "--host", "127.0.0.1", "-p", str(port)]  # fmt: skip
    log = store / log_name
    return _start(cmd, store, log), log


@contextlib.contextmanager
def both_servers(
    store: Path,
    *,
    model: str = MODEL_URI,
    leadscore_log: str = "leadscore-serve.log",
    mlflow_log: str = "mlflow-serve.log",
) -> Iterator[tuple[int, int]]:
    """``leadscore serve`` and ``mlflow models serve`` on ``model`` from the store in
    ``store``, each on a free port; yields (leadscore port, mlflow port) once both answer
    (``/readyz`` within 120 s, ``/ping`` within 180 s) and stops both on exit."""
    ours_port, theirs_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ours, ours_log = start_leadscore_serve(
            store, ours_port, model=model, log_name=leadscore_log
        )
        procs.append(ours)
        theirs, theirs_log = start_mlflow_serve(
            store, theirs_port, model=model, log_name=mlflow_log
        )
        procs.append(theirs)
        wait_until_ok(f"http://127.0.0.1:{ours_port}/readyz", ours, 120, ours_log)
        wait_until_ok(f"http://127.0.0.1:{theirs_port}/ping", theirs, 180, theirs_log)
        yield ours_port, theirs_port
    finally:
        for proc in procs:
            stop_process_group(proc)
