"""Warehouse connections: the one dispatch point between leadscore and an engine.

A warehouse is named by a URL:

* ``duckdb:///relative/or/absolute/path.duckdb`` (three slashes then the path; an absolute
  path therefore has four) or ``duckdb:///:memory:``: the embedded default;
* ``postgresql://user:password@host:port/database[?schema=NAME]`` (or ``postgres://``): a
  PostgreSQL server, read and written through Arrow (ADBC; bulk writes use ``COPY``). Any
  other query parameters are passed to libpq;
* ``spark:///DATABASE`` (``spark:///default`` for the default catalog database): Spark SQL in
  the active or a new Spark session (see :mod:`features._spark`).

``Warehouse(url)`` returns the engine's subclass. Queries are written once, in DuckDB's SQL
dialect with ``?`` placeholders; :meth:`Warehouse.translate` turns them into the engine's
dialect with SQLGlot (values are bound as typed literals). Everything engine-specific (how a
query runs, how a frame is written, how a partition is swapped atomically) lives in the
engine classes; the rest of leadscore only talks to :class:`Warehouse`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa
import sqlglot
from leadscore.features._errors import (
    ConfigError,
    DataValidationError,
    LeadscoreError,
    MissingTableError,
    ScoringError,
)
from sqlglot import exp

log = logging.getLogger(__name__)

DEFAULT_WAREHOUSE = "duckdb:///leadscore.duckdb"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STAGING_PREFIX = "_leadscore_staging_"
# DuckDB uses up to 80% of RAM by default; e.g. "1GB" caps it (it spills to disk beyond)
DUCKDB_MEMORY_ENV = "LEADSCORE_DUCKDB_MEMORY_LIMIT"
# How long opening a DuckDB file waits while another process holds its lock
LOCK_WAIT_ENV = "LEADSCORE_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 10.0


def quote_ident(name: str) -> str:
    """Quote a table or column name for SQL; only plain identifiers are accepted."""
    if not _IDENT.match(name):
        raise ConfigError(f"identifier must match {_IDENT.pattern}, got {name!r}")
    return f'"{name}"'


def _redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


@dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL: the engine, its database, and engine options."""

    engine: str
    database: str
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> WarehouseURL:
        """Parse a warehouse URL (see the module docstring); anything else is a ConfigError."""
        if url.startswith("duckdb:///"):
            database = url[len("duckdb:///") :]
            if not database:
                raise ConfigError(f"warehouse URL {url!r} has no database path after 'duckdb:///'")
            return cls("duckdb", database)
        if url.startswith(("postgresql://", "postgres://")):
            parts = urlsplit(url)
            query = dict(parse_qsl(parts.query))
            schema = query.pop("schema", "")
            if schema and not _IDENT.match(schema):
                raise ConfigError(f"warehouse URL {_redact(url)!r}: schema must be a plain "
                                  f"identifier, got {schema!r}")  # fmt: skip
            libpq = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))
            return cls("postgresql", libpq, {"schema": schema} if schema else {})
        if url.startswith("spark://"):
            database = url[len("spark://") :].lstrip("/") or "default"
            if not _IDENT.match(database):
                raise ConfigError(f"warehouse URL {url!r}: expected spark:///DATABASE with a plain "
                                  f"database name, got {database!r}")  # fmt: skip
            return cls("spark", database)
        raise ConfigError(
            "warehouse URL must look like 'duckdb:///path/to/file.duckdb', "
            f"'postgresql://user@host:5432/db' or 'spark:///default', got {_redact(url)!r}"
        )


# Engine type names normalised to DuckDB's spelling, which the validation checks read.
_CANONICAL_TYPES = {
    "bigint": "BIGINT", "int8": "BIGINT", "long": "BIGINT",
    "integer": "INTEGER", "int": "INTEGER", "int4": "INTEGER",
    "smallint": "SMALLINT", "int2": "SMALLINT", "short": "SMALLINT",
    "tinyint": "TINYINT", "byte": "TINYINT",
    "double precision": "DOUBLE", "double": "DOUBLE", "float8": "DOUBLE",
    "real": "REAL", "float": "FLOAT", "float4": "REAL",
    "numeric": "DOUBLE", "decimal": "DOUBLE",
    "text": "VARCHAR", "character varying": "VARCHAR", "varchar": "VARCHAR",
    "character": "VARCHAR", "string": "VARCHAR", "char": "VARCHAR",
    "timestamp without time zone": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP",
    "timestamp": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE", "boolean": "BOOLEAN",
}  # fmt: skip


def canonical_type(engine_type: str) -> str:
    """An engine's column type spelled the way DuckDB spells it (unknown types upper-cased)."""
    base = engine_type.strip().lower().split("(")[0].strip()
    return _CANONICAL_TYPES.get(base, engine_type.strip().upper())


def to_arrow(frame: pd.DataFrame | pa.Table) -> pa.Table:
    """An Arrow table with types every engine accepts: microsecond naive timestamps,
    ``string`` (not ``large_string``) text, no pandas index."""
    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us")
        elif pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_dictionary(t):
            t = t.value_type if not pa.types.is_large_string(t.value_type) else pa.string()
        fields.append(pa.field(f.name, t))
    schema = pa.schema(fields)
    if schema.equals(table.schema.remove_metadata()):
        return table.replace_schema_metadata(None)
    # naive-UTC timestamps: an aware column is converted, then its zone dropped
    columns = []
    for col, f in zip(table.columns, fields, strict=True):
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = col.cast(pa.timestamp(col.type.unit, tz="UTC")).cast(pa.timestamp(col.type.unit))
        columns.append(col.cast(f.type, safe=False) if col.type != f.type else col)
    return pa.Table.from_arrays(columns, schema=schema)


