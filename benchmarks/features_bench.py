"""Point-in-time features on DuckDB against Polars and pandas references, same data, same run.

DESIGN.md section 8: features for 1M contacts x 50M events on DuckDB, measured against two
reference implementations of the same features (the SUBSET: per open contact at one
snapshot, events in the last 7/30/90 days, days since the last event, distinct active days
in the last 90 days; the cutoff is strictly before ``as_of``, a window of N days is
``as_of - N days <= occurred_at < as_of``, a contact is open when created before ``as_of``
with no outcome closed before it).

Implementations, each run in a process of its own so that its wall time and peak memory
(the child's ``VmHWM``, imports included) are its own:

* ``duckdb-full``: ``build_lead_frame(wh, [as_of])``, every feature (59 columns), on the
  DuckDB warehouse file; timed from opening the warehouse to the pandas frame;
* ``duckdb-subset``: the SUBSET from the same SQL generator
  (``lead_frame_sql(features=SUBSET)``, the subset columns selected), same file, same span;
* ``polars``: a Polars lazy query reading the tables exported to Parquet (the distinct days
  as a ``unique()`` + ``group_by``); timed from building the query to the collected frame,
  so reading the Parquet files is included;
* ``pandas``: vectorised pandas (``run.pandas_subset``) on the Parquet files read with
  ``pandas.read_parquet`` (only the columns it needs); the read is included (and printed).

Every implementation reads its input inside the timed span, from the same machine's page
cache: DuckDB its own file, the references Parquet files of the same tables, exported once
(not timed) next to the warehouse. The results are compared sorted by ``contact_id``: exact
for counts, within 1e-9 days for ``days_since_last_event`` (NaN where there is no event).

    .venv/bin/python benchmarks/features_bench.py [--contacts 1000000] [--workdir bench-output]
        [--repeat 3] [--impl duckdb-full,duckdb-subset,polars,pandas]
        [--polars-engine streaming|in-memory] [--duckdb-memory-limit 1GB]

The warehouse (``WORKDIR/bench.duckdb``) is the one ``benchmarks/run.py`` generates and is
reused when it was built for the same ``--contacts`` and seed. Prints figures and ratios;
asserts nothing about time. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(REPO), str(HERE)):
    if _path not in sys.path:  # run as a plain script from anywhere
        sys.path.insert(0, _path)

IMPLEMENTATIONS = ("duckdb-full", "duckdb-subset", "polars", "pandas")
COUNT_COLUMNS = ("events_7d", "events_30d", "events_90d", "active_days_90d")
FLOAT_COLUMNS = ("days_since_last_event",)
FLOAT_TOLERANCE = 1e-9  # days
TARGET_RATIO = 1.5  # DuckDB within 1.5x the Polars reference's wall time ...
TARGET_PEAK_GIB = 2.0  # ... and under 2 GiB peak RSS (issue 6)


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg prints them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_gib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
    return float("nan")


# ---------------------------------------------------------------------------------------------
# The implementations. Each runs in a child process and returns (frame, columns computed);
# the frame holds contact_id and the SUBSET columns. A child loads only the libraries of
# its implementation (PRELOAD), before its timed span.
# ---------------------------------------------------------------------------------------------


def run_duckdb_full(warehouse: str, parquet: Path, as_of: datetime, opts: dict[str, Any]) -> Any:
    from leadscore.features import Warehouse, build_lead_frame
    from run import SUBSET

    with Warehouse(warehouse, read_only=True) as wh:
        if opts.get("duckdb_memory_limit"):
            wh.execute(f"SET memory_limit = '{opts['duckdb_memory_limit']}'")
        frame = build_lead_frame(wh, [as_of]).frame
    return frame[["contact_id", *SUBSET]], frame.shape[1]


def run_duckdb_subset(warehouse: str, parquet: Path, as_of: datetime, opts: dict[str, Any]) -> Any:
    import pandas as pd
    from leadscore.features import Warehouse, engagement_features, lead_frame_sql
    from run import SUBSET

    subset = [f for name in SUBSET for f in engagement_features() if f.name == name]
    with Warehouse(warehouse, read_only=True) as wh:
        if opts.get("duckdb_memory_limit"):
            wh.execute(f"SET memory_limit = '{opts['duckdb_memory_limit']}'")
        booleans = [c for c, t in wh.columns("contacts").items() if t == "BOOLEAN"]
        sql = lead_frame_sql(
            with_labels=False, horizon_days=90, boolean_columns=booleans, features=subset
        )
        cols = ", ".join(["contact_id", *SUBSET])
        with wh.registered("_snapshots", pd.DataFrame({"as_of": pd.to_datetime([as_of])})):
            frame = wh.query(f"SELECT {cols} FROM ({sql}) ORDER BY contact_id")
    return frame, frame.shape[1]


def run_polars(warehouse: str, parquet: Path, as_of: datetime, opts: dict[str, Any]) -> Any:
    import polars as pl

    cut = pl.lit(as_of, dtype=pl.Datetime("us"))
    at = pl.col("occurred_at")

    def since(days: int) -> pl.Expr:
        return at >= as_of - timedelta(days=days)

    closed = (
        pl.scan_parquet(parquet / "outcomes.parquet")
        .filter(pl.col("closed_at") < cut)
        .select("contact_id")
    )
    spine = (
        pl.scan_parquet(parquet / "contacts.parquet")
        .filter(pl.col("created_at") < cut)
        .select("contact_id")
        .join(closed, on="contact_id", how="anti")
    )
    events = (
        pl.scan_parquet(parquet / "events.parquet")
        .select("contact_id", "occurred_at")
        .filter(at < cut)
        .join(spine, on="contact_id", how="semi")
    )
    counts = events.group_by("contact_id").agg(
        *[since(d).sum().cast(pl.Int64).alias(f"events_{d}d") for d in (7, 30, 90)],
        at.max().alias("last_at"),
    )
    active = (
        events.filter(since(90))
        .select("contact_id", at.dt.date().alias("day"))
        .unique()
        .group_by("contact_id")
        .agg(pl.len().cast(pl.Int64).alias("active_days_90d"))
    )
    days_since = (cut - pl.col("last_at")).dt.total_microseconds() / 86_400e6
    query = (
        spine.join(counts, on="contact_id", how="left")
        .join(active, on="contact_id", how="left")
        .with_columns(
            pl.col(*COUNT_COLUMNS).fill_null(0), days_since.alias("days_since_last_event")
        )
        .select(
            "contact_id",
            "events_7d",
            "events_30d",
            "events_90d",
            "days_since_last_event",
            "active_days_90d",
        )
        .sort("contact_id")
    )
    frame = query.collect(engine=opts.get("polars_engine", "streaming"))
    return frame, frame.width


def run_pandas(warehouse: str, parquet: Path, as_of: datetime, opts: dict[str, Any]) -> Any:
    import pandas as pd
    from run import pandas_subset

    t0 = time.perf_counter()
    contacts = pd.read_parquet(parquet / "contacts.parquet", columns=["contact_id", "created_at"])
    outcomes = pd.read_parquet(parquet / "outcomes.parquet", columns=["contact_id", "closed_at"])
    events = pd.read_parquet(parquet / "events.parquet", columns=["contact_id", "occurred_at"])
    opts["read_seconds"] = time.perf_counter() - t0
    frame = pandas_subset(contacts, outcomes, events, as_of)
    return frame, frame.shape[1]


PRELOAD: dict[str, tuple[str, ...]] = {
    "duckdb-full": ("duckdb", "pandas", "pyarrow", "features", "run"),
    "duckdb-subset": ("duckdb", "pandas", "pyarrow", "features", "run"),
    "polars": ("polars",),
    "pandas": ("pandas", "pyarrow", "run"),
}
RUNNERS: dict[str, Callable[[str, Path, datetime, dict[str, Any]], Any]] = {
    "duckdb-full": run_duckdb_full,
    "duckdb-subset": run_duckdb_subset,
    "polars": run_polars,
    "pandas": run_pandas,
}


def child(
    impl: str, warehouse: str, parquet: Path, out: Path, as_of: datetime, opts: dict[str, Any]
) -> int:
    """Run one implementation, write its SUBSET frame to ``out`` and print one JSON line."""
    for module in PRELOAD[impl]:
        importlib.import_module(module)
    baseline = _status_gib("VmRSS")
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    frame, width = RUNNERS[impl](warehouse, parquet, as_of, opts)
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    peak = _status_gib("VmHWM")  # before the result is written out
    if impl == "polars":
        frame.write_parquet(out)
    else:
        frame.to_parquet(out, index=False)
    report = {
        "impl": impl,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_gib": peak,
        "baseline_gib": baseline,
        "rows": len(frame),
        "columns": width,
        "read_seconds": opts.get("read_seconds"),
    }
    print(json.dumps(report), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# The parent: data, one child per run, comparison, figures.
# ---------------------------------------------------------------------------------------------


def export_parquet(db_path: Path, target: Path, generation: Any) -> None:
    """Export contacts, events and outcomes to ``target`` once per generated warehouse."""
    import duckdb

    marker = target / "export.json"
    try:
        if json.loads(marker.read_text()).get("generation") == generation:
            return
    except (OSError, ValueError):
        pass
    target.mkdir(parents=True, exist_ok=True)
    print(f"  exporting the tables to Parquet in {target} (not timed)", flush=True)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        con.execute("SET enable_progress_bar = false")
        for table in ("contacts", "events", "outcomes"):
            con.execute(f"COPY {table} TO '{target / table}.parquet' (FORMAT parquet)")
    finally:
        con.close()
    marker.write_text(json.dumps({"generation": generation}))


def spawn(
    impl: str, args: argparse.Namespace, warehouse: str, parquet: Path, out: Path, as_of: datetime
) -> dict[str, Any]:
    """Run ``impl`` in a child process: its JSON report and the load average around it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", impl, "--warehouse",
           warehouse, "--parquet", str(parquet), "--out", str(out), "--as-of",
           as_of.isoformat(), "--polars-engine", args.polars_engine]  # fmt: skip
    if args.duckdb_memory_limit:
        cmd += ["--duckdb-memory-limit", args.duckdb_memory_limit]
    load_before = loadavg()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{impl} failed (exit {proc.returncode}); its output:\n{proc.stdout}")
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    report["load"] = f"{load_before} -> {loadavg()}"
    return report


