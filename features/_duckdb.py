"""The DuckDB engine: the embedded default warehouse (a file, or ``:memory:``).

Contract: :class:`DuckDBWarehouse` is what ``Warehouse("duckdb:///...")`` returns; it runs
leadscore's queries as written (they are in DuckDB's dialect), reads and writes through
Arrow without copies, and waits a bounded time for another process's lock on the file.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from leadscore.features._errors import ConfigError
from leadscore.features._warehouse import DUCKDB_MEMORY_ENV, Warehouse, quote_ident, to_arrow

log = logging.getLogger(__name__)

# How long opening a DuckDB file waits while another process holds its lock
LOCK_WAIT_ENV = "LEADSCORE_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 10.0


class DuckDBWarehouse(Warehouse):
    """The embedded default: a DuckDB file (or ``:memory:``).

    Read-only opening of a file that does not exist is a ConfigError (nothing is created);
    opening for writing creates the file and its folder. While another process holds the
    file, opening retries for ``LEADSCORE_LOCK_WAIT_SECONDS`` (default 10), then raises a
    ConfigError naming the file and the holder's PID.
    """

    remote = False

    dialect = "duckdb"

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        super().__init__(url, read_only=read_only)
        database = self.parsed.database
        if database != ":memory:":
            path = Path(database)
            if read_only and not path.exists():  # reading never creates a file or folder
                raise ConfigError(
                    f"DuckDB file {str(path)!r} does not exist (from URL {url!r}); "
                    "create one with `leadscore generate` or point --warehouse at yours"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | bool | int | float | list[str]] = {}
        memory_limit = os.environ.get(DUCKDB_MEMORY_ENV, "")
        if memory_limit:
            config["memory_limit"] = memory_limit
        self._con = _connect_duckdb(database, read_only=read_only, config=config)
        self._in_transaction = False

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        self._con.close()

    @property
    def connection(self) -> Any:
        """The raw DuckDB connection (for code that must talk to DuckDB directly)."""
        return self._con

    def translate(self, sql: str, params: Sequence[Any] | None = None) -> str:
        """DuckDB runs the source dialect as written (parameters are bound, not inlined)."""
        return sql

    def query_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query and return an Arrow table."""
        # Relation API: Arrow output from execute() makes an extra copy of the rows.
        return self._con.sql(sql, params=list(params) if params else None).to_arrow_table()

    def query_batches(
        self, sql: str, params: Sequence[Any] | None = None, *, rows: int = 100_000
    ) -> Iterator[pa.Table]:
        """Stream a query's result as Arrow tables of up to ``rows`` rows."""
        relation = self._con.sql(sql, params=list(params) if params else None)
        reader = relation.to_arrow_reader(rows)
        for batch in reader:
            yield pa.Table.from_batches([batch])

    def another(self) -> Warehouse:
        """A cursor on the same database (DuckDB shares one database per process)."""
        twin = object.__new__(DuckDBWarehouse)
        Warehouse.__init__(twin, self.url, read_only=self.read_only)
        twin._con = self._con.cursor()
        twin._in_transaction = False
        return twin

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement that returns nothing."""
        self._con.execute(sql, list(params) if params else [])

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run a query returning one value."""
        # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open and refuses
        # further work on the connection until it is drained.
        rows = self._con.execute(sql, list(params) if params else []).fetchall()
        return rows[0][0] if rows else None

    def tables(self) -> list[str]:
        """Names of the tables and views in the main schema."""
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows]

    def _column_types(self, table: str) -> list[tuple[str, str]]:
        rows = self._con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return [(str(n), str(t)) for n, t in rows]

    def row_hash_sql(self, table: str, alias: str) -> str | None:
        """DuckDB's ``hash`` of the row (a struct of every column)."""
        return f"hash({alias})"

    @contextmanager
    def registered(self, name: str, frame: pd.DataFrame | pa.Table) -> Iterator[str]:
        """Expose an in-memory frame as a view (no copy)."""
        self._con.register(name, frame)
        try:
            yield name
        finally:
            self._con.unregister(name)

    def write_table(
        self, table: str, frame: pd.DataFrame | pa.Table, *, replace: bool = True
    ) -> int:
        """Write ``frame`` as ``table`` in one transaction (from Arrow, no row-by-row inserts)."""
        qt = quote_ident(table)
        data = to_arrow(frame)
        view = f"_leadscore_in_{table}"
        with self.transaction(), self.registered(view, data):
            if replace:
                self._con.execute(f"CREATE OR REPLACE TABLE {qt} AS SELECT * FROM {view}")
            elif self.has_table(table):
                cols = ", ".join(quote_ident(c) for c in data.column_names)
                self._con.execute(f"INSERT INTO {qt} ({cols}) SELECT {cols} FROM {view}")
            else:
                self._con.execute(f"CREATE TABLE {qt} AS SELECT * FROM {view}")
        return data.num_rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back on any exception; inside an open transaction the
        block simply joins it."""
        if self._in_transaction:
            yield
            return
        self._con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self._con.execute("ROLLBACK")
            raise
        self._in_transaction = False
        self._con.execute("COMMIT")

    replace_partitions = Warehouse._replace_in_transaction


def _lock_wait_seconds() -> float:
    """Seconds to wait for another process's lock on a DuckDB file: ``LEADSCORE_LOCK_WAIT_SECONDS``
    or 10."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_WAIT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses nan
        raise ConfigError(f"{LOCK_WAIT_ENV} must be a number of seconds >= 0, got {raw!r}")
    return seconds


def _connect_duckdb(database: str, *, read_only: bool, config: dict[str, Any]) -> Any:
    """``duckdb.connect``, retried while another process holds the file's lock (DuckDB lets
    one process write, or several read); after :func:`_lock_wait_seconds` a ConfigError names
    the file and the holder."""
    import duckdb

    wait = _lock_wait_seconds()
    deadline = time.monotonic() + wait
    pause = 0.05  # doubled after each try, up to a second
    while True:
        try:
            return duckdb.connect(database, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "Could not set lock" not in str(exc):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                # DuckDB's words up to the holder's PID (not its hints for its own CLI)
                holder = re.split(r"\. (?:See also|However)", str(exc).split(": ", 1)[-1])[0]
                raise ConfigError(
                    f"DuckDB file {database!r} is held by another process, so it cannot be "
                    f"opened {'read-only' if read_only else 'for writing'}; waited {wait:g} s "
                    f"for it to let go (set {LOCK_WAIT_ENV} to wait longer). DuckDB: {holder}"
                ) from exc
            log.info("DuckDB file %r is held by another process; trying again in %.2f s",
                     database, min(pause, left))  # fmt: skip
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)