@dataclass(frozen=True)
class PartitionWrite:
    """One table's new rows for a partition, for :meth:`Warehouse.replace_partitions`.

    ``create_sql`` is the column list (DuckDB dialect) used when the table does not exist;
    with ``expected_rows`` the count is checked inside the swap transaction.
    """

    table: str
    frame: pd.DataFrame | pa.Table
    create_sql: str
    expected_rows: int | None = None


@dataclass(frozen=True)
class StagedPartition:
    """A staging table holding all new rows of ``table``'s partition, ready to swap in."""

    table: str
    staging: str
    create_sql: str


@functools.lru_cache(maxsize=256)
def _parsed(sql: str) -> exp.Expr:
    parsed = sqlglot.parse_one(sql, read="duckdb")
    if parsed is None:  # pragma: no cover - parse_one raises on empty input
        raise ConfigError(f"could not parse SQL: {sql[:200]!r}")
    return parsed


HASH_STATS_SQL = ("CAST(count(*) AS VARCHAR) AS hash_n, CAST(sum(t._leadscore_h) AS VARCHAR) "
                  "AS hash_sum, CAST(bit_xor(t._leadscore_h) AS VARCHAR) AS hash_xor")
"""The aggregates of a fingerprint over :func:`hashed_rows` (count, sum and XOR of the row
hashes, as texts: no engine's number type rounds them)."""


def hashed_rows(table: str, row_hash: str) -> str:
    """``table``'s rows as ``t`` with their hash ``row_hash`` (over alias ``t``) in column
    ``_leadscore_h``, for :data:`HASH_STATS_SQL`."""
    return f"(SELECT t.*, {row_hash} AS _leadscore_h FROM {quote_ident(table)} t) t"


def hash_stats(row: Mapping[str, Any]) -> str:
    """``count|sum|xor`` from a row of :data:`HASH_STATS_SQL`'s columns."""
    return f"{row['hash_n']}|{row['hash_sum']}|{row['hash_xor']}"


def _literal(value: Any) -> exp.Expr:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.strftime("%Y-%m-%d %H:%M:%S.%f")), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.convert(value)


def _partition_checks(
    writes: Sequence[PartitionWrite], partition_column: str, partition_value: Any,
    check: Callable[[Mapping[str, int]], None] | None,
) -> Callable[[Mapping[str, int]], None]:  # fmt: skip
    """Each write's ``expected_rows``, then ``check``, as one check of the counts."""

    def checks(counts: Mapping[str, int]) -> None:
        for w in writes:
            if w.expected_rows is not None and counts[w.table] != w.expected_rows:
                raise ScoringError(
                    f"table {w.table!r}: wrote {counts[w.table]} rows for {partition_column}="
                    f"{partition_value!r} but expected {w.expected_rows}; rolled back, "
                    "previous rows kept"
                )
        if check is not None:
            check(counts)

    return checks


