"""Where MLflow runs and models live.

``MLFLOW_TRACKING_URI`` wins when set (a real ``mlflow server`` in production). Otherwise the
embedded default is ``sqlite:///mlflow.db`` in the working directory, with artifacts in
``./mlartifacts`` next to it, so a second process started in the same directory finds the
same runs and registered models.

A new sqlite store is created under an exclusive lock on ``<file>.lock`` beside the sqlite
file, so two processes starting at once do not both run MLflow's schema migrations.

Runs started with :func:`start_run` (``mlflow.start_run`` plus :func:`start_run_tags`) record
their process id and host. A run left RUNNING by a process that has gone (killed, crashed)
is marked FAILED by :func:`fail_orphaned_runs`, which :func:`ensure_experiment` calls, so
every job that looks up its experiment first cleans up after the jobs before it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "leadscore"
PID_TAG = "leadscore.pid"
HOST_TAG = "leadscore.host"


def tracking_uri() -> str:
    """The tracking URI in force (see the module docstring)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def configure_tracking() -> str:
    """Point MLflow (tracking and registry) at :func:`tracking_uri`, creating a sqlite store
    under its lock when it is new; returns the URI."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    db_path = _sqlite_path(uri)
    if db_path is not None:
        with _store_lock(db_path):
            # the first use of each store creates its tables (alembic migrations); MLflow
            # keeps the stores for the process, so later uses do not migrate again
            client = MlflowClient(uri, uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    return uri


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores and ``:memory:``)."""
    if not uri.startswith("sqlite:///"):
        return None
    database = uri[len("sqlite:///") :].split("?", 1)[0]
    return None if database in ("", ":memory:") else Path(database)


@contextmanager
def _store_lock(db_path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``<db_path>.lock`` for the block (released by the system if
    the process dies); no lock where ``fcntl`` does not exist (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db_path}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_experiment(name: str = DEFAULT_EXPERIMENT) -> str:
    """Create the experiment if needed (with local artifacts for a sqlite store) and mark
    FAILED its runs whose process is gone (:func:`fail_orphaned_runs`); returns its id."""
    experiment_id = _experiment_id(name)
    fail_orphaned_runs(experiment_id)
    return experiment_id


def _experiment_id(name: str) -> str:
    """The id of experiment ``name``, created if needed (another process may create it at
    the same moment: then its id)."""
    client = MlflowClient()
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    artifact_location = None
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        db_path = Path(uri[len("sqlite:///") :]).resolve()
        artifact_location = (db_path.parent / "mlartifacts").as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=artifact_location))
    except MlflowException as exc:  # another process created it since the lookup above
        created = client.get_experiment_by_name(name)
        if exc.error_code != "RESOURCE_ALREADY_EXISTS" or created is None:
            raise
        return str(created.experiment_id)


def start_run_tags() -> dict[str, str]:
    """Tags for a new run naming this process and host, so :func:`fail_orphaned_runs` can
    tell later whether the process that owns a RUNNING run is still alive."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def start_run(experiment_id: str, *, run_name: str | None = None, nested: bool = False,
              tags: Mapping[str, str] | None = None) -> mlflow.ActiveRun:  # fmt: skip
    """``mlflow.start_run`` with :func:`start_run_tags` (and ``tags``), so that if this
    process dies before the run ends, the next :func:`ensure_experiment` marks it FAILED.
    Use it as ``mlflow.start_run`` is used: ``with start_run(experiment_id) as run: ...``
    (an exception in the block ends the run FAILED)."""
    return mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested,
                            tags={**start_run_tags(), **(tags or {})})  # fmt: skip


def fail_orphaned_runs(experiment_id: str) -> list[str]:
    """Mark FAILED the runs of the experiment still RUNNING whose process is gone: tagged by
    :func:`start_run_tags` on this host with a process id that no longer exists. Runs from
    other hosts or without the tags are left alone. Returns the run ids marked, oldest
    first. (A process id the system has since given to another process keeps its run
    RUNNING: this errs on the side of leaving a live run alone.)"""
    client = MlflowClient()
    host = socket.gethostname()
    failed: list[str] = []
    for run in _running_runs(client, experiment_id):
        tags = run.data.tags
        pid = tags.get(PID_TAG, "")
        if tags.get(HOST_TAG) != host or not pid.isdigit() or _process_exists(int(pid)):
            continue
        client.set_tag(run.info.run_id, "leadscore.failure",
                       f"process {pid} on {host} ended without finishing the run")  # fmt: skip
        client.set_terminated(run.info.run_id, status="FAILED")
        log.warning("run %s was RUNNING but its process %s on %s is gone; marked FAILED",
                    run.info.run_id, pid, host)  # fmt: skip
        failed.append(run.info.run_id)
    return failed


def _running_runs(client: MlflowClient, experiment_id: str) -> list[mlflow.entities.Run]:
    runs: list[mlflow.entities.Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string="attributes.status = 'RUNNING'",
            run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
            order_by=["attributes.start_time ASC"], page_token=token,
        )  # fmt: skip
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _process_exists(pid: int) -> bool:
    """Whether a process with this id exists on this host (signal 0 checks, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists but belongs to another user
        return True
    return True
