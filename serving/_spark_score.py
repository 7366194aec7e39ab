"""Batch scoring on Spark, for teams beyond one machine: the Spark twin of
:func:`serving._batch.score_warehouse`, with the same inputs, outputs and guarantees.

Contract of :func:`score_spark`:

* the warehouse is a ``spark:///DATABASE`` URL; the job validates it and counts the contacts
  open at ``as_of`` (default: now), exactly as the DuckDB/PostgreSQL job does;
* the point-in-time lead frame is computed by Spark from the SAME SQL every engine runs
  (:func:`features._point_in_time.lead_frame_sql`, without its final ORDER BY, which only
  orders rows for pandas), or read from a materialised features table;
* the registered model's scoring bundle is loaded once on the driver and broadcast (its
  LightGBM calls set to ``spark.task.cpus`` threads: the tasks are the parallelism); each
  executor scores its rows with ``mapInPandas`` through :func:`models.score_leads`, the one
  scoring function the batch job, the MLflow pyfunc and the HTTP service share, so a lead
  gets the same numbers on every engine;
* rows that cannot be scored go to ``lead_score_errors`` by the same rules
  (:func:`serving._batch.unscorable`); reasons are computed for the same leads (``"all"``,
  ``"none"``, the top N or the team's ``"capacity"``; ties broken by ``contact_id``);
* before anything is written: one row per contact, and scored + unscorable = open contacts;
  after staging and before the swap, the same counts again on what was staged. If either
  check fails the job raises :class:`~features.ScoringError` and writes nothing;
* output: tables ``lead_scores`` and ``lead_score_errors`` of the warehouse's database,
  partitioned by ``as_of`` (:meth:`features._spark.SparkWarehouse.swap_partitions`), or with
  ``output_parquet`` the Parquet datasets ``PATH/lead_scores`` and ``PATH/lead_score_errors``
  (partition directories ``as_of=...``, :func:`features._spark.replace_parquet_partitions`).
  A rerun for the same ``as_of`` replaces, never duplicates. What is atomic on Spark and what
  is not is documented in those two functions: readers see the old rows or the new ones,
  never a mix, and a job failing before its swap leaves the previous scores.
  The test hook ``LEADSCORE_HOLD_AT`` (see :mod:`serving._batch`) holds this job only at
  its ``swap`` point.

Run it with ``spark-submit serving/_spark_score.py --warehouse spark:///db --model
models:/lead-quality@champion --as-of 2026-01-01 [--output-parquet PATH]`` or ``python -m
serving._spark_score ...`` (see :func:`main`). The executors need leadscore installed (the
same wheel as the driver) and their Python must be that interpreter: set ``PYSPARK_PYTHON``
for ``spark-submit`` (it defaults to ``python3`` on the PATH). ``MLFLOW_TRACKING_URI`` is read
on the driver only. With ``--output-parquet`` and no unscorable leads, the errors dataset gets
no partition directory (Parquet readers then see no rows and, in Spark, no schema).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlglot
from leadscore.features import (
    ConfigError,
    LeadscoreError,
    ScoringError,
    Warehouse,
    lead_frame_sql,
    validate_warehouse,
)
from leadscore.features._point_in_time import lead_frame_columns
from leadscore.features._schema import LEAD_SCORES
from leadscore.features._spark import (
    SparkWarehouse,
    local_session,
    quiet_pyspark,
)
from leadscore.features._spark_parquet import replace_parquet_partitions
from leadscore.features._spec import FeatureSpec
from leadscore.features._warehouse import StagedPartition, quote_ident
from leadscore.models import SCORE_COLUMNS, ScoringBundle, score_leads
from leadscore.serving._batch import (
    _CREATE_LEAD_SCORE_ERRORS,
    _CREATE_LEAD_SCORES,
    LEAD_SCORE_ERRORS,
    LEAD_SCORE_ERRORS_COLUMNS,
    LEAD_SCORES_COLUMNS,
    Hold,
    ScoreConfig,
    ScoreResult,
    _reasons_count,
    leads_to_score,
    unscorable,
)
from leadscore.training import configure_tracking
from leadscore.training._registry import load_bundle, resolve_model

if TYPE_CHECKING:
    from pyspark import Broadcast
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

log = logging.getLogger(__name__)

# what a scoring task returns per lead: its scores, or (one row per problem) why it has none
_ERROR_FIELDS = ("column_name", "value", "reason")


def _scored_schema(id_type: DataType) -> StructType:
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    text = StringType()
    fields = [StructField("contact_id", id_type), StructField("probability", DoubleType()),
              StructField("model_tier", text), StructField("rule_score", DoubleType()),
              StructField("rule_grade", text), StructField("reasons", text),
              StructField("rule_hits", text)]  # fmt: skip
    return StructType(fields + [StructField(c, text) for c in _ERROR_FIELDS])


def score_frame(
    bundle: ScoringBundle, frame: pd.DataFrame, *, required: tuple[str, ...], reasons: bool
) -> pd.DataFrame:
    """One batch of lead rows scored as the DuckDB job scores them: a row per scored lead
    (``contact_id`` and :data:`~models.SCORE_COLUMNS`, error fields null) and a row per
    problem of each lead that cannot be scored (score fields null, ``column_name``,
    ``value``, ``reason`` set). Runs in the executors; the input is not modified."""
    leads = frame.drop(columns=["as_of"], errors="ignore").reset_index(drop=True)
    problems = unscorable(leads, required)
    bad = np.zeros(len(leads), dtype=bool)
    bad[problems["position"].to_numpy(dtype="int64")] = True
    good = leads.loc[~bad].reset_index(drop=True)
    if len(good):
        scored = score_leads(bundle, good, reasons=reasons)
    else:
        scored = pd.DataFrame({c: pd.Series(dtype="object") for c in SCORE_COLUMNS})
        scored["probability"] = scored["probability"].astype("float64")
    ok = np.isfinite(scored["probability"].to_numpy(dtype="float64"))
    ids = good["contact_id"].to_numpy()
    parts = [pd.DataFrame({"contact_id": ids[ok],
                           **{c: scored[c].to_numpy()[ok] for c in SCORE_COLUMNS}})]  # fmt: skip
    positions = problems["position"].to_numpy(dtype="int64")
    parts.append(pd.DataFrame({
        "contact_id": leads["contact_id"].to_numpy()[positions],
        "column_name": problems["column_name"].to_numpy(), "value": problems["value"].to_numpy(),
        "reason": problems["reason"].to_numpy(),
    }))  # fmt: skip
    if not ok.all():
        parts.append(pd.DataFrame({"contact_id": ids[~ok],
                                   "reason": "the model returned no probability"}))  # fmt: skip
    out = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    columns = ["contact_id", *SCORE_COLUMNS, *_ERROR_FIELDS]
    out = out.reindex(columns=columns)
    for col in ("probability", "rule_score"):
        out[col] = out[col].astype("float64")
    for col in columns[1:]:
        if col not in ("probability", "rule_score"):
            out[col] = out[col].astype("object").where(out[col].notna(), None)
    return out


def executor_bundle(bundle: ScoringBundle, threads: int) -> ScoringBundle:
    """A copy of ``bundle`` whose LightGBM calls use ``threads`` threads (the model and its
    numbers are shared and unchanged): in Spark the tasks are the parallelism, one per
    executor core, so a task's predict should not start threads of its own."""
    model = copy.copy(bundle.lead_model)
    model.params = dataclasses.replace(model.params, n_jobs=threads)
    return dataclasses.replace(bundle, lead_model=model)


