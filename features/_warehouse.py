"""Warehouse connections: the one dispatch point between leadscore and an engine.

A warehouse is named by a URL. Today the embedded default, DuckDB, is supported:
``duckdb:///relative/or/absolute/path.duckdb`` (three slashes then the path; an absolute
path therefore has four) or ``duckdb:///:memory:``. Everything engine-specific (how a
query runs, how a frame is written, how a partition is swapped atomically) lives here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from features._errors import ConfigError, LeadscoreError, MissingTableError, ScoringError

log = logging.getLogger(__name__)

DEFAULT_WAREHOUSE = "duckdb:///leadscore.duckdb"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_ident(name: str) -> str:
    """Quote a table or column name for SQL; only plain identifiers are accepted."""
    if not _IDENT.match(name):
        raise ConfigError(f"identifier must match {_IDENT.pattern}, got {name!r}")
    return f'"{name}"'


@dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL."""

    engine: str
    database: str

    @classmethod
    def parse(cls, url: str) -> WarehouseURL:
        """Parse ``duckdb:///path``; anything else is a ConfigError naming what is supported."""
        if url.startswith("duckdb:///"):
            database = url[len("duckdb:///") :]
            if not database:
                raise ConfigError(f"warehouse URL {url!r} has no database path after 'duckdb:///'")
            return cls("duckdb", database)
        if url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                f"warehouse URL {url!r}: PostgreSQL is not supported yet; use duckdb:///PATH"
            )
        raise ConfigError(
            f"warehouse URL must look like 'duckdb:///path/to/file.duckdb', got {url!r}"
        )


class Warehouse:
    """A connection to one warehouse. Use as a context manager or call :meth:`close`.

    ``read_only`` opens DuckDB files without taking the write lock, so a scoring job can
    read while nothing else is written.
    """

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.parsed = WarehouseURL.parse(url)
        self.dialect = self.parsed.engine
        database = self.parsed.database
        if database != ":memory:":
            path = Path(database)
            if read_only and not path.exists():
                raise LeadscoreError(
                    f"warehouse file {str(path)!r} does not exist (from URL {url!r}); "
                    "create one with `leadscore generate` or point --warehouse at yours"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(database, read_only=read_only)

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection; safe to call twice."""
        self._con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The raw DuckDB connection (for code that must talk to DuckDB directly)."""
        return self._con

    # -- metadata --------------------------------------------------------------------
    def tables(self) -> list[str]:
        """Names of the base tables in the main schema."""
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows]

    def has_table(self, table: str) -> bool:
        """Whether ``table`` exists."""
        return table in self.tables()

    def require_table(self, table: str) -> None:
        """Raise MissingTableError unless ``table`` exists."""
        found = self.tables()
        if table not in found:
            raise MissingTableError(table, self.url, found)

    def columns(self, table: str) -> dict[str, str]:
        """Column name to upper-case SQL type for ``table`` (which must exist)."""
        self.require_table(table)
        rows = self._con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return {name: str(dtype).upper() for name, dtype in rows}

    # -- queries ---------------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a query and return a pandas frame (through Arrow)."""
        return self.query_arrow(sql, params).to_pandas()

    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run a query and return an Arrow table."""
        # Relation API: Arrow output from execute() makes an extra copy of the rows.
        return self._con.sql(sql, params=params or None).to_arrow_table()

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        """Run a query returning one value."""
        # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open and refuses
        # further work on the connection until it is drained.
        rows = self._con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    @contextmanager
    def registered(self, name: str, frame: pd.DataFrame | pa.Table) -> Iterator[str]:
        """Expose an in-memory frame to SQL as view ``name`` for the duration of the block."""
        self._con.register(name, frame)
        try:
            yield name
        finally:
            self._con.unregister(name)

    # -- writes ----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT, rolled back on any exception."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def replace_partition(
        self,
        table: str,
        frame: pd.DataFrame,
        *,
        partition_column: str,
        partition_value: Any,
        create_sql: str,
        expected_rows: int | None = None,
    ) -> int:
        """Atomically replace the rows of ``table`` where ``partition_column = partition_value``.

        Creates the table with ``create_sql`` (a column list) if it does not exist. The delete
        and the insert run in one transaction: readers see the old rows or the new ones, never
        a mix, and a failure leaves the old rows in place. With ``expected_rows``, the count is
        checked inside the transaction and a mismatch rolls everything back. Returns the number
        of rows written.
        """
        qt = quote_ident(table)
        qc = quote_ident(partition_column)
        with self.transaction() as con:
            con.execute(f"CREATE TABLE IF NOT EXISTS {qt} ({create_sql})")
            con.execute(f"DELETE FROM {qt} WHERE {qc} = ?", [partition_value])
            con.register("_leadscore_incoming", frame)
            try:
                cols = ", ".join(quote_ident(c) for c in frame.columns)
                con.execute(f"INSERT INTO {qt} ({cols}) SELECT {cols} FROM _leadscore_incoming")
            finally:
                con.unregister("_leadscore_incoming")
            written = con.execute(
                f"SELECT count(*) FROM {qt} WHERE {qc} = ?", [partition_value]
            ).fetchall()
            n = int(written[0][0]) if written else 0
            if expected_rows is not None and n != expected_rows:
                raise ScoringError(
                    f"table {table!r}: wrote {n} rows for {partition_column}={partition_value!r} "
                    f"but expected {expected_rows}; rolled back, previous rows kept"
                )
        log.info(
            "replaced %s rows of %s where %s = %r", n, table, partition_column, partition_value
        )
        return n