class Warehouse:
    """A connection to one warehouse. Use as a context manager or call :meth:`close`.

    ``Warehouse(url)`` returns the subclass for the URL's engine. ``read_only`` states that
    the caller only reads: DuckDB opens the file without the write lock; PostgreSQL skips
    creating the URL's schema (temporary tables for in-memory frames are still allowed).
    """

    dialect: str = "duckdb"
    remote: bool = True
    """True when queries run in another process (a server): reading ahead on a thread then
    overlaps the engine's work with this process's; False for in-process engines."""
    inline_small_relations: bool = False
    """True when a query should carry a small in-memory relation (the snapshots of a lead
    frame) as a ``VALUES`` list rather than read it from :meth:`registered`'s table:
    PostgreSQL runs a query that reads a temporary table without parallel workers, and
    cannot fold its values into the plan."""


    def __new__(cls, url: str, *, read_only: bool = False) -> Self:
        target = _engine_class(WarehouseURL.parse(url).engine) if cls is Warehouse else cls
        return cast(Self, super().__new__(target))

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.parsed = WarehouseURL.parse(url)
        self.read_only = read_only

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_redact(self.url)!r})"

    # -- SQL -------------------------------------------------------------------------
    def translate(self, sql: str, params: Sequence[Any] | None = None) -> str:
        """``sql`` (DuckDB dialect, ``?`` placeholders) in this engine's dialect, with
        ``params`` bound as typed literals in order."""
        tree = _parsed(sql)
        if params:
            tree = exp.replace_placeholders(tree.copy(), *[_literal(p) for p in params])
        return tree.sql(dialect=self.dialect)

    def query_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query (DuckDB dialect, ``?`` placeholders) and return an Arrow table."""
        raise NotImplementedError

    def query_batches(
        self, sql: str, params: Sequence[Any] | None = None, *, rows: int = 100_000
    ) -> Iterator[pa.Table]:
        """Run a query and yield its result as Arrow tables of ``rows`` rows (the last may be
        smaller), streamed where the engine can; nothing else may run on this connection
        until the iterator is exhausted or closed."""
        table = self.query_arrow(sql, params)
        for start in range(0, table.num_rows, rows):
            yield table.slice(start, rows)

    def another(self) -> Warehouse:
        """A second connection to the same warehouse (for work on another thread)."""
        return Warehouse(self.url, read_only=self.read_only)

    def per_lead_aggregates(self) -> bool:
        """Whether lead frames should compute each lead's aggregates in a ``LATERAL`` subquery
        over its own events (:func:`features.lead_frame_sql`'s ``per_lead``): on an engine
        that reads one lead's events through an index, rather than hash-joining and grouping
        every event (here: no)."""
        return False

    def lead_parts(self) -> int:
        """How many parts :meth:`query_parts` should split a per-lead query into (1: the
        engine parallelises one query itself)."""
        return 1

    def partition_condition(self, part: int, parts: int) -> str:
        """A condition on ``{contact_id}`` (see :func:`features.lead_frame_sql`'s
        ``lead_filter``) true for exactly one ``part`` in ``range(parts)`` of every id."""
        raise NotImplementedError

    def query_parts(self, sqls: Sequence[str]) -> pa.Table:
        """The rows of every query of ``sqls`` (disjoint parts of one result), concatenated,
        all read as of one snapshot of the data. Here one after the other in this session."""
        return pa.concat_tables([self.query_arrow(sql) for sql in sqls])

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement that returns nothing (DuckDB dialect, ``?`` placeholders)."""
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run a query and return a pandas frame (through Arrow)."""
        return self.query_arrow(sql, params).to_pandas()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run a query returning one value (None for no rows)."""
        table = self.query_arrow(sql, params)
        return table.column(0)[0].as_py() if table.num_rows else None

    # -- metadata --------------------------------------------------------------------
    def tables(self) -> list[str]:
        """Names of the tables (and views) in the warehouse's schema, sorted."""
        raise NotImplementedError

    def _column_types(self, table: str) -> list[tuple[str, str]]:
        """(name, engine type) of each column of ``table``, in order."""
        raise NotImplementedError

    def has_table(self, table: str) -> bool:
        """Whether ``table`` exists."""
        return table in self.tables()

    def require_table(self, table: str) -> None:
        """Raise MissingTableError unless ``table`` exists."""
        found = self.tables()
        if table not in found:
            raise MissingTableError(table, _redact(self.url), found)

    def columns(self, table: str) -> dict[str, str]:
        """Column name to type (DuckDB's spelling, upper case) for ``table``, which must exist."""
        self.require_table(table)
        return {name: canonical_type(t) for name, t in self._column_types(table)}

    def fingerprint(self, tables: Sequence[str]) -> str | None:
        """A digest of the columns (names, types) and of every row of ``tables``, or None
        where the engine has no cheap way to compute one (then a caller must not assume
        anything is unchanged).

        Contract: equal digests mean, with overwhelming probability, that each table holds
        the same multiset of rows with the same columns; any insert, delete or update that
        changes a value, or a column's type, changes it. Per table it combines the row count
        with the sum and the XOR of a 64-bit hash of each row (order-independent, one scan;
        see each engine's :meth:`row_hash_sql`)."""
        stats = {}
        with self.full_scans():
            for table in tables:
                expr = self.row_hash_sql(table, "t") if table in self.tables() else None
                if expr is None:
                    return None
                row = self.query_arrow(f"SELECT {HASH_STATS_SQL} FROM {hashed_rows(table, expr)}")
                stats[table] = hash_stats(row.to_pylist()[0])
        return self.digest(stats)

    def digest(self, stats: Mapping[str, str]) -> str:
        """The fingerprint of tables whose :data:`HASH_STATS_SQL` columns read ``stats``
        (:func:`hash_stats`, by table, in order): the same digest :meth:`fingerprint` gives,
        for a caller that computed the stats in a scan of its own (validation)."""
        parts = [f"{table}|{self._column_types(table)}|{value}" for table, value in stats.items()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def row_hash_sql(self, table: str, alias: str) -> str | None:
        """An expression (DuckDB dialect, as every query here) of a 64-bit hash of each row
        of ``table`` read as ``alias``: a function of every column's value; None where the
        engine has no cheap one (see :meth:`fingerprint`)."""
        return None

    def ensure_index(self, table: str, columns: Sequence[str], include: Sequence[str] = ()
                     ) -> str:  # fmt: skip
        """Make sure ``table`` has an index leading with ``columns`` (covering ``include``)
        where the engine benefits from one; returns what happened: ``"exists"``,
        ``"created"``, ``"not needed"`` (engines that scan: DuckDB, Spark) or
        ``"recommended"`` (it could not be created, e.g. the role does not own the table;
        a warning gives the statement to run)."""
        return "not needed"

    # -- frames in and out -----------------------------------------------------------
    @contextmanager
    def registered(self, name: str, frame: pd.DataFrame | pa.Table) -> Iterator[str]:
        """Expose an in-memory frame to SQL as relation ``name`` for the duration of the block."""
        raise NotImplementedError
        yield  # pragma: no cover

    def write_table(
        self, table: str, frame: pd.DataFrame | pa.Table, *, replace: bool = True
    ) -> int:
        """Bulk-write ``frame`` as ``table`` (replacing it, or appending with ``replace=False``)
        in one transaction; returns the rows written."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT around the block, rolled back on any exception."""
        raise NotImplementedError
        yield  # pragma: no cover

    @contextmanager
    def full_scans(self) -> Iterator[None]:
        """Settings for the block's queries, each of which reads a whole large table with a few
        aggregates per row (validation); as they were after it. Nothing to set here."""
        yield

    def drop_table(self, table: str) -> None:
        """Drop ``table`` if it exists."""
        self.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")

    @contextmanager
    def exclusive_job(self, job: str) -> Iterator[None]:
        """Claim ``job`` (e.g. ``"score as_of 2025-11-15 00:00:00"``) on this warehouse for the
        block: while one process holds the claim, another asking for the same one gets a
        ScoringError naming the holder, before it has done anything. The claim ends with the
        block, or with the process (a killed job never leaves it behind).

        This default claims nothing: a DuckDB file is written by one process at a time
        anyway (DuckDB's file lock), Spark jobs are claimed by their scheduler.
        PostgreSQL overrides it with an advisory lock."""
        yield

    # -- atomic partition swap -------------------------------------------------------
    def staging_table(self, table: str, partition_value: Any) -> str:
        """The staging table for ``table``'s partition ``partition_value``. The name is fixed
        per (table, partition), so a rerun clears whatever a killed run left behind."""
        digest = hashlib.sha1(repr(partition_value).encode()).hexdigest()[:10]
        return f"{STAGING_PREFIX}{table}_{digest}"

    def replace_partition(
        self,
        table: str,
        frame: pd.DataFrame | pa.Table,
        *,
        partition_column: str,
        partition_value: Any,
        create_sql: str,
        expected_rows: int | None = None,
    ) -> int:
        """Atomically replace the rows of ``table`` where ``partition_column = partition_value``
        (:meth:`replace_partitions` for one table); returns the rows written."""
        write = PartitionWrite(table, frame, create_sql, expected_rows)
        return self.replace_partitions([write], partition_column=partition_column,
                                       partition_value=partition_value)[table]  # fmt: skip

    def replace_partitions(
        self,
        writes: Sequence[PartitionWrite],
        *,
        partition_column: str,
        partition_value: Any,
        check: Callable[[Mapping[str, int]], None] | None = None,
        pause: Callable[[str], None] | None = None,
    ) -> dict[str, int]:
        """Replace the ``partition_column = partition_value`` rows of several tables at once,
        all or nothing; returns the rows now in the partition, per table.

        Each ``expected_rows`` is checked, then ``check(counts)``; raising rolls everything
        back. ``pause(table)`` is called after each table's rows are written and
        ``pause("")`` just before the commit (the batch job's test hook).

        This default (engines without transactions, i.e. Spark): each frame is bulk-written
        to its staging table (:meth:`staging_table`), then :meth:`swap_partitions` moves them
        in. Transactional engines override it to write inside ONE transaction (delete the
        partition, bulk-append, count, check, commit): no staging copy, and a killed
        process's open transaction is rolled back by the engine."""
        staged = []
        for w in writes:
            staging = self.staging_table(w.table, partition_value)
            self.drop_table(staging)
            self.write_table(staging, w.frame, replace=True)
            staged.append(StagedPartition(w.table, staging, w.create_sql))
            if pause:
                pause(w.table)
        if pause:
            pause("")
        checks = _partition_checks(writes, partition_column, partition_value, check)
        return self.swap_partitions(staged, partition_column=partition_column,
                                    partition_value=partition_value, check=checks)  # fmt: skip

    def _replace_in_transaction(
        self,
        writes: Sequence[PartitionWrite],
        *,
        partition_column: str,
        partition_value: Any,
        check: Callable[[Mapping[str, int]], None] | None = None,
        pause: Callable[[str], None] | None = None,
    ) -> dict[str, int]:
        """:meth:`replace_partitions` for engines with transactions (see there)."""
        qc = quote_ident(partition_column)
        checks = _partition_checks(writes, partition_column, partition_value, check)
        written: dict[str, int] = {}
        with self.transaction():
            for w in writes:
                qt = quote_ident(w.table)
                self.execute(f"CREATE TABLE IF NOT EXISTS {qt} ({w.create_sql})")
                self.execute(f"DELETE FROM {qt} WHERE {qc} = ?", [partition_value])
                data = to_arrow(w.frame)
                if data.num_rows:
                    self.write_table(w.table, data, replace=False)
                written[w.table] = int(self.scalar(
                    f"SELECT count(*) FROM {qt} WHERE {qc} = ?", [partition_value]) or 0)  # fmt: skip
                log.info("wrote %d rows of %s (uncommitted)", data.num_rows, w.table)
                if pause:
                    pause(w.table)
            checks(written)
            if pause:
                pause("")
        for table, n in written.items():
            log.info("replaced %s rows of %s where %s = %s", n, table, partition_column,
                     partition_value)  # fmt: skip
        return written

    def swap_partitions(
        self,
        staged: Sequence[StagedPartition],
        *,
        partition_column: str,
        partition_value: Any,
        check: Callable[[Mapping[str, int]], None] | None = None,
    ) -> dict[str, int]:
        """Move fully written staging tables into their targets in ONE transaction.

        Per table: create it from ``create_sql`` if missing, delete the partition's rows,
        insert the staged rows, count them. Then ``check(counts)`` runs inside the transaction;
        raising rolls everything back. The staging tables are dropped (on failure too). Readers
        see the old rows or the new ones, never a mix; a failure or a killed process leaves the
        previous rows in place. Returns the rows now in the partition, per table.
        """
        qc = quote_ident(partition_column)
        written: dict[str, int] = {}
        try:
            with self.transaction():
                for s in staged:
                    qt = quote_ident(s.table)
                    qs = quote_ident(s.staging)
                    self.execute(f"CREATE TABLE IF NOT EXISTS {qt} ({s.create_sql})")
                    self.execute(f"DELETE FROM {qt} WHERE {qc} = ?", [partition_value])
                    cols = ", ".join(quote_ident(c) for c, _ in self._column_types(s.staging))
                    self.execute(f"INSERT INTO {qt} ({cols}) SELECT {cols} FROM {qs}")
                    written[s.table] = int(self.scalar(
                        f"SELECT count(*) FROM {qt} WHERE {qc} = ?", [partition_value]) or 0)  # fmt: skip
                if check is not None:
                    check(written)
                for s in staged:
                    self.execute(f"DROP TABLE {quote_ident(s.staging)}")
        except BaseException:
            for s in staged:
                try:
                    self.drop_table(s.staging)
                except Exception:  # the original error matters more
                    log.warning("could not drop staging table %s", s.staging, exc_info=True)
            raise
        for table, n in written.items():
            log.info("replaced %s rows of %s where %s = %s", n, table, partition_column,
                     partition_value)  # fmt: skip
        return written


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


# Session settings for leadscore's PostgreSQL connections (its queries are few, large
# analytical ones): memory per sort or hash before it spills to disk (the point-in-time
# query's aggregates over tens of millions of events spilled at the default 4MB and chose
# sorts of the whole events table), and no JIT compilation (seconds of compiling per query
# for plans that run once). Override the memory with LEADSCORE_PG_WORK_MEM (e.g. "64MB").
PG_WORK_MEM_ENV = "LEADSCORE_PG_WORK_MEM"
PG_PARTS_ENV = "LEADSCORE_PG_PARTS"
DEFAULT_PG_WORK_MEM = "256MB"
_PG_MEMORY = re.compile(r"^[0-9]+ ?(kB|MB|GB)$")


def _pg_session_settings() -> dict[str, str]:
    """The ``SET`` statements' values for a new leadscore session on PostgreSQL."""
    work_mem = os.environ.get(PG_WORK_MEM_ENV, "").strip() or DEFAULT_PG_WORK_MEM
    if not _PG_MEMORY.match(work_mem):
        raise ConfigError(f"{PG_WORK_MEM_ENV} must be an amount of memory such as '256MB' or "
                          f"'1GB', got {work_mem!r}")  # fmt: skip
    return {"work_mem": work_mem, "jit": "off"}


# (hash function, the value it hashes) per column type for PostgresWarehouse.row_hash_sql
# (else: as text)
_PG_HASHES: dict[str, tuple[str, str]] = {
    "BIGINT": ("hashint8extended", "{}"), "INTEGER": ("hashint4extended", "{}"),
    "SMALLINT": ("hashint2extended", "{}"), "DOUBLE": ("hashfloat8extended", "{}"),
    "REAL": ("hashfloat4extended", "{}"), "VARCHAR": ("hashtextextended", "{}"),
    "TIMESTAMP": ("timestamp_hash_extended", "{}"),
    "BOOLEAN": ("hashint4extended", "CAST({} AS INTEGER)"),
    "TIMESTAMP WITH TIME ZONE": ("timestamp_hash_extended", "{} AT TIME ZONE 'UTC'"),
}  # fmt: skip


class PostgresWarehouse(Warehouse):
    """A PostgreSQL server, through ADBC: Arrow in and out, bulk writes with ``COPY``.

    The connection runs in autocommit mode, so reads hold no locks between queries;
    :meth:`transaction` opens an explicit transaction for writes that must be atomic.

    Shaped for PostgreSQL's planner: the session gets ``work_mem`` (``LEADSCORE_PG_WORK_MEM``,
    default 256MB) and ``jit = off`` (on only for validation's scans of whole tables,
    :meth:`full_scans`, where compiling pays for itself); every CTE is written ``NOT
    MATERIALIZED`` (PostgreSQL materialises a CTE read more than once, and a plan reading a
    materialised CTE gets no parallel workers below it: the point-in-time query's three
    scans of the events ran on one core and sorted the whole table); lead frames carry their
    snapshots inline
    (:attr:`Warehouse.inline_small_relations`); a table created by :meth:`write_table` is
    ``ANALYZE``d at once, so the first query after a load is planned with statistics.
    Where ``events`` has an index leading with ``contact_id``, lead frames compute each
    lead's aggregates over its own events through it (:meth:`per_lead_aggregates`), split over
    sessions that share one snapshot (:meth:`query_parts`): a third of the server CPU of the
    layered query on the 1M-contact benchmark, on every core.
    """

    remote = True
    inline_small_relations = True

    dialect = "postgres"

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        super().__init__(url, read_only=read_only)
        settings = self._settings = _pg_session_settings()
        self._con = _pg_connect(self.parsed.database, url)
        self._cur = self._con.cursor()
        self._in_transaction = False
        self.schema = self.parsed.options.get("schema", "")
        if self.schema:
            if not read_only and not self._schema_exists():  # creating needs the right to
                self._run(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
            self._run(f"SET search_path TO {quote_ident(self.schema)}")
        for name, value in settings.items():
            self._run(f"SET {name} = {exp.Literal.string(value).sql('postgres')}")

    def _schema_exists(self) -> bool:
        self._cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = "
                          f"{exp.Literal.string(self.schema).sql('postgres')}")  # fmt: skip
        return bool(self._cur.fetchall()[0][0])

    def translate(self, sql: str, params: Sequence[Any] | None = None) -> str:
        """``sql`` in PostgreSQL's dialect, params bound, every CTE ``NOT MATERIALIZED``
        (see the class docstring)."""
        tree = _parsed(sql).copy()
        if params:
            tree = exp.replace_placeholders(tree, *[_literal(p) for p in params])
        for cte in tree.find_all(exp.CTE):
            cte.set("materialized", False)
        return tree.sql(dialect="postgres")

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        try:
            self._cur.close()
            self._con.close()
        except Exception:
            pass

    def _run(self, native_sql: str) -> None:
        self._cur.execute(native_sql)

    def query_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query (translated to PostgreSQL) and return an Arrow table."""
        native = self.translate(sql, params)
        try:
            self._cur.execute(native)
            return self._cur.fetch_arrow_table()
        except Exception as exc:
            raise _pg_error(exc, native) from exc

    def query_batches(
        self, sql: str, params: Sequence[Any] | None = None, *, rows: int = 100_000
    ) -> Iterator[pa.Table]:
        """Stream a query's result (binary COPY through ADBC) as Arrow tables of ``rows``
        rows (the last may be smaller)."""
        native = self.translate(sql, params)
        try:
            self._cur.execute(native)
            reader = self._cur.fetch_record_batch()
        except Exception as exc:
            raise _pg_error(exc, native) from exc
        pending = pa.Table.from_batches([], schema=reader.schema)
        for batch in reader:
            pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
            while pending.num_rows >= rows:  # zero-copy slices of exactly ``rows`` rows
                yield pending.slice(0, rows)
                pending = pending.slice(rows)
        if pending.num_rows:
            yield pending

    def per_lead_aggregates(self) -> bool:
        """Yes when ``events`` has an index leading with ``contact_id`` (``leadscore
        features`` creates one): each lead's subquery then reads only its own events. Without
        one every subquery would scan the whole table, so the layered form is used."""
        return self._index_leading("events", "contact_id")

    def _index_leading(self, table: str, column: str) -> bool:
        self._cur.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
            "WHERE c.relname = " + exp.Literal.string(table).sql("postgres") +
            " AND a.attname = " + exp.Literal.string(column).sql("postgres") +
            " AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid"
        )  # fmt: skip
        return bool(self._cur.fetchall()[0][0])

    def lead_parts(self) -> int:
        """One part per process the server would give one parallel query: its
        ``max_parallel_workers_per_gather`` plus the leader (``LEADSCORE_PG_PARTS``
        overrides). A per-lead query (a nested loop over ``LATERAL`` subqueries) gets no
        parallel workers of its own, so its parts run in sessions side by side."""
        forced = os.environ.get(PG_PARTS_ENV, "").strip()
        if forced:
            if not forced.isdigit() or int(forced) < 1:
                raise ConfigError(f"{PG_PARTS_ENV} must be a whole number of at least 1, got "
                                  f"{forced!r}")  # fmt: skip
            return int(forced)
        self._cur.execute("SELECT current_setting('max_parallel_workers_per_gather')::int")
        return max(1, int(self._cur.fetchall()[0][0]) + 1)

    def partition_condition(self, part: int, parts: int) -> str:
        """The id's text hashed by PostgreSQL's ``hashtext``, modulo ``parts`` (ids of any
        type; for the 1M demo contacts the parts hold 50.0% +- 0.1% each)."""
        return f"(hashtext(CAST({{contact_id}} AS VARCHAR)) & 1048575) % {parts} = {part}"

    def query_parts(self, sqls: Sequence[str]) -> pa.Table:
        """Each query on a session of its own, all at once, every session in a ``REPEATABLE
        READ`` transaction on the snapshot this session exports (``pg_export_snapshot``, as
        ``pg_dump --jobs`` does), so the parts read the same data. The sessions run without
        parallel workers of their own. An error in any part stops them all and is raised."""
        if len(sqls) <= 1 or self._in_transaction:  # (inside a transaction: its snapshot)
            return pa.concat_tables([self.query_arrow(sql) for sql in sqls])
        natives = [self.translate(sql) for sql in sqls]
        opened: list[PostgresWarehouse] = []
        self._run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            self._cur.execute("SELECT pg_export_snapshot()")
            snapshot = exp.Literal.string(str(self._cur.fetchall()[0][0])).sql("postgres")
            for _ in natives:
                part = cast(PostgresWarehouse, self.another())
                opened.append(part)
                part._run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                part._run(f"SET TRANSACTION SNAPSHOT {snapshot}")
                part._run("SET LOCAL max_parallel_workers_per_gather = 0")

            def run(pair: tuple[PostgresWarehouse, str]) -> pa.Table:
                part, native = pair
                try:
                    part._cur.execute(native)
                    return part._cur.fetch_arrow_table()
                except Exception as exc:
                    raise _pg_error(exc, native) from exc

            with ThreadPoolExecutor(max_workers=len(natives),
                                    thread_name_prefix="leadscore-pg-part") as pool:  # fmt: skip
                tables = list(pool.map(run, zip(opened, natives, strict=True)))
            return pa.concat_tables(tables)
        finally:
            for part in opened:
                part.close()  # (ends its transaction)
            self._run("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement (translated to PostgreSQL)."""
        native = self.translate(sql, params)
        try:
            self._cur.execute(native)
        except Exception as exc:
            raise _pg_error(exc, native) from exc

    def tables(self) -> list[str]:
        """Tables and views in the connection's current schema."""
        self._cur.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        )
        return [str(r[0]) for r in self._cur.fetchall()]

    def _column_types(self, table: str) -> list[tuple[str, str]]:
        self._cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = "
            f"{exp.Literal.string(table).sql('postgres')} ORDER BY ordinal_position"
        )
        return [(str(n), str(t)) for n, t in self._cur.fetchall()]

    def row_hash_sql(self, table: str, alias: str) -> str | None:
        """Each column hashed by its type's own 64-bit hash function with its position as
        the seed, XORed across the row (a null hashes to 0): cheaper than hashing the whole
        row as a record, which builds a composite value per row. PostgreSQL 14 and later
        (``bit_xor``)."""
        if self._server_version() < 140000:
            return None
        hashed = ""
        for position, (name, engine_type) in enumerate(self._column_types(table), start=1):
            function, cast = _PG_HASHES.get(canonical_type(engine_type),
                                             ("hashtextextended", "CAST({} AS VARCHAR)"))  # fmt: skip
            value = cast.format(f"{alias}.{quote_ident(name)}")
            term = f"COALESCE({function}({value}, {position}), 0)"
            hashed = f"XOR({hashed}, {term})" if hashed else term
        return hashed

    def ensure_index(self, table: str, columns: Sequence[str], include: Sequence[str] = ()
                     ) -> str:  # fmt: skip
        """A btree index on ``table`` leading with ``columns`` (see
        :meth:`Warehouse.ensure_index`), created when missing and the role may. Building it
        blocks writes to the table for its duration (about 40 s for 60M events on 2 busy
        cores), once."""
        cols = ", ".join(quote_ident(c) for c in columns)
        self._cur.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = "
            "i.indrelid WHERE c.relname = " + exp.Literal.string(table).sql("postgres") +
            " AND c.relnamespace = current_schema()::regnamespace"
        )  # fmt: skip
        wanted = f"({cols}"
        plain = f"({', '.join(columns)}"
        if any(wanted in str(d) or plain in str(d) for (d,) in self._cur.fetchall()):
            return "exists"
        name = quote_ident(f"leadscore_{table}_{'_'.join(columns)}"[:63])
        covering = f" INCLUDE ({', '.join(quote_ident(c) for c in include)})" if include else ""
        statement = f"CREATE INDEX IF NOT EXISTS {name} ON {quote_ident(table)} ({cols}){covering}"
        try:
            self._run("SET maintenance_work_mem = '512MB'")
            self._run(statement)
            self._run(f"ANALYZE {quote_ident(table)}")
        except Exception as exc:
            log.warning("table %s has no index on (%s) and this role could not create one (%s); "
                        "the point-in-time query is faster with it: ask the table's owner to "
                        "run: %s", table, ", ".join(columns),
                        str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                        statement)  # fmt: skip
            return "recommended"
        log.info("created index %s on %s (%s)", name, table, ", ".join(columns))
        return "created"

    def _server_version(self) -> int:
        """The server's ``server_version_num`` (e.g. 150004)."""
        self._cur.execute("SELECT current_setting('server_version_num')")
        return int(self._cur.fetchall()[0][0])

    @contextmanager
    def registered(self, name: str, frame: pd.DataFrame | pa.Table) -> Iterator[str]:
        """Copy an in-memory frame into a temporary table ``name`` for the block."""
        self._run(f"DROP TABLE IF EXISTS pg_temp.{quote_ident(name)}")
        self._cur.adbc_ingest(name, to_arrow(frame), mode="create", temporary=True)
        try:
            yield name
        finally:
            self._run(f"DROP TABLE IF EXISTS pg_temp.{quote_ident(name)}")

    def write_table(
        self, table: str, frame: pd.DataFrame | pa.Table, *, replace: bool = True
    ) -> int:
        """Write ``frame`` as ``table`` with ``COPY`` in one transaction. Appending to an
        existing table first puts the columns in the table's order and casts them to its
        types: binary COPY matches columns by position and sends each value's bytes as they
        are (an int32 into a float8 column would arrive as a tiny denormal, not an error)."""
        data = to_arrow(frame)
        with self.transaction():
            exists = self.has_table(table)
            if exists and not replace:
                data = _fit_to_table(data, table, self.columns(table))
            if replace and exists:
                self._run(f"DROP TABLE {quote_ident(table)}")
            mode = "append" if exists and not replace else "create"
            self._cur.adbc_ingest(table, data, mode=mode, db_schema_name=self.schema or None)
            if mode == "create" and data.num_rows:  # statistics for the next query's plan
                self._run(f"ANALYZE {quote_ident(table)}")
        return data.num_rows

    @contextmanager
    def full_scans(self) -> Iterator[None]:
        """JIT compilation on for the block (the session's default is off, see the class
        docstring): the validating scan of 60M events with its row hashes and the join to
        the contacts takes 6.6 s with it and 10.0 s without on the 1M-contact benchmark,
        where compiling costs under a second."""
        self._run("SET jit = on")
        try:
            yield
        finally:
            self._run(f"SET jit = {self._settings['jit']}")  # the session's own, as set

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back on any exception (not reentrant)."""
        if self._in_transaction:
            yield
            return
        self._run("BEGIN")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self._run("ROLLBACK")
            raise
        self._in_transaction = False
        self._run("COMMIT")

    replace_partitions = Warehouse._replace_in_transaction

    @contextmanager
    def exclusive_job(self, job: str) -> Iterator[None]:
        """Claim ``job`` with a session-level advisory lock (``pg_try_advisory_lock``) on a
        connection of its own, keyed by the schema and ``job``; the connection's
        ``application_name`` names this process and host, so a refused job can name the
        holder. The server releases the lock when the holder's connection ends."""
        key = _advisory_key(self.schema or "public", job)
        con = _pg_connect(self.parsed.database, self.url)
        cur = con.cursor()
        try:
            name = f"leadscore pid {os.getpid()} on {socket.gethostname()}"[:63]
            cur.execute(f"SET application_name = {exp.Literal.string(name).sql('postgres')}")
            cur.execute(f"SELECT pg_try_advisory_lock({key})")
            if not cur.fetchall()[0][0]:
                raise ScoringError(
                    f"another job is already running {job!r} on warehouse {_redact(self.url)}: "
                    f"{_advisory_holder(cur, key)}; this one stopped before writing anything. "
                    "Wait for that job to finish (or stop it), then run this one again"
                )
            log.info("claimed %r on %r (advisory lock %d)", job, self, key)
            yield
        finally:
            cur.close()
            con.close()  # ends the session, and with it the lock


