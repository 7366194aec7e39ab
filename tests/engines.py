"""Fresh, empty warehouses on each engine for the engine-parametrised tests.

* ``duckdb``: a file in the test's temporary directory; always available.
* ``postgresql``: a schema of its own on the server named by ``LEADSCORE_TEST_POSTGRES_URL``
  (start a private one with ``eval "$(bash .ci/postgres.sh start)"``), dropped afterwards.
* ``spark``: a database of its own in a local ``local[2]`` Spark session (needs the ``spark``
  extra: ``pip install -e '.[spark]'``), dropped afterwards.

Without a server or pyspark the tests skip with a message saying how to get one, unless
``LEADSCORE_REQUIRE_ENGINES`` (comma-separated; CI sets it) names the engine: then they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ENGINES: tuple[str, ...] = ("duckdb", "postgresql", "spark")
POSTGRES_ENV = "LEADSCORE_TEST_POSTGRES_URL"
REQUIRE_ENV = "LEADSCORE_REQUIRE_ENGINES"


def _unavailable(engine: str, how: str) -> None:
    required = {e.strip() for e in os.environ.get(REQUIRE_ENV, "").split(",") if e.strip()}
    message = f"{engine} engine not available: {how}"
    if engine in required:
        pytest.fail(f"{message} ({REQUIRE_ENV} requires it)")
    pytest.skip(message)


def postgres_base_url() -> str:
    """The test server's URL, or skip (fail when required) saying how to start one."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        _unavailable(
            "postgresql",
            f'set {POSTGRES_ENV}; start a private server with eval "$(bash .ci/postgres.sh start)"',
        )
    return url


@contextmanager
def empty_warehouse(engine: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty warehouse on ``engine``, removed when the block ends."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    if engine == "duckdb":
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
        url = f"spark:///{name}"
        try:
            yield url
        finally:
            spark.sql(f"DROP DATABASE IF EXISTS {name} CASCADE")
        return
    raise ValueError(f"unknown engine {engine!r}")