def _score_batches(
    batches: Iterable[pd.DataFrame], *, bundle: Broadcast[ScoringBundle],
    required: tuple[str, ...], reasons: bool,
) -> Iterator[pd.DataFrame]:  # fmt: skip
    model = bundle.value  # deserialised once per Python worker, then cached there
    for frame in batches:
        yield score_frame(model, frame, required=required, reasons=reasons)


def _explain_batches(
    batches: Iterable[pd.DataFrame], *, bundle: Broadcast[ScoringBundle]
) -> Iterator[pd.DataFrame]:
    model = bundle.value
    for frame in batches:
        leads = frame.drop(columns=["as_of"], errors="ignore").reset_index(drop=True)
        if len(leads):
            explained = score_leads(model, leads, reasons=True)
            yield pd.DataFrame({"contact_id": leads["contact_id"].to_numpy(),
                                "explained": explained["reasons"].to_numpy()})  # fmt: skip


def _without_order(sql: str) -> str:
    """The query without its outermost ORDER BY (a global sort is a shuffle in Spark)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree.set("order", None)
    return tree.sql(dialect="duckdb")


@contextmanager
def _lead_frame(wh: SparkWarehouse, config: ScoreConfig, as_of: datetime, spec: FeatureSpec
                ) -> Iterator[DataFrame]:  # fmt: skip
    """The lead frame of the model's ``spec`` as of ``as_of`` as a lazy Spark DataFrame
    (valid inside the block)."""
    if config.features_table is not None:
        wh.require_table(config.features_table)
        cols = ", ".join(quote_ident(c) for c in lead_frame_columns(with_labels=False, spec=spec))
        frame = wh.sql_dataframe(f"SELECT {cols} FROM {quote_ident(config.features_table)} "
                                 "WHERE as_of = CAST(? AS TIMESTAMP)", [as_of])  # fmt: skip
        if frame.isEmpty():
            raise ScoringError(f"table {config.features_table!r} has no rows for as_of {as_of}; "
                               "run `leadscore features` for that date first")  # fmt: skip
        yield frame
        return
    booleans = [c for c, t in wh.columns("contacts").items() if t == "BOOLEAN"]
    sql = _without_order(lead_frame_sql(with_labels=False, horizon_days=spec.horizon_days,
                                        boolean_columns=booleans, spec=spec))  # fmt: skip
    if spec.decision == "handoff":
        scope = pd.DataFrame({"since": [pd.Timestamp("1970-01-01")], "until": [pd.Timestamp(as_of)],
                              "open_only": [True]})  # fmt: skip
        with wh.registered("_range", scope):
            yield wh.sql_dataframe(sql)
        return
    with wh.registered("_snapshots", pd.DataFrame({"as_of": [pd.Timestamp(as_of)]})):
        yield wh.sql_dataframe(sql)


def score_spark(config: ScoreConfig, *, output_parquet: str | None = None) -> ScoreResult:
    """Score every open contact on Spark and write the scores (see the module docstring).

    ``config.warehouse`` must be a ``spark:///DATABASE`` URL; ``config.chunk_rows`` is the
    number of rows per pandas batch in the executors. With ``output_parquet`` the scores go
    to Parquet datasets under that path instead of the warehouse's tables; the result's
    ``table`` then names the scores dataset's path.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.perf_counter()
    timings: dict[str, float] = {}
    hold = Hold.from_env()  # the test hook; on Spark only its 'swap' point
    configure_tracking()
    name, version = resolve_model(config.model_uri)
    bundle = load_bundle(config.model_uri)
    now = datetime.now(UTC).replace(tzinfo=None)
    as_of = config.as_of or now
    wh = Warehouse(config.warehouse)
    if not isinstance(wh, SparkWarehouse):
        wh.close()
        raise ConfigError(f"the Spark scoring job needs a spark:///DATABASE warehouse, got "
                          f"{wh!r}; score other engines with score_warehouse()")  # fmt: skip
    with wh:
        mark = time.perf_counter()
        validate_warehouse(wh, now=max(now, as_of))
        expected = leads_to_score(wh, bundle.spec, as_of)
        timings["validate"] = time.perf_counter() - mark
        spark = wh.spark
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(config.chunk_rows))
        limit = config.reasons_limit()
        task_cpus = int(spark.sparkContext.getConf().get("spark.task.cpus", "1") or 1)
        shipped = spark.sparkContext.broadcast(executor_bundle(bundle, task_cpus))
        cached: list[DataFrame] = []
        try:
            with _lead_frame(wh, config, as_of, bundle.spec) as leads:
                mark = time.perf_counter()
                if limit not in (None, 0):  # a second pass explains the top leads
                    leads = leads.persist(StorageLevel.MEMORY_AND_DISK)
                    cached.append(leads)
                score = partial(_score_batches, bundle=shipped, required=config.required,
                                reasons=limit is None)  # fmt: skip
                id_type = leads.schema["contact_id"].dataType
                with quiet_pyspark():
                    scored = leads.mapInPandas(score, _scored_schema(id_type))
                scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
                cached.append(scored)
                ok = F.col("reason").isNull()
                stats = scored.agg(
                    F.count(F.when(ok, 1)).alias("scored"),
                    F.count_distinct(F.when(ok, F.col("contact_id"))).alias("scored_ids"),
                    F.count_distinct(F.when(~ok, F.col("contact_id"))).alias("erred_ids"),
                ).first()
                assert stats is not None
                n_scored, erred = int(stats["scored"]), int(stats["erred_ids"])
                _check_counts(n_scored, int(stats["scored_ids"]), erred, expected)
                n_reasons = _reasons_count(config, wh, as_of, n_scored)
                scores = scored.filter(ok)
                if limit not in (None, 0) and n_reasons:
                    top = (scores.orderBy(F.desc("probability"), F.asc("contact_id"))
                           .limit(n_reasons).select("contact_id"))  # fmt: skip
                    explain = partial(_explain_batches, bundle=shipped)
                    with quiet_pyspark():
                        explained = leads.join(F.broadcast(top), "contact_id", "left_semi") \
                            .mapInPandas(explain, f"contact_id {id_type.simpleString()}, "
                                                  "explained string")  # fmt: skip
                    top_or_empty = F.coalesce(F.col("explained"), F.col("reasons"))
                    scores = scores.join(explained, "contact_id", "left").withColumn(
                        "reasons", top_or_empty
                    )
                stamp = {
                    "as_of": F.lit(f"{as_of:%Y-%m-%d %H:%M:%S.%f}").cast("timestamp_ntz"),
                    "scored_at": F.lit(f"{now:%Y-%m-%d %H:%M:%S.%f}").cast("timestamp_ntz"),
                    "model_name": F.lit(name), "model_version": F.lit(version),
                }  # fmt: skip
                scores = scores.withColumns(stamp).select(*LEAD_SCORES_COLUMNS)
                errors = scored.filter(~ok).withColumns(stamp).select(*LEAD_SCORE_ERRORS_COLUMNS)
                reasons_by = {str(r["reason"]): int(r["count"])
                              for r in errors.groupBy("reason").count().collect()}  # fmt: skip
                timings["score"] = time.perf_counter() - mark
                mark = time.perf_counter()
                if output_parquet is None:
                    written = _write_tables(wh, scores, errors, as_of, expected, hold)
                    target = LEAD_SCORES
                else:
                    target = f"{output_parquet.rstrip('/')}/{LEAD_SCORES}"
                    written = _write_parquet(spark, output_parquet, scores, errors, as_of,
                                             expected, erred, hold)  # fmt: skip
                timings["write"] = time.perf_counter() - mark
        finally:
            for frame in cached:
                frame.unpersist()
            shipped.unpersist()
    if erred:
        log.warning("%d leads could not be scored (see %s): %s", erred, LEAD_SCORE_ERRORS,
                    reasons_by)  # fmt: skip
    return ScoreResult(
        rows=written, as_of=as_of, model_name=name, model_version=version, table=target,
        seconds=time.perf_counter() - started, errors=erred, reasons_rows=n_reasons,
        error_reasons=reasons_by, timings=timings,
    )  # fmt: skip