def compare(frames: dict[str, Any]) -> dict[str, str]:
    """Every frame against the first: '' when identical, else what differs."""
    import numpy as np

    names = list(frames)
    ref = frames[names[0]].sort_values("contact_id").reset_index(drop=True)
    verdicts = {}
    for name in names[1:]:
        other = frames[name].sort_values("contact_id").reset_index(drop=True)
        problems = []
        if len(other) != len(ref):
            problems.append(f"{len(other)} rows vs {len(ref)}")
        elif not np.array_equal(
            ref["contact_id"].to_numpy("int64"), other["contact_id"].to_numpy("int64")
        ):
            problems.append("contact ids differ")
        else:
            for col in COUNT_COLUMNS:
                bad = int((ref[col].to_numpy("int64") != other[col].to_numpy("int64")).sum())
                if bad:
                    problems.append(f"{col}: {bad} rows differ")
            for col in FLOAT_COLUMNS:
                x = ref[col].to_numpy("float64", na_value=np.nan)
                y = other[col].to_numpy("float64", na_value=np.nan)
                same_nan = np.isnan(x) == np.isnan(y)
                close = np.isnan(x) | (np.abs(x - y) <= FLOAT_TOLERANCE)
                bad = int((~(same_nan & close)).sum())
                if bad:
                    problems.append(f"{col}: {bad} rows differ by more than {FLOAT_TOLERANCE}")
        verdicts[name] = "; ".join(problems)
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contacts",
        type=int,
        default=1_000_000,
        help="contacts in the generated warehouse (about 54 events each)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("bench-output"),
        help="where the warehouse, the Parquet export and results go",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each implementation, interleaved; the best wall time "
        "and the highest peak are reported",
    )
    parser.add_argument(
        "--impl",
        default=",".join(IMPLEMENTATIONS),
        help=f"comma-separated subset of {', '.join(IMPLEMENTATIONS)}",
    )
    parser.add_argument(
        "--polars-engine",
        choices=("streaming", "in-memory"),
        default="streaming",
        help="Polars engine for the reference (the streaming one is the faster and leaner here)",
    )
    parser.add_argument(
        "--duckdb-memory-limit",
        default="",
        help="SET memory_limit for the DuckDB runs, e.g. 1GB (default: DuckDB's own, 80%% of RAM)",
    )
    # internal: run one implementation in this process
    parser.add_argument("--child", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    opts = {"polars_engine": args.polars_engine, "duckdb_memory_limit": args.duckdb_memory_limit}
    if args.child:
        return child(args.child, args.warehouse, args.parquet, args.out, args.as_of, opts)

    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    unknown = sorted(set(impls) - set(IMPLEMENTATIONS))
    if unknown or not impls:
        parser.error(f"--impl must name some of {', '.join(IMPLEMENTATIONS)}, got {args.impl!r}")
    if args.contacts <= 0 or args.repeat <= 0:
        parser.error("--contacts and --repeat must be positive")

    from run import AS_OF, SEED, Bench

    bench = Bench(args.contacts, args.workdir)
    print(f"features benchmark: {args.contacts:,} contacts (seed {SEED}), workdir {bench.workdir}")
    print(f"cpu_count {os.cpu_count()}, load average at start {loadavg()}", flush=True)
    bench.ensure_warehouse()
    state = bench._state()
    print(f"  warehouse {bench.db_path}: {state.get('counts')}", flush=True)
    parquet = bench.workdir / "features-parquet"
    export_parquet(bench.db_path, parquet, state.get("generation"))
    results_dir = bench.workdir / "features-results"
    results_dir.mkdir(exist_ok=True)

    runs: dict[str, list[dict[str, Any]]] = {i: [] for i in impls}
    for round_ in range(1, args.repeat + 1):
        for impl in impls:
            out = results_dir / f"{impl}.parquet"
            report = spawn(impl, args, bench.warehouse, parquet, out, AS_OF)
            runs[impl].append(report)
            read = f", read {report['read_seconds']:.2f} s" if report.get("read_seconds") else ""
            print(
                f"  [{round_}/{args.repeat}] {impl:<14} {report['seconds']:7.2f} s{read} "
                f"(cpu {report['cpu_seconds']:.1f} s), "
                f"peak {report['peak_gib']:.2f} GiB (after imports {report['baseline_gib']:.2f}), "
                f"{report['rows']:,} rows x {report['columns']}, load {report['load']}",
                flush=True,
            )

    import pandas as pd

    frames = {i: pd.read_parquet(results_dir / f"{i}.parquet") for i in impls}
    order = sorted(frames, key=lambda i: i != "pandas")  # pandas (if run) is the reference
    verdicts = compare({i: frames[i] for i in order})
    identical = not any(verdicts.values())

    best = {i: min(r["seconds"] for r in runs[i]) for i in impls}
    median = {i: statistics.median(r["seconds"] for r in runs[i]) for i in impls}
    peak = {i: max(r["peak_gib"] for r in runs[i]) for i in impls}
    cpu = {i: min(r["cpu_seconds"] for r in runs[i]) for i in impls}
    print(
        f"\n== features, {args.contacts:,} contacts, {args.repeat} run(s) each, polars engine "
        f"{args.polars_engine}, duckdb memory_limit "
        f"{args.duckdb_memory_limit or 'default'} =="
    )
    print(
        f"  {'implementation':<16}{'best s':>9}{'median s':>10}{'cpu s':>8}{'peak GiB':>10}"
        f"{'rows':>11}{'cols':>6}{'/polars':>9}{'/pandas':>9}"
    )
    for i in impls:
        vs_polars = f"{best[i] / best['polars']:.2f}x" if "polars" in best else "-"
        vs_pandas = f"{best[i] / best['pandas']:.2f}x" if "pandas" in best else "-"
        print(
            f"  {i:<16}{best[i]:>9.2f}{median[i]:>10.2f}{cpu[i]:>8.1f}{peak[i]:>10.2f}"
            f"{runs[i][0]['rows']:>11,}{runs[i][0]['columns']:>6}{vs_polars:>9}{vs_pandas:>9}"
        )
    print(f"  values identical ({', '.join(order)}): {identical}")
    for name, why in verdicts.items():
        if why:
            print(f"    {name} vs {order[0]}: {why}")
    if "polars" in best:
        for i in ("duckdb-subset", "duckdb-full"):
            if i in best:
                met = best[i] <= TARGET_RATIO * best["polars"] and peak[i] < TARGET_PEAK_GIB
                print(
                    f"  target {i} <= {TARGET_RATIO}x Polars and < {TARGET_PEAK_GIB:.0f} GiB "
                    f"peak: {'met' if met else 'NOT met'} ({best[i] / best['polars']:.2f}x, "
                    f"{peak[i]:.2f} GiB)"
                )
    print(f"  load average at end {loadavg()}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
