"""Partition swaps for a Parquet path without a catalog, on Spark (``score --output-parquet``).

Contract: :func:`replace_parquet_partitions` writes each frame under a staging directory of
its path, then swaps it in for the partition directory ``COLUMN=VALUE`` (old data moved to a
trash directory first, removed after); a ``check`` runs between writing and swapping. A
crash leaves either the old partition or the new one in place, and the next run recovers a
half-done swap (:func:`_recover`). Renames on object stores are copies: use Delta Lake or
Iceberg there.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from leadscore.features._errors import ConfigError, LeadscoreError, ScoringError
from leadscore.features._spark import _partition_literal, quiet_pyspark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def _jvm(spark: SparkSession) -> Any:
    """The driver's JVM gateway (classic pyspark; Spark Connect has none)."""
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise ConfigError("Parquet output needs a classic Spark session (not Spark Connect)")
    return jvm


class _HadoopFS:
    """The few Hadoop FileSystem calls a directory swap needs (any Hadoop-supported URI)."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        context = spark.sparkContext
        self._jvm = _jvm(spark)
        self._root = self._jvm.org.apache.hadoop.fs.Path(root)
        self._fs = self._root.getFileSystem(context._jsc.hadoopConfiguration())

    def path(self, *parts: str) -> Any:
        out = self._root
        for part in parts:
            out = self._jvm.org.apache.hadoop.fs.Path(out, part)
        return out

    def exists(self, path: Any) -> bool:
        return bool(self._fs.exists(path))

    def delete(self, path: Any) -> None:
        if self._fs.exists(path):
            self._fs.delete(path, True)

    def rename(self, src: Any, dst: Any) -> None:
        if not self._fs.rename(src, dst):
            raise LeadscoreError(f"could not rename {src.toString()} to {dst.toString()}")

    def mkdirs(self, path: Any) -> None:
        self._fs.mkdirs(path)

    def child_dirs(self, path: Any) -> list[str]:
        """Names of the visible subdirectories (not ``.hidden`` or ``_metadata``)."""
        if not self._fs.exists(path):
            return []
        names = [s.getPath().getName() for s in self._fs.listStatus(path) if s.isDirectory()]
        return sorted(str(n) for n in names if not str(n).startswith((".", "_")))


def partition_directory(spark: SparkSession, partition_column: str, partition_value: Any) -> str:
    """The directory name Spark gives the partition (``as_of=2026-01-01 00%3A00%3A00``)."""
    text = spark.sql(f"SELECT CAST({_partition_literal(partition_value)} AS STRING)").first()
    utils = _jvm(spark).org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils
    return str(utils.getPartitionPathString(partition_column, text[0] if text else None))


def replace_parquet_partitions(
    spark: SparkSession,
    frames: Mapping[str, DataFrame],
    *,
    partition_column: str,
    partition_value: Any,
    check: Callable[[Mapping[str, int]], None] | None = None,
) -> dict[str, int]:
    """Replace partition ``partition_column = partition_value`` of Parquet datasets without a
    catalog: ``frames`` maps each dataset's path (Hive-style partition directories, as
    ``DataFrame.write.partitionBy`` lays them out) to its new rows. Returns rows per path.

    Per dataset: the rows are written to a hidden staging directory next to the partitions
    (``PATH/.leadscore-staging-*``), read back and counted (they must all belong to the
    partition). ``check(counts)`` then runs before anything is swapped; raising leaves every
    dataset untouched. Then per dataset: the old partition directory is renamed to a hidden
    trash name, the staged one is renamed into place, the trash is deleted.

    Atomicity: readers list the partition's files and see the old set or the new one, never
    a mix; between the two renames (microseconds on HDFS or a local disk) the partition reads
    as empty. A failure before the swap leaves the old rows; a process killed between the two
    renames leaves them in the trash directory, and the next run for that partition restores
    them before anything else. Object stores emulate renames by copying: there, use a table
    format with atomic commits. Datasets are swapped one after the other, not together.
    """
    part = partition_directory(spark, partition_column, partition_value)
    staging_name, trash_name = _swap_names(partition_value)
    systems = {path: _HadoopFS(spark, path) for path in frames}
    counts: dict[str, int] = {}
    try:
        for path, frame in frames.items():
            fs = systems[path]
            _recover(fs, part, trash_name)
            staging = fs.path(staging_name)
            fs.delete(staging)
            with quiet_pyspark():
                frame.write.partitionBy(partition_column).parquet(staging.toString())
            found = fs.child_dirs(staging)
            if found not in ([], [part]):
                raise ScoringError(f"rows for {path!r} fall in partitions {found}, expected only "
                                   f"{part!r}; nothing was swapped")  # fmt: skip
            counts[path] = (spark.read.parquet(fs.path(staging.getName(), part).toString()).count()
                            if found else 0)  # fmt: skip
        if check is not None:
            check(dict(counts))
        for path in frames:
            fs = systems[path]
            final, trash = fs.path(part), fs.path(trash_name)
            staged = fs.path(staging_name, part)
            fs.mkdirs(fs.path())
            fs.delete(trash)
            if fs.exists(final):
                fs.rename(final, trash)
            if counts[path]:
                try:
                    fs.rename(staged, final)
                except Exception:
                    if fs.exists(trash) and not fs.exists(final):
                        fs.rename(trash, final)  # put the old rows back
                    raise
            fs.delete(trash)
            log.info("replaced %d rows of %s in %s", counts[path], part, path)
    finally:
        for path, fs in systems.items():
            try:
                fs.delete(fs.path(staging_name))
            except Exception:
                log.warning("could not remove the staging directory under %s", path,
                            exc_info=True)  # fmt: skip
    return counts


def _swap_names(partition_value: Any) -> tuple[str, str]:
    """The hidden staging and trash directory names of a partition's swap: fixed per
    partition, so a rerun finds what a killed run left."""
    digest = hashlib.sha1(repr(partition_value).encode()).hexdigest()[:10]
    return f".leadscore-staging-{digest}", f".leadscore-trash-{digest}"


def _recover(fs: _HadoopFS, part: str, trash_name: str) -> None:
    """Undo what a swap killed between its two renames left: the old partition in the
    trash and no partition in place."""
    final, trash = fs.path(part), fs.path(trash_name)
    if fs.exists(trash):
        if fs.exists(final):
            fs.delete(trash)
        else:
            log.warning("restoring %s from %s (left by a killed swap)", part, trash.toString())
            fs.rename(trash, final)
