"""Spark SQL as a leadscore warehouse: ``spark:///DATABASE`` (issue 6).

Contract:

* :class:`SparkWarehouse` is the :class:`~features._warehouse.Warehouse` interface on a Spark
  session: queries written once in DuckDB's dialect run as Spark SQL (translated by SQLGlot,
  see :meth:`SparkWarehouse.translate`), results come back as Arrow, frames go in through
  Arrow and tables are written as Parquet in the warehouse's database.
* Each warehouse works in a **private session** (``SparkSession.newSession()``: same
  SparkContext, catalog and cached data, its own SQL settings, temporary views and current
  database), so two warehouses on one SparkContext never see each other's current database
  or temporary relations, and the settings below never leak into the caller's session:
  ``spark.sql.session.timeZone=UTC`` and ``spark.sql.timestampType=TIMESTAMP_NTZ`` (leadscore
  timestamps are naive UTC, like DuckDB's ``TIMESTAMP``: tables written here hold
  ``timestamp_ntz``, tables written by others with ``timestamp`` are read as UTC), and
  ``spark.sql.sources.partitionOverwriteMode=dynamic`` (see :meth:`swap_partitions`).
* Spark has no multi-statement transactions: :meth:`SparkWarehouse.transaction` refuses, and
  :meth:`SparkWarehouse.swap_partitions` gives the partition-swap guarantees with Spark's own
  means. What is atomic and what is not is spelled out there and in
  :func:`features._spark_parquet.replace_parquet_partitions` (the same swap for a Parquet
  path without a catalog).
* :func:`local_session` starts (or returns) the ``local[2]`` session tests, benchmarks and a
  laptop run use.

pyspark is an optional dependency (the ``spark`` extra); it is imported only when used.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
from leadscore.features._errors import ConfigError, LeadscoreError, ScoringError
from leadscore.features._warehouse import (
    StagedPartition,
    Warehouse,
    _literal,
    _parsed,
    _redact,
    quote_ident,
    to_arrow,
)
from sqlglot import exp

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SPARK_DIR_ENV = "LEADSCORE_SPARK_DIR"
# Settings of every warehouse's private session (see the module docstring).
SESSION_CONF: Mapping[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# pyspark 4.x warns on every pandas conversion that pandas 3 is "not yet fully supported";
# the conversions leadscore uses work (the tests compare values exactly), so that one
# warning is silenced around pyspark calls, and nothing else.
_PANDAS3_WARNING = r"PySpark does not yet fully support pandas"
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""
_WRITES = (exp.Create, exp.Drop, exp.Insert, exp.Delete, exp.Update, exp.Alter, exp.Merge,
           exp.TruncateTable)  # fmt: skip


def _pyspark_sql() -> Any:
    """The ``pyspark.sql`` module, or a ConfigError saying how to install it."""
    try:
        import pyspark.sql
    except ImportError as exc:
        raise ConfigError(
            "the Spark engine needs pyspark: pip install -e '.[spark]' (or pip install pyspark)"
        ) from exc
    return pyspark.sql


@contextmanager
def quiet_pyspark() -> Iterator[None]:
    """Silence pyspark's pandas-3 FutureWarning (only that one) for the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS3_WARNING, category=FutureWarning)
        yield


