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
engine classes, each in a module of its own (:mod:`features._duckdb`,
:mod:`features._postgres`, :mod:`features._spark`), imported when a URL names it; the rest of
leadscore only talks to :class:`Warehouse`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Self, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa
import sqlglot
from leadscore.features._errors import (
    ConfigError,
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


def _engine_class(engine: str) -> type[Warehouse]:
    """The engine's subclass, imported on first use (each lives in a module of its own)."""
    if engine == "duckdb":
        from leadscore.features._duckdb import DuckDBWarehouse

        return DuckDBWarehouse
    if engine == "postgresql":
        from leadscore.features._postgres import PostgresWarehouse

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
