"""Batch scoring on Spark ``local[2]`` against raw ``Booster.predict`` (DESIGN.md section 8-9).

Run with ``.venv/bin/python benchmarks/spark_bench.py [--rows 1000000] [--contacts 200000]
[--workdir bench-output] [--rounds 2] [--task-threads 1]``. Needs pyspark (the ``spark``
extra) and Java 17.

It reuses (or builds, untimed) the synthetic warehouse and the registered model that
``benchmarks/run.py`` keeps in ``--workdir`` (same seed, same ``as_of``), builds the
point-in-time lead frame once with DuckDB, repeats its rows up to ``--rows`` (fresh contact
ids) and writes them as Parquet files. Then, in the same process:

* the Spark session start (JVM and context), the first thing timed;
* raw ``Booster.predict`` on the already-encoded rows in memory, best of ``--rounds``: the
  model alone, the yardstick;
* ``score_leads(bundle, rows, reasons=False)`` in this process on the same rows (the DuckDB
  batch job's scoring step, one pandas frame);
* Spark: read the Parquet files, score with ``mapInPandas`` (the production task function of
  :mod:`serving._spark_score`, with the bundle broadcast), write Parquet; best of
  ``--rounds``. A read-and-write pass with no scoring shows Spark's own I/O share.

Prints rows/s for each and the ratio to raw ``Booster.predict`` (1.0 = as fast as the model
alone; 2.0 = twice its time), and the load average at start and end: on 2 cores any other
busy process slows the 2-thread LightGBM parts most. No assertions.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks.run import Bench, _load_bundle, loadavg  # noqa: E402


def replicate(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``rows`` lead rows: the frame's rows repeated in order (and cut), with fresh
    contact ids 1..rows so the output has one row per id."""
    take = np.arange(rows) % len(frame)
    out = frame.iloc[take].reset_index(drop=True)
    out["contact_id"] = np.arange(1, rows + 1, dtype="int64")
    return out