def _check_counts(n_scored: int, distinct_scored: int, erred: int, expected: int) -> None:
    if n_scored != distinct_scored:
        raise ScoringError(f"scoring produced {n_scored - distinct_scored} duplicate contact "
                           "rows; nothing was written")  # fmt: skip
    if n_scored + erred != expected:
        raise ScoringError(f"scoring produced {n_scored} rows and {erred} unscorable leads but "
                           f"{expected} contacts are open; nothing was written")  # fmt: skip


def _write_tables(wh: SparkWarehouse, scores: DataFrame, errors: DataFrame, as_of: datetime,
                  expected: int, hold: Hold) -> int:  # fmt: skip
    id_type = wh.columns("contacts")["contact_id"]
    targets = {LEAD_SCORES: (scores, _CREATE_LEAD_SCORES.format(id_type=id_type)),
               LEAD_SCORE_ERRORS: (errors, _CREATE_LEAD_SCORE_ERRORS.format(id_type=id_type))}  # fmt: skip
    staged = []
    for table, (frame, create_sql) in targets.items():
        staging = wh.staging_table(table, as_of)
        wh.drop_table(staging)  # what a killed run may have left
        wh.write_dataframe(staging, frame, replace=True)
        staged.append(StagedPartition(table, staging, create_sql))
    hold.at("swap")

    def check(counts: Mapping[str, int]) -> None:
        # inside swap_partitions each target name reads its staged rows
        erred = int(wh.scalar(f"SELECT count(DISTINCT contact_id) FROM {LEAD_SCORE_ERRORS} "
                              "WHERE as_of = CAST(? AS TIMESTAMP)", [as_of]) or 0)  # fmt: skip
        if counts[LEAD_SCORES] + erred != expected:
            raise ScoringError(f"staged {counts[LEAD_SCORES]} scored + {erred} unscorable leads "
                               f"for as_of {as_of} but {expected} contacts are open; nothing was "
                               "swapped, previous scores kept")  # fmt: skip

    written = wh.swap_partitions(staged, partition_column="as_of", partition_value=as_of,
                                 check=check)  # fmt: skip
    return written[LEAD_SCORES]


