"""``make bench``: the figures users wait on, in one run, each with the machine's load.

Runs, one after the other (each in processes of its own, so their peaks and timings do not
mix), and prints their figures as one table at the end:

1. ``http_bench.py``: the scoring service, one lead a request, at 1 and 4 connections: raw
   events (50 per lead), precomputed counts, and ``mlflow models serve`` on the same model;
2. ``batch_bench.py``: point-in-time features for every open lead and the score job, on
   DuckDB and PostgreSQL (when ``--postgres`` or ``LEADSCORE_TEST_POSTGRES_URL`` names a
   server; ``make bench`` starts the private one), at ``--contacts`` (default 1M), with the
   production model and again with DESIGN.md's yardstick (exactly 300 trees of up to 63 leaves);
3. ``retrain_bench.py``: retraining at ``--contacts``: wall time and peak RSS of the process.

The warehouses are generated on the first run (slow: minutes at 1M contacts, not timed) and
reused after. ``--skip http,batch,retrain`` leaves parts out. Every figure comes with the
1-minute load average when its step started: on 2 cores, any other busy process slows the
figures, the p99 latencies most.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _run(script: str, args: list[str]) -> int:
    cmd = [sys.executable, str(HERE / script), *args]
    print(f"\n### {' '.join(cmd)}  (load {os.getloadavg()[0]:.2f})", flush=True)
    return subprocess.run(cmd, check=False).returncode


def _read(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _rows(http: dict[str, Any], batch: dict[str, Any], retrain: dict[str, Any],
          contacts: int) -> list[tuple[str, str, str]]:  # fmt: skip
    rows: list[tuple[str, str, str]] = []
    for r in http.get("rows", []):
        rows.append((f"HTTP {r['form']}, {r['connections']} conn",
                     f"{r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms",
                     f"{r['load']:.2f}"))  # fmt: skip
    for engine, f in batch.get("engines", {}).items():
        steps = f.get("feature_steps") or {}
        split = (f": validate {steps['validate']:.1f} s, SQL {steps['features']:.1f} s, write "
                 f"{steps['write']:.1f} s" if steps else "")  # fmt: skip
        rows.append((f"{engine} features, {contacts:,} contacts",
                     f"{f['features_seconds']:.1f} s ({f.get('open_leads', 0):,} open leads)"
                     + split, f"{f.get('load', float('nan')):.2f}"))  # fmt: skip
        rows.append((f"{engine} score job / raw predict",
                     f"{f['score_ratio']:.2f}x ({f['score_rows_per_second']:,.0f} rows/s)",
                     f"{f.get('load', float('nan')):.2f}"))  # fmt: skip
    engines = batch.get("engines", {})
    if "duckdb" in engines and "postgresql" in engines:
        ratio = engines["postgresql"]["features_seconds"] / engines["duckdb"]["features_seconds"]
        rows.append(("features PostgreSQL / DuckDB", f"{ratio:.2f}x", ""))
        sql = [engines[e].get("feature_steps", {}).get("features") for e in ("postgresql", "duckdb")]
        if sql[0] and sql[1]:
            rows.append(("point-in-time SQL alone, PostgreSQL / DuckDB", f"{sql[0] / sql[1]:.2f}x",
                         ""))  # fmt: skip
    for name, f in retrain.items():
        rows.append((f"retrain {contacts:,} contacts ({name})",
                     f"{f['wall_seconds']:.0f} s wall, {f['cpu_seconds']:.0f} s CPU, peak RSS "
                     f"{f['peak_rss_gib']:.2f} GiB",
                     f"{f['load_start']:.2f}"))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("bench-output"))
    parser.add_argument("--postgres", default=os.environ.get("LEADSCORE_TEST_POSTGRES_URL"))
    parser.add_argument("--http-seconds", type=float, default=10.0)
    parser.add_argument("--skip", default="", help="comma-separated: http,batch,retrain")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    start = os.getloadavg()
    failed = []
    if "http" not in skip and _run("http_bench.py", [
            "--seconds", str(args.http_seconds), "--workdir", str(work / "http"),
            "--json", str(work / "http.json")]):  # fmt: skip
        failed.append("http")
    batch_args = ["--contacts", str(args.contacts), "--workdir", str(work / "batch"),
                  "--json", str(work / "batch.json"), "--no-capacity"]  # fmt: skip
    if args.postgres:
        batch_args += ["--postgres", args.postgres]
    if "batch" not in skip and _run("batch_bench.py", batch_args):
        failed.append("batch")
    # the same job with DESIGN.md's yardstick model (300 trees of 63 leaves): the score job's
    # ratio to raw predict depends on the model's size, the early-stopped one being small
    reference = [*batch_args[:5], str(work / "batch-reference.json"), *batch_args[6:],
                 "--reference-model"]  # fmt: skip
    if "batch" not in skip and _run("batch_bench.py", reference):
        failed.append("batch (reference model)")
    if "retrain" not in skip and _run("retrain_bench.py", [
            "--contacts", str(args.contacts), "--workdir", str(work / "retrain")]):  # fmt: skip
        failed.append("retrain")
    rows = _rows(_read(work / "http.json"), _read(work / "batch.json"),
                 _read(work / "retrain" / "retrain-results.json"), args.contacts)  # fmt: skip
    for engine, f in _read(work / "batch-reference.json").get("engines", {}).items():
        rows.append((f"{engine} score job / raw predict, reference model",
                     f"{f['score_ratio']:.2f}x ({f['score_rows_per_second']:,.0f} rows/s)",
                     f"{f.get('load', float('nan')):.2f}"))  # fmt: skip
    end = os.getloadavg()
    w0 = max([len("figure"), *(len(r[0]) for r in rows)])
    w1 = max([len("value"), *(len(r[1]) for r in rows)])
    print(f"\n{'figure':<{w0}}  {'value':<{w1}}  load (1 min, at its start)")
    print("-" * (w0 + w1 + 30))
    for name, value, load in rows:
        print(f"{name:<{w0}}  {value:<{w1}}  {load}")
    print(f"\n{os.cpu_count()} CPUs; load average {start[0]:.2f} {start[1]:.2f} {start[2]:.2f} at "
          f"start, {end[0]:.2f} {end[1]:.2f} {end[2]:.2f} at end"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))  # fmt: skip
    if not args.postgres and "batch" not in skip:
        print("PostgreSQL skipped: no --postgres and LEADSCORE_TEST_POSTGRES_URL is not set "
              "(`make bench` starts the private server when PostgreSQL is installed)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
