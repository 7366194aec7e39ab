"""Fresh, empty warehouses on each engine for the engine-parametrised tests.

* ``duckdb``: a file in the test's temporary directory; always available.
* ``postgresql``: a schema of its own on the server named by ``LEADSCORE_TEST_POSTGRES_URL``
  (start a private one with ``eval "$(bash .ci/postgres.sh start)"``), dropped afterwards.
* ``spark``: a database of its own in a local ``local[2]`` Spark session (needs the ``spark``
  extra: ``pip install -e '.[spark]'``), dropped afterwards.

Without a server or pyspark the tests skip with a message saying how to get one (and, under
``make test``, why its private server could not be started:
``LEADSCORE_TEST_POSTGRES_UNAVAILABLE``), unless ``LEADSCORE_REQUIRE_ENGINES``
(comma-separated; CI sets it) names the engine: then they fail.

:func:`record_report` and :func:`engine_summary` tally, as the tests run, which engines ran
and which were skipped and why; ``tests/conftest.py`` prints the tally after the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ENGINES: tuple[str, ...] = ("duckdb", "postgresql", "spark")
POSTGRES_ENV = "LEADSCORE_TEST_POSTGRES_URL"
POSTGRES_UNAVAILABLE_ENV = "LEADSCORE_TEST_POSTGRES_UNAVAILABLE"
REQUIRE_ENV = "LEADSCORE_REQUIRE_ENGINES"


@dataclass
class _Tally:
    """The tests that ran on an engine, and those skipped for want of it, by reason."""

    ran: set[str] = field(default_factory=set)
    skipped: dict[str, set[str]] = field(default_factory=dict)


_TALLY: dict[str, _Tally] = {e: _Tally() for e in ENGINES}
_USED: dict[str, set[str]] = {e: set() for e in ENGINES}


def _used(engine: str) -> None:
    """Note that the current test got a warehouse (or server) of ``engine``."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    if current:
        _USED[engine].add(current.rsplit(" (", 1)[0])


def record_report(report: pytest.TestReport, engine: str | None) -> None:
    """Count one test phase's report: ``engine`` is the test's ``engine`` parameter, if any;
    a test also counts for every engine it got a warehouse of, and a skip for the engine its
    message names."""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        for e in ENGINES:
            if reason.startswith(f"{e} engine not available"):
                _TALLY[e].skipped.setdefault(reason, set()).add(report.nodeid)
    elif report.when == "call":
        for e in ENGINES:
            if e == engine or report.nodeid in _USED[e]:
                _TALLY[e].ran.add(report.nodeid)


def engine_summary() -> list[str]:
    """One line per engine: how many tests ran on it, how many skipped for want of it, why."""
    lines = []
    for engine in ENGINES:
        tally = _TALLY[engine]
        parts = [f"ran {len(tally.ran)} test(s)"] if tally.ran else []
        for reason, tests in sorted(tally.skipped.items()):
            parts.append(f"SKIPPED {len(tests)} test(s): {reason}")
        if engine == "duckdb":
            parts.append("embedded: the default engine of every other test")
        lines.append(f"{engine:<10} " + ("; ".join(parts) or "no test asked for it"))
    return lines


def _unavailable(engine: str, how: str) -> None:
    required = {e.strip() for e in os.environ.get(REQUIRE_ENV, "").split(",") if e.strip()}
    message = f"{engine} engine not available: {how}"
    if engine in required:
        pytest.fail(f"{message} ({REQUIRE_ENV} requires it)")
    pytest.skip(message)


def require_module(engine: str, module: str, how: str) -> None:
    """Skip (fail when ``engine`` is required) unless ``module`` can be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        _unavailable(engine, how)


def postgres_base_url() -> str:
    """The test server's URL, or skip (fail when required) saying how to start one."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        why = os.environ.get(POSTGRES_UNAVAILABLE_ENV, "")
        _unavailable(
            "postgresql",
            f"{POSTGRES_ENV} is not set" + (f" and {why}" if why else "") + "; start a private "
            'server with eval "$(bash .ci/postgres.sh start)", or run `make test`',
        )
    _used("postgresql")
    return url


@contextmanager
def copied_warehouse(engine: str, source_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh warehouse on ``engine`` (:func:`empty_warehouse`) holding a copy of the
    contacts, events and outcomes of the warehouse at ``source_url``."""
    from leadscore.features import Warehouse
    from leadscore.features._warehouse import copy_tables

    with empty_warehouse(engine, tmp_path) as url:
        with Warehouse(source_url, read_only=True) as src, Warehouse(url) as dst:
            copy_tables(src, dst, ["contacts", "events", "outcomes"])
        yield url


@contextmanager
def empty_warehouse(engine: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty warehouse on ``engine``, removed when the block ends."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    if engine == "duckdb":
        _used("duckdb")
        yield f"duckdb:///{tmp_path}/{name}.duckdb"
        return
    if engine == "postgresql":
        from leadscore.features import Warehouse

        base = postgres_base_url()
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}schema={name}"
        try:
            yield url
        finally:
            with Warehouse(base) as wh:
                wh.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        return
    if engine == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            _unavailable("spark", "pyspark is not installed: pip install -e '.[spark]'")
        from leadscore.features._spark import local_session

        spark = local_session()
        _used("spark")
        url = f"spark:///{name}"
        try:
            yield url
        finally:
            spark.sql(f"DROP DATABASE IF EXISTS {name} CASCADE")
        return
    raise ValueError(f"unknown engine {engine!r}")