def local_session(
    root: str | Path | None = None,
    *,
    master: str = "local[2]",
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
    persistent_catalog: bool = False,
) -> SparkSession:
    """The process's Spark session, started as a local session if there is none yet.

    A new session runs ``master`` (default ``local[2]``) with the Python workers on this
    interpreter (``PYSPARK_PYTHON`` and ``PYSPARK_DRIVER_PYTHON`` are set to
    ``sys.executable``), ``spark.sql.session.timeZone=UTC``, ``shuffle_partitions`` shuffle
    partitions (small data wants few), no web UI, no progress bars and only errors logged.
    Its files live under ``root`` (else ``$LEADSCORE_SPARK_DIR``, else a temporary directory
    removed at exit): ``warehouse/`` (table data), ``scratch/`` (shuffle files) and, with
    ``persistent_catalog``, a Derby metastore in ``metastore_db/`` (Hive catalog) so that
    databases outlive the process; without it the catalog lives in memory.

    If a session already runs, it is returned as it is and the arguments are ignored.
    """
    sql = _pyspark_sql()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        return active
    if shuffle_partitions <= 0:
        raise ConfigError(f"shuffle_partitions must be positive, got {shuffle_partitions!r}")
    if root is None and os.environ.get(SPARK_DIR_ENV):
        root = os.environ[SPARK_DIR_ENV]
    if root is None:
        base = Path(tempfile.mkdtemp(prefix="leadscore-spark-"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
    else:
        base = Path(root).resolve()
    base.mkdir(parents=True, exist_ok=True)
    log4j = base / "log4j2.properties"
    log4j.write_text(_LOG4J2)
    # Workers must run this interpreter (with leadscore importable), not the system Python.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    java_opts = f"-Dderby.system.home={base / 'derby'} -Dlog4j2.configurationFile=file:{log4j}"
    builder = (
        sql.SparkSession.builder.master(master)
        .appName("leadscore")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.warehouse.dir", str(base / "warehouse"))
        .config("spark.local.dir", str(base / "scratch"))
        .config("spark.driver.memory", driver_memory)
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if persistent_catalog:
        url = f"jdbc:derby:;databaseName={base / 'metastore_db'};create=true"
        builder = builder.config("spark.hadoop.javax.jdo.option.ConnectionURL", url)
        builder = builder.enableHiveSupport()
    with quiet_pyspark():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    log.info("started Spark %s (%s) with its files under %s", spark.version, master, base)
    return spark


def default_session() -> SparkSession:
    """The session warehouses run in: the active one (a notebook, Databricks, or
    :func:`local_session` already called); under ``spark-submit`` or the ``pyspark`` shell
    (the JVM is already up) the one their configuration describes; in a plain Python process
    (the ``leadscore`` CLI) a :func:`local_session` whose catalog and tables persist under
    ``$LEADSCORE_SPARK_DIR`` or ``./leadscore-spark`` (an embedded Derby metastore: one
    process at a time)."""
    sql = _pyspark_sql()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        return active
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        with quiet_pyspark():
            return sql.SparkSession.builder.getOrCreate()
    root = os.environ.get(SPARK_DIR_ENV) or "leadscore-spark"
    return local_session(root, persistent_catalog=True)


def _bq(name: str) -> str:
    """A plain identifier quoted for Spark SQL."""
    quote_ident(name)  # validates
    return f"`{name}`"


def _epoch_seconds(node: exp.Expr) -> exp.Expr:
    """DuckDB's ``epoch(ts)`` (seconds as DOUBLE, microsecond precision) in a form Spark runs
    to the same bits: ``unix_micros(ts) / 1e6`` in doubles. SQLGlot's default,
    ``UNIX_TIMESTAMP``, drops the fraction of a second."""
    if not isinstance(node, exp.TimeToUnix):
        return node
    ltz = exp.cast(node.this, exp.DataType.build("TIMESTAMPLTZ"))
    micros = exp.cast(exp.Anonymous(this="UNIX_MICROS", expressions=[ltz]), "DOUBLE")
    return exp.paren(exp.Div(this=micros, expression=exp.cast(exp.Literal.number(1_000_000),
                                                                "DOUBLE")))  # fmt: skip


def _spark_ready(table: pa.Table) -> pa.Table:
    """Columns with no type (all null) as strings: Parquet cannot store a void column."""
    if not any(pa.types.is_null(f.type) for f in table.schema):
        return table
    columns = [c.cast(pa.string()) if pa.types.is_null(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _spark_error(exc: Exception, native_sql: str) -> LeadscoreError:
    text = str(exc).strip()
    message = text.splitlines()[0] if text else type(exc).__name__
    return LeadscoreError(f"Spark refused a query: {message}\n  query: {native_sql[:500]}")


class SparkWarehouse(Warehouse):
    """A database of the Spark catalog, in a private session (see the module docstring).

    The session is :func:`default_session`'s (the active one, ``spark-submit``'s, or a
    local one with a persistent catalog). Unless
    ``read_only``, the database is created if missing; with ``read_only`` it must exist and
    every write is refused.
    """

    dialect = "spark"

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        super().__init__(url, read_only=read_only)
        base = default_session()
        self.database = self.parsed.database
        self._spark: SparkSession = base.newSession()
        for key, value in SESSION_CONF.items():
            self._spark.conf.set(key, value)
        db = _bq(self.database)
        # checked first: a Hive metastore logs an error for CREATE DATABASE IF NOT EXISTS
        # on an existing database
        if not self._spark.catalog.databaseExists(self.database):
            if read_only:
                raise LeadscoreError(
                    f"Spark database {self.database!r} does not exist (from URL {url!r})"
                )
            self._spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
        self._spark.sql(f"USE {db}")

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Nothing to release: the private session (and its temporary views) goes when the
        warehouse is dropped; the SparkContext and the caller's session keep running."""

    @property
    def spark(self) -> SparkSession:
        """This warehouse's private session (current database = the warehouse's database)."""
        return self._spark

    def _qualified(self, table: str) -> str:
        return f"{_bq(self.database)}.{_bq(table)}"

    def _require_writable(self, what: str) -> None:
        if self.read_only:
            raise LeadscoreError(f"cannot {what}: warehouse {_redact(self.url)!r} is read-only")

    # -- SQL -------------------------------------------------------------------------
    def translate(self, sql: str, params: Sequence[Any] | None = None) -> str:
        """``sql`` (DuckDB dialect, ``?`` placeholders) as Spark SQL, ``params`` bound as
        typed literals; ``epoch()`` keeps its microseconds (see :func:`_epoch_seconds`)."""
        tree = _parsed(sql)
        if params:
            tree = exp.replace_placeholders(tree.copy(), *[_literal(p) for p in params])
        return tree.transform(_epoch_seconds).sql(dialect=self.dialect)

    def _run(self, native: str) -> DataFrame:
        try:
            with quiet_pyspark():
                return self._spark.sql(native)
        except Exception as exc:
            raise _spark_error(exc, native) from exc

    def sql_dataframe(self, sql: str, params: Sequence[Any] | None = None) -> DataFrame:
        """The query (DuckDB dialect, ``?`` placeholders) as a lazy Spark DataFrame: analysed
        (so a bad query fails here), not run. Relations registered with :meth:`registered`
        must stay registered until the DataFrame has been used."""
        return self._run(self.translate(sql, params))

    def query_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query and collect it as Arrow (naive UTC timestamps, ``string`` text)."""
        native = self.translate(sql, params)
        frame = self._run(native)
        try:
            with quiet_pyspark():
                return to_arrow(frame.toArrow())
        except Exception as exc:
            raise _spark_error(exc, native) from exc

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement (translated to Spark SQL); writes are refused when read-only."""
        if self.read_only and isinstance(_parsed(sql), _WRITES):
            self._require_writable(f"run {sql.strip()[:60]!r}")
        self._run(self.translate(sql, params))

    # -- metadata --------------------------------------------------------------------
    def tables(self) -> list[str]:
        """Tables and views of the database (not temporary views), sorted."""
        rows = self._run(f"SHOW TABLES IN {_bq(self.database)}").collect()
        return sorted(str(r["tableName"]) for r in rows if not r["isTemporary"])

    def _column_types(self, table: str) -> list[tuple[str, str]]:
        try:
            schema = self._spark.table(self._qualified(table)).schema
        except Exception as exc:
            raise _spark_error(exc, f"<schema of {self._qualified(table)}>") from exc
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]

    def partition_columns(self, table: str) -> list[str]:
        """The partition columns of ``table`` (empty when it is not partitioned)."""
        columns = self._spark.catalog.listColumns(self._qualified(table))
        return [c.name for c in columns if c.isPartition]

    # -- frames in and out -----------------------------------------------------------
    def dataframe(self, frame: pd.DataFrame | pa.Table) -> DataFrame:
        """An in-memory frame as a Spark DataFrame of this session (through Arrow)."""
        data = _spark_ready(to_arrow(frame))
        with quiet_pyspark():
            return self._spark.createDataFrame(data)

    @contextmanager
    def registered(self, name: str, frame: pd.DataFrame | pa.Table) -> Iterator[str]:
        """Expose an in-memory frame as temporary view ``name`` (of this warehouse's session
        only) for the duration of the block."""
        quote_ident(name)
        self.dataframe(frame).createOrReplaceTempView(name)
        try:
            yield name
        finally:
            self._spark.catalog.dropTempView(name)

    def write_table(
        self, table: str, frame: pd.DataFrame | pa.Table, *, replace: bool = True
    ) -> int:
        """Write ``frame`` as Parquet table ``table`` of the database (replacing it, or
        appending by column name with ``replace=False``); returns the rows written.

        Not atomic on Spark: replacing drops the old table before the new files are
        committed, and a failed append can leave some of its files. Use
        :meth:`replace_partition` for writes readers must only see whole."""
        data = _spark_ready(to_arrow(frame))
        self.write_dataframe(table, self.dataframe(data), replace=replace)
        return data.num_rows

    def write_dataframe(self, table: str, frame: DataFrame, *, replace: bool = True) -> None:
        """As :meth:`write_table` for a Spark DataFrame (run and written by the executors)."""
        self._require_writable(f"write table {table!r}")
        qualified = self._qualified(table)
        try:
            if replace or not self.has_table(table):
                mode = "overwrite" if replace else "errorifexists"
                frame.write.mode(mode).format("parquet").saveAsTable(qualified)
            else:
                target = [f.name for f in self._spark.table(qualified).schema.fields]
                missing = [c for c in target if c not in frame.columns]
                if missing:
                    raise ConfigError(f"cannot append to table {table!r}: the frame lacks its "
                                      f"columns {missing} (it has {frame.columns})")  # fmt: skip
                frame.select(*target).write.insertInto(qualified)
        except LeadscoreError:
            raise
        except Exception as exc:
            raise _spark_error(exc, f"<write {qualified}>") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Refused: Spark SQL has no multi-statement transactions (see
        :meth:`swap_partitions` for what can be made atomic)."""
        raise LeadscoreError(
            "Spark has no multi-statement transactions; replace a partition with "
            "replace_partition()/swap_partitions() instead"
        )
        yield  # pragma: no cover

    def drop_table(self, table: str) -> None:
        """Drop ``table`` (and its files, for a managed table) if it exists."""
        self._require_writable(f"drop table {table!r}")
        self._run(f"DROP TABLE IF EXISTS {self._qualified(table)}")

    # -- the partition swap ----------------------------------------------------------
    def swap_partitions(
        self,
        staged: Sequence[StagedPartition],
        *,
        partition_column: str,
        partition_value: Any,
        check: Callable[[Mapping[str, int]], None] | None = None,
    ) -> dict[str, int]:
        """Move fully written staging tables into the ``partition_column = partition_value``
        partition of their targets, Spark's way (no transaction to roll back).

        1. Every staging table is counted, and must hold rows of that partition only.
        2. ``check(counts)`` runs next, BEFORE anything is swapped; during the call each
           target name resolves to its staged rows (a temporary view), so a check that
           counts ``WHERE partition_column = value`` sees what the partition will hold.
           Raising stops the job with every target untouched.
        3. Missing targets are created (``create_sql``, Parquet, ``PARTITIONED BY
           (partition_column)``); an existing target must be partitioned by exactly that
           column (else ConfigError: overwriting it would replace the whole table).
        4. Per table: ``INSERT OVERWRITE ... PARTITION (partition_column)`` from the staging
           table in dynamic partition-overwrite mode (an empty staging table drops the
           partition instead), then the partition is counted again.
        5. Staging tables are dropped (on failure too).

        Atomicity, honestly: the overwrite job writes the new files to a hidden staging
        directory; only when every task has succeeded does the commit delete the partition's
        directory and rename the new one into place. So a job that fails or is killed before
        that commit leaves the old rows, and readers never see a mix of old and new rows. The
        commit itself is a delete then a rename (on HDFS and local disks a directory rename is
        atomic): for that instant the partition reads as empty, and a reader that listed the
        old files just before can fail with a missing file; a process killed between the two
        (milliseconds) loses the partition until a rerun. On object stores (S3, GCS) renames
        are copies, so use a table format with atomic commits there (Delta Lake, Iceberg).
        Several tables are swapped one after the other, not together: a failure after the
        first swap leaves that table new and the next old (rerun the job). Returns the rows
        now in the partition, per table.
        """
        self._require_writable("swap partitions")
        qc = quote_ident(partition_column)
        counts: dict[str, int] = {}
        try:
            for s in staged:
                row = self.query_arrow(
                    f"SELECT count(*) AS n, sum(CASE WHEN {qc} = ? THEN 0 ELSE 1 END) AS stray "
                    f"FROM {quote_ident(s.staging)}", [partition_value]
                ).to_pylist()[0]  # fmt: skip
                if row["stray"]:
                    raise ScoringError(
                        f"staging table {s.staging!r} holds {row['stray']} rows outside "
                        f"{partition_column}={partition_value!r}; nothing was swapped"
                    )
                counts[s.table] = int(row["n"])
            if check is not None:
                with self._staged_as_targets(staged):
                    check(dict(counts))
            for s in staged:
                self._ensure_partitioned(s, partition_column)
            written: dict[str, int] = {}
            for s in staged:
                self._overwrite_partition(s, partition_column, partition_value, counts[s.table])
                written[s.table] = int(self.scalar(
                    f"SELECT count(*) FROM {quote_ident(s.table)} WHERE {qc} = ?",
                    [partition_value]) or 0)  # fmt: skip
                if written[s.table] != counts[s.table]:
                    raise ScoringError(
                        f"table {s.table!r} holds {written[s.table]} rows for {partition_column}="
                        f"{partition_value!r} after the swap but {counts[s.table]} were staged: "
                        "did another job write the same partition?"
                    )
                log.info("replaced %s rows of %s where %s = %s", written[s.table], s.table,
                         partition_column, partition_value)  # fmt: skip
        finally:
            for s in staged:
                try:
                    self.drop_table(s.staging)
                except Exception:  # the original error matters more
                    log.warning("could not drop staging table %s", s.staging, exc_info=True)
        return written

    @contextmanager
    def _staged_as_targets(self, staged: Sequence[StagedPartition]) -> Iterator[None]:
        names = []
        try:
            for s in staged:
                self._run(f"CREATE OR REPLACE TEMPORARY VIEW {_bq(s.table)} AS "
                          f"SELECT * FROM {self._qualified(s.staging)}")  # fmt: skip
                names.append(s.table)
            yield
        finally:
            for name in names:
                self._spark.catalog.dropTempView(name)

    def _ensure_partitioned(self, s: StagedPartition, partition_column: str) -> None:
        if not self.has_table(s.table):
            create = self.translate(f"CREATE TABLE IF NOT EXISTS {quote_ident(s.table)} "
                                    f"({s.create_sql})")  # fmt: skip
            self._run(f"{create} USING PARQUET PARTITIONED BY ({_bq(partition_column)})")
            return
        found = self.partition_columns(s.table)
        if found != [partition_column]:
            raise ConfigError(
                f"table {s.table!r} must be partitioned by [{partition_column!r}] for an atomic "
                f"partition swap on Spark, but its partition columns are {found}; "
                "drop it or write to another table"
            )

    def _overwrite_partition(
        self, s: StagedPartition, partition_column: str, partition_value: Any, rows: int
    ) -> None:
        target = self._qualified(s.table)
        if rows == 0:
            # dynamic overwrite replaces only partitions that receive rows: drop it instead
            self._run(f"ALTER TABLE {target} DROP IF EXISTS PARTITION "
                      f"({_bq(partition_column)} = {_partition_literal(partition_value)})")  # fmt: skip
            return
        columns = [f.name for f in self._spark.table(target).schema.fields]
        staged_columns = set(self._spark.table(self._qualified(s.staging)).columns)
        missing = [c for c in columns if c not in staged_columns]
        if missing:
            raise ConfigError(f"staging table {s.staging!r} lacks columns {missing} "
                              f"of {s.table!r}")  # fmt: skip
        mode = str(self._spark.conf.get("spark.sql.sources.partitionOverwriteMode") or "")
        if mode.lower() != "dynamic":
            # static mode would replace the whole table: never run the overwrite then
            raise LeadscoreError("spark.sql.sources.partitionOverwriteMode must be 'dynamic'")
        select = ", ".join(_bq(c) for c in columns)
        self._run(f"INSERT OVERWRITE TABLE {target} PARTITION ({_bq(partition_column)}) "
                  f"SELECT {select} FROM {self._qualified(s.staging)}")  # fmt: skip


def _partition_literal(value: Any) -> str:
    """A constant for a PARTITION (...) clause (Spark accepts no CAST there)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return f"TIMESTAMP_NTZ'{value:%Y-%m-%d %H:%M:%S.%f}'"
    if isinstance(value, date):
        return f"DATE'{value.isoformat()}'"
    return exp.convert(value).sql(dialect="spark")


# -- Parquet datasets without a catalog ------------------------------------------------------