def best_seconds(fn: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def in_memory(bundle: Any, leads: pd.DataFrame, rounds: int) -> tuple[float, float]:
    """Best seconds of raw ``Booster.predict`` on the encoded rows and of ``score_leads``."""
    from leadscore.models import score_leads

    lm = bundle.lead_model
    rows = len(leads)
    matrix = lm.encode(leads)
    booster, it, threads = lm.booster_, lm.best_iteration_, lm.params.n_jobs
    predict_s = best_seconds(lambda: booster.predict(matrix, num_iteration=it,
                                                     num_threads=threads), rounds)  # fmt: skip
    line(f"raw Booster.predict ({threads} threads, in memory)",
         f"{rows / predict_s:,.0f} rows/s ({predict_s:.2f} s)")  # fmt: skip
    local_s = best_seconds(lambda: score_leads(bundle, leads, reasons=False), rounds)
    line("score_leads(reasons=False), one process, in memory",
         f"{rows / local_s:,.0f} rows/s, {local_s / predict_s:.2f}x predict")  # fmt: skip
    return predict_s, local_s


def line(name: str, value: str) -> None:
    print(f"  {name:<58} {value}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to score (default 1M)")
    parser.add_argument("--contacts", type=int, default=200_000,
                        help="contacts of the generated warehouse (default 200000, as run.py)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=Path("bench-output"),
                        help="warehouse + MLflow store shared with run.py (default bench-output/)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2, help="timed repetitions (best kept)")
    parser.add_argument("--files", type=int, default=8, help="Parquet files of input rows")
    parser.add_argument("--batch-rows", type=int, default=100_000,
                        help="rows per pandas batch in the executors (default 100000)")  # fmt: skip
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--task-threads", type=int, default=1,
                        help="LightGBM threads per Spark task (default 1, as the job's "
                        "spark.task.cpus default)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.rows <= 0 or args.rounds <= 0 or args.files <= 0:
        parser.error("--rows, --rounds and --files must be positive")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore")  # MLflow/pyspark chatter would hide the figures
    load_start = loadavg()
    print(f"Spark scoring benchmark: {args.rows:,} rows, {args.master}, workdir {args.workdir}")
    print(f"python {platform.python_version()}, {platform.platform()}")
    print(f"cpu_count {os.cpu_count()}, load average at start {load_start}", flush=True)

    # -- prerequisites (untimed) -------------------------------------------------------------
    bench = Bench(args.contacts, args.workdir)
    uri = bench.ensure_model()
    frame = bench.ensure_frame()
    _, bundle = _load_bundle(uri)
    leads = replicate(frame.drop(columns=["as_of"]), args.rows)
    data_dir = bench.workdir / "spark-bench"
    shutil.rmtree(data_dir, ignore_errors=True)
    inputs = data_dir / "leads"
    inputs.mkdir(parents=True)
    table = pa.Table.from_pandas(leads, preserve_index=False)
    per_file = -(-args.rows // args.files)
    for i in range(args.files):
        pq.write_table(table.slice(i * per_file, per_file), inputs / f"part-{i:03d}.parquet")
    line("rows (lead frame of the warehouse, repeated)", f"{args.rows:,} ({len(frame):,} distinct)")
    line("model", f"{uri}, {bundle.lead_model.best_iteration_} trees")

    # -- Spark session -----------------------------------------------------------------------
    from leadscore.features._spark import SESSION_CONF, local_session, quiet_pyspark
    from leadscore.serving._spark_score import _score_batches, _scored_schema, executor_bundle
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    spark = local_session(data_dir / "session", master=args.master, driver_memory="4g")
    started = time.perf_counter() - t0
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_rows))
    line("Spark session start", f"{started:.1f} s (Spark {spark.version})")

    # -- in memory -----------------------------------------------------------------------------
    predict_s, local_s = in_memory(bundle, leads, args.rounds)
    del leads, table
    gc.collect()

    # -- Spark: read Parquet, score in the executors, write Parquet ----------------------------
    shipped = spark.sparkContext.broadcast(executor_bundle(bundle, args.task_threads))
    line("LightGBM threads per Spark task", str(args.task_threads))
    source = spark.read.parquet(str(inputs))
    id_type = source.schema["contact_id"].dataType
    line("Spark input partitions", f"{source.rdd.getNumPartitions()}")
    score = partial(_score_batches, bundle=shipped, required=(), reasons=False)
    out = data_dir / "scores"

    def io_only() -> None:
        source.write.mode("overwrite").parquet(str(data_dir / "copy"))

    def spark_score() -> None:
        with quiet_pyspark():
            scored = source.mapInPandas(score, _scored_schema(id_type))
        scored.write.mode("overwrite").parquet(str(out))

    io_s = best_seconds(io_only, args.rounds)
    line("Spark read + write Parquet, no scoring", f"{args.rows / io_s:,.0f} rows/s ({io_s:.1f} s)")
    spark_s = best_seconds(spark_score, args.rounds)
    line("Spark read + mapInPandas score_leads + write",
         f"{args.rows / spark_s:,.0f} rows/s ({spark_s:.1f} s)")  # fmt: skip
    line("ratio Spark job / raw Booster.predict (time)", f"{spark_s / predict_s:.2f}x")
    line("ratio Spark job / in-process score_leads (time)", f"{spark_s / local_s:.2f}x")
    written = spark.read.parquet(str(out))
    check = written.agg(F.count("*").alias("n"), F.count_distinct("contact_id").alias("ids"),
                        F.sum(F.col("probability").isNull().cast("int")).alias("nulls")).first()  # fmt: skip
    assert check is not None
    line("rows written / distinct ids / null probabilities",
         f"{check['n']:,} / {check['ids']:,} / {check['nulls']:,}")  # fmt: skip
    shipped.unpersist()
    shutil.rmtree(data_dir, ignore_errors=True)  # ~100 MB of Parquet per million rows
    line("load average at start (1/5/15 min)", load_start)
    line("load average at end (1/5/15 min)", loadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
