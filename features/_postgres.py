"""The PostgreSQL engine: a server read and written through Arrow (ADBC), bulk writes with
``COPY``.

Contract: :class:`PostgresWarehouse` is what ``Warehouse("postgresql://...")`` returns; its
session settings (``work_mem``, no JIT) and the split of large queries over several
sessions are tunable by environment (:data:`PG_WORK_MEM_ENV`, :data:`PG_PARTS_ENV`); jobs
that write a partition claim it with an advisory lock held by a session of their own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, cast

import pandas as pd
import pyarrow as pa
from leadscore.features._errors import (
    ConfigError,
    DataValidationError,
    LeadscoreError,
    ScoringError,
)
from leadscore.features._warehouse import (
    Warehouse,
    _literal,
    _parsed,
    _redact,
    canonical_type,
    quote_ident,
    to_arrow,
)
from sqlglot import exp

log = logging.getLogger(__name__)

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