def _advisory_key(schema: str, job: str) -> int:
    """A signed 64-bit advisory lock key for ``job`` in ``schema``."""
    digest = hashlib.sha256(f"leadscore|{schema}|{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _advisory_holder(cur: Any, key: int) -> str:
    """Who holds advisory lock ``key`` (a bigint key is pg_locks' classid:objid, objsubid 1)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    cur.execute(
        "SELECT a.pid, a.application_name, to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = "
        f"'advisory' AND l.granted AND l.classid = {unsigned >> 32} AND l.objid = "
        f"{unsigned & 0xFFFF_FFFF} AND l.objsubid = 1 AND l.database = (SELECT oid FROM "
        "pg_database WHERE datname = current_database())"
    )
    rows = cur.fetchall()
    if not rows:
        return "it has just finished (try again)"
    pid, application, since = rows[0]
    who = application if application else "a session without an application name"
    return f"{who} (PostgreSQL session {pid}, connected since {since})"


def _pg_connect(database: str, url: str) -> Any:
    """An ADBC connection in autocommit mode; a LeadscoreError naming the (redacted) URL when
    the server cannot be reached."""
    try:
        import adbc_driver_postgresql.dbapi as pg
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ConfigError(
            "PostgreSQL support needs the ADBC driver: pip install adbc-driver-postgresql"
        ) from exc
    try:
        return pg.connect(database, autocommit=True)
    except Exception as exc:
        raise LeadscoreError(
            f"could not connect to PostgreSQL warehouse {_redact(url)!r}: {exc}"
        ) from exc


_ARROW_TYPES: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(), "INTEGER": pa.int32(), "SMALLINT": pa.int16(), "DOUBLE": pa.float64(),
    "REAL": pa.float32(), "FLOAT": pa.float32(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"), "DATE": pa.date32(),
}  # fmt: skip


def _fit_to_table(data: pa.Table, table: str, columns: Mapping[str, str]) -> pa.Table:
    """``data`` with ``table``'s columns, in its order, cast to its types (by name)."""
    names = list(columns)
    if sorted(names) != sorted(data.column_names):
        raise DataValidationError(
            table, None, f"cannot append rows with columns {data.column_names}; the table has "
            f"{names}")  # fmt: skip
    arrays = []
    for name in names:
        column = data.column(name)
        target = _ARROW_TYPES.get(columns[name].split("(")[0].strip())
        if target is not None and column.type != target:
            try:
                column = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataValidationError(table, name, f"cannot store {column.type} values as "
                                          f"{columns[name]}: {exc}") from exc  # fmt: skip
        arrays.append(column)
    return pa.table(arrays, names=names)


def _pg_error(exc: Exception, native_sql: str) -> Exception:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LeadscoreError(f"PostgreSQL refused a query: {message}\n  query: {native_sql[:500]}")


def _engine_class(engine: str) -> type[Warehouse]:
    if engine == "duckdb":
        return DuckDBWarehouse
    if engine == "postgresql":
        return PostgresWarehouse
    if engine == "spark":
        from leadscore.features._spark import SparkWarehouse

        return SparkWarehouse
    raise ConfigError(f"unknown warehouse engine {engine!r}")  # pragma: no cover


def copy_tables(source: Warehouse, target: Warehouse, tables: Sequence[str],
                *, rename: Mapping[str, str] | None = None) -> dict[str, int]:  # fmt: skip
    """Copy whole tables from one warehouse to another through Arrow; returns rows per table."""
    rename = rename or {}
    counts = {}
    for table in tables:
        data = source.query_arrow(f"SELECT * FROM {quote_ident(table)}")
        counts[table] = target.write_table(rename.get(table, table), data, replace=True)
        log.info("copied %s rows of %s to %r", counts[table], table, target)
    return counts