def _write_parquet(spark: Any, root: str, scores: DataFrame, errors: DataFrame, as_of: datetime,
                   expected: int, erred: int, hold: Hold) -> int:  # fmt: skip
    base = root.rstrip("/")
    paths = {LEAD_SCORES: f"{base}/{LEAD_SCORES}", LEAD_SCORE_ERRORS: f"{base}/{LEAD_SCORE_ERRORS}"}

    def check(counts: Mapping[str, int]) -> None:
        n_scored = counts[paths[LEAD_SCORES]]
        if n_scored + erred != expected:
            raise ScoringError(f"staged {n_scored} scored + {erred} unscorable leads for as_of "
                               f"{as_of} but {expected} contacts are open; nothing was swapped, "
                               "previous scores kept")  # fmt: skip
        hold.at("swap")

    written = replace_parquet_partitions(
        spark, {paths[LEAD_SCORES]: scores, paths[LEAD_SCORE_ERRORS]: errors},
        partition_column="as_of", partition_value=as_of, check=check,
    )  # fmt: skip
    return written[paths[LEAD_SCORES]]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="spark-submit serving/_spark_score.py",
        description="Score every open contact on Spark and write lead_scores atomically per "
        "as_of (the Spark twin of `leadscore score`).",
    )
    parser.add_argument("--warehouse", required=True, help="spark:///DATABASE")
    parser.add_argument("--model", default="models:/lead-quality@champion",
                        help="registered model URI (MLFLOW_TRACKING_URI names the store)")  # fmt: skip
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None,
                        help="snapshot time, ISO format (default: now, UTC)")  # fmt: skip
    parser.add_argument("--reasons", default="capacity",
                        help="model reasons for 'capacity' (default), 'all', 'none' or the top N")  # fmt: skip
    parser.add_argument("--require", default="",
                        help="comma-separated attributes without which a lead is not scored")  # fmt: skip
    parser.add_argument("--features-table", default=None,
                        help="read the lead frame from this table (see `leadscore features`)")  # fmt: skip
    parser.add_argument("--chunk-rows", type=int, default=ScoreConfig.chunk_rows,
                        help="rows per pandas batch in the executors")  # fmt: skip
    parser.add_argument("--output-parquet", default=None,
                        help="write Parquet datasets PATH/lead_scores and PATH/lead_score_errors "
                        "instead of the warehouse's tables")  # fmt: skip
    parser.add_argument("--local-dir", default=None,
                        help="without spark-submit: the directory where the local[2] session "
                        "keeps its catalog and tables (default $LEADSCORE_SPARK_DIR or "
                        "./leadscore-spark)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``spark-submit`` or ``python -m serving._spark_score``):
    0 when the scores were written, 1 when the job stopped with an error (nothing written)."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.local_dir:
        local_session(args.local_dir, persistent_catalog=True)
    try:
        required = tuple(c.strip() for c in args.require.split(",") if c.strip())
        config = ScoreConfig(warehouse=args.warehouse, model_uri=args.model, as_of=args.as_of,
                             reasons=args.reasons, required=required,
                             features_table=args.features_table, chunk_rows=args.chunk_rows)  # fmt: skip
        result = score_spark(config, output_parquet=args.output_parquet)
    except LeadscoreError as exc:
        log.error("%s", exc)
        return 1
    log.info("wrote %d rows to %s (as_of %s, %s v%s, reasons for %d, %d unscorable) in %.1f s",
             result.rows, result.table, result.as_of, result.model_name, result.model_version,
             result.reasons_rows, result.errors, result.seconds)  # fmt: skip
    return 0


if __name__ == "__main__":
    # spark-submit runs this file as __main__: call the installed module's main() so the
    # functions shipped to the executors are pickled by reference, not by value.
    from leadscore.serving._spark_score import main as _main

    raise SystemExit(_main())
