"""Batch scoring end to end on DuckDB and PostgreSQL against raw ``Booster.predict``.

What is timed, for N open leads (default: a warehouse of 1,000,000 contacts):

* ``features``: the point-in-time lead frame computed in the warehouse and materialised
  into ``lead_features`` (``leadscore features``), once per engine;
* ``score job``: ``leadscore score --features-table lead_features --reasons none``, i.e. read
  the lead rows, score both scorers, stage and swap ``lead_scores`` + ``lead_score_errors``.
  Its throughput (rows / (read + score + write)) is compared with raw
  ``lightgbm.Booster.predict`` on the same rows already encoded in memory, same run, same
  threads. Validation and model loading are reported apart (fixed costs, not per row);
* reasons: ``pred_contrib`` throughput on a sample, and what the default ``capacity`` policy
  and ``all`` would cost at this size.

The model is trained on a smaller warehouse (``--train-contacts``); scoring does not depend
on how many rows it was trained on. Prints figures and ratios; asserts nothing about time.

    .venv/bin/python benchmarks/batch_bench.py [--contacts 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AS_OF = datetime(2026, 1, 1)
SEED = 1
TRAIN_SEED = 2


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds() -> float:
    """CPU time of this process, every thread (user + system)."""
    return time.process_time()


def server_cpu_seconds(url: str) -> float:
    """CPU seconds used so far by a PostgreSQL server on this machine: its live processes
    plus the reaped ones (the postmaster's children's times: parallel workers, ended
    sessions); NaN when the server's processes cannot be read (another machine)."""
    from leadscore.features import Warehouse

    if not url:
        return float("nan")
    try:
        with Warehouse(url, read_only=True) as wh:
            backend = int(wh.scalar("SELECT pg_backend_pid()"))
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        tick = os.sysconf("SC_CLK_TCK")
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        total = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        for child in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split():
            try:
                f = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(f[11]) + int(f[12])
        return total / tick
    except (OSError, ValueError, IndexError):
        return float("nan")


def peak_rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def generate(path: Path, contacts: int, seed: int) -> None:
    import duckdb
    from leadscore.features._generator import GeneratorConfig, write_crm

    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        t0 = time.perf_counter()
        counts = write_crm(con, GeneratorConfig(n_contacts=contacts, seed=seed))
        print(f"  generated {counts} in {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        con.close()


YARDSTICK = "lead-quality-yardstick"
YARDSTICK_TREES = 300


def register_yardstick(train_db: Path) -> None:
    """Register :data:`YARDSTICK` @champion: the production model's bundle (spec, rules,
    tiers) with its LightGBM model replaced by one of exactly 300 trees of up to 63 leaves
    (DESIGN.md section 9's yardstick; no early stopping, so the tree count is the one
    asked for), fitted on the quarterly snapshots of 2024-2025 of ``train_db`` and
    Platt-calibrated on the same rows (a speed yardstick, not a model to trust)."""
    import tempfile

    import mlflow
    from leadscore.features import Warehouse, derive_attributes
    from leadscore.features._matrix import build_training_frame
    from leadscore.models import Calibrator, LeadModel, LeadModelParams
    from leadscore.models._pyfunc import PYFUNC_CODE_PATH, lead_signature
    from leadscore.training._registry import load_bundle, set_champion

    bundle = load_bundle("models:/lead-quality@champion")
    spec = bundle.spec
    snapshots = [datetime(y, m, 1) for y in (2024, 2025) for m in (1, 4, 7)]
    with Warehouse(f"duckdb:///{train_db}", read_only=True) as wh:
        frame = build_training_frame(wh, snapshots, horizon_days=90, data_end=AS_OF, spec=spec)
    rows = derive_attributes(frame.drop(columns=["as_of"]))
    y = frame["label"].to_numpy(dtype="float64")
    params = LeadModelParams(n_estimators=YARDSTICK_TREES, num_leaves=63)
    model = LeadModel(params, spec).fit_trees(rows.drop(columns=["label"]), y, YARDSTICK_TREES)
    model.calibrate(Calibrator.platt(model.raw_probability(rows), y))
    bundle.lead_model = model
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=YARDSTICK):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(PYFUNC_CODE_PATH),
            artifacts={"bundle": str(bundle.save(Path(tmp) / "bundle"))},
            signature=lead_signature(spec), registered_model_name=YARDSTICK,
        )  # fmt: skip
    set_champion(YARDSTICK, str(info.registered_model_version))


SOURCE_TABLES = ("contacts", "outcomes", "events")


def table_sizes(url: str) -> dict[str, int] | None:
    """The row count of each of :data:`SOURCE_TABLES` at ``url``; None when one is missing
    (the state file can be stale: the private server's data directory is removed when it
    stops)."""
    from leadscore.features import Warehouse

    with Warehouse(url, read_only=True) as wh:
        if not all(wh.has_table(t) for t in SOURCE_TABLES):
            return None
        return {t: int(wh.scalar(f"SELECT count(*) FROM {t}")) for t in SOURCE_TABLES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--train-contacts", type=int, default=100_000)
    parser.add_argument(
        "--reference-model",
        action="store_true",
        help="score with the yardstick model of DESIGN.md section 9, exactly 300 trees of up "
        "to 63 leaves, instead of the early-stopped production model",
    )
    parser.add_argument("--workdir", type=Path, default=Path("bench-output/batch"))
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="an existing DuckDB warehouse to score (default: generate one)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LEADSCORE_TEST_POSTGRES_URL", ""),
        help="PostgreSQL server URL (default $LEADSCORE_TEST_POSTGRES_URL; skipped when empty)",
    )
    parser.add_argument("--reasons-sample", type=int, default=2_000)
    parser.add_argument("--no-capacity", action="store_true",
                        help="skip the run with the default --reasons capacity")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write each engine's figures to this JSON file")  # fmt: skip
    args = parser.parse_args(argv)
    json_path = args.json.resolve() if args.json else None
    by_engine: dict[str, dict[str, Any]] = {}

    logging.basicConfig(level=logging.WARNING)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    source = args.source.resolve() if args.source else work / f"crm-{args.contacts}.duckdb"
    os.chdir(work)  # MLflow artifacts land in work/mlartifacts
    state_path = work / "state.json"
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.exists() else {}

    from leadscore.features import Warehouse
    from leadscore.features._warehouse import copy_tables
    from leadscore.serving._batch import ScoreConfig, materialise_features, score_warehouse
    from leadscore.training import TrainConfig, train
    from leadscore.training._registry import load_bundle

    print(f"batch scoring benchmark: {args.contacts:,} contacts, cpu_count={os.cpu_count()}, "
          f"load {loadavg()}", flush=True)  # fmt: skip
    if args.source is not None and state.get("source") != str(source):
        state["source"] = str(source)
        state.pop("postgres", None)
        state_path.write_text(json.dumps(state))
    if args.source is None and state.get("source") != f"{args.contacts}/{SEED}":
        print(f"  (prerequisite) generating {args.contacts:,} contacts, not timed", flush=True)
        generate(source, args.contacts, SEED)
        state["source"] = f"{args.contacts}/{SEED}"
        state.pop("features", None)
        state.pop("postgres", None)
        state_path.write_text(json.dumps(state))
    from leadscore.models import LeadModelParams

    name = "lead-quality"
    key = f"{name}/{args.train_contacts}/{TRAIN_SEED}"
    train_db = work / f"train-{args.train_contacts}.duckdb"
    if state.get(name) != key:
        print(f"  (prerequisite) training {name} on {args.train_contacts:,} contacts, not timed",
              flush=True)  # fmt: skip
        if not train_db.exists():
            generate(train_db, args.train_contacts, TRAIN_SEED)
        train(TrainConfig(warehouse=f"duckdb:///{train_db}", as_of=AS_OF, model_params=LeadModelParams(),
                          model_name=name))  # fmt: skip
        state[name] = key
        state_path.write_text(json.dumps(state))
    if args.reference_model:
        name = YARDSTICK
        if state.get(name) != key:
            print(f"  (prerequisite) fitting {name}: {YARDSTICK_TREES} trees on "
                  f"{args.train_contacts:,} contacts, not timed", flush=True)  # fmt: skip
            register_yardstick(train_db)
            state[name] = key
            state_path.write_text(json.dumps(state))
    model_uri = f"models:/{name}@champion"
    bundle = load_bundle(model_uri)
    results: list[tuple[str, str]] = []

    engines = [("duckdb", f"duckdb:///{source}")]
    if args.postgres:
        sep = "&" if "?" in args.postgres else "?"
        engines.append(("postgresql", f"{args.postgres}{sep}schema=leadscore_bench"))
    else:
        print("  PostgreSQL skipped: pass --postgres URL or set LEADSCORE_TEST_POSTGRES_URL")

    predict_rate = None
    features_by: dict[str, float] = {}
    sql_by: dict[str, float] = {}
    for engine, url in engines:
        print(f"\n== {engine} ==", flush=True)
        sizes = table_sizes(url)
        if engine == "postgresql" and (state.get("postgres") != state.get("source")
                                       or sizes != table_sizes(f"duckdb:///{source}")):
            t0 = time.perf_counter()
            with Warehouse(f"duckdb:///{source}", read_only=True) as src, Warehouse(url) as dst:
                counts = copy_tables(src, dst, list(SOURCE_TABLES))
                # the index the features job creates once (about 40 s), then the planner's
                # statistics and the visibility map, as a warehouse's autovacuum keeps them
                dst.ensure_index("events", ["contact_id", "occurred_at"], include=["event_type"])
                logging.getLogger("sqlglot").setLevel(logging.ERROR)  # (VACUUM: passed as is)
                for table in SOURCE_TABLES:
                    dst.execute(f"VACUUM ANALYZE {table}")
            dt = time.perf_counter() - t0
            rows = sum(counts.values())
            print(f"  (prerequisite) copied {rows:,} rows to PostgreSQL in {dt:.0f} s "
                  f"({rows / dt:,.0f} rows/s through COPY)", flush=True)  # fmt: skip
            state["postgres"] = state.get("source")
            state_path.write_text(json.dumps(state))
            sizes = {t: int(counts[t]) for t in SOURCE_TABLES}
        assert sizes is not None, f"{url} lacks a table of {SOURCE_TABLES}"
        print(f"  data: {sizes['contacts']:,} contacts, {sizes['events']:,} events, "
              f"{sizes['outcomes']:,} outcomes", flush=True)  # fmt: skip
        server = functools.partial(server_cpu_seconds, url if engine == "postgresql" else "")
        load0, c0, s0, t0 = loadavg(), cpu_seconds(), server(), time.perf_counter()
        steps: dict[str, float] = {}
        n_features = materialise_features(url, AS_OF, timings=steps)
        features_s = time.perf_counter() - t0
        features_cpu, features_server = cpu_seconds() - c0, server() - s0
        features_by[engine] = features_s
        sql_by[engine] = steps["features"]
        print(f"  features (validate + point-in-time SQL + write lead_features): "
              f"{n_features:,} open leads in {features_s:.1f} s (validate {steps['validate']:.1f}"
              f" s, index {steps['index']:.1f} s, point-in-time SQL {steps['features']:.1f} s, "
              f"write {steps['write']:.1f} s); cpu {features_cpu:.1f} s here"
              f"{'' if features_server != features_server else f' + {features_server:.1f} s server'}"
              f"; load {load0} -> {loadavg()}", flush=True)  # fmt: skip
        config = ScoreConfig(warehouse=url, model_uri=model_uri, as_of=AS_OF, reasons="none",
                             features_table="lead_features")  # fmt: skip
        load0, c0, s0 = loadavg(), cpu_seconds(), server()
        result = score_warehouse(config)
        score_cpu, score_server = cpu_seconds() - c0, server() - s0
        t = result.timings
        per_row = t["features"] + t["score"] + t["write"]
        rate = result.rows / per_row
        print(f"  score job: {result.rows:,} rows; read {t['features']:.1f} s, score "
              f"{t['score']:.1f} s, write {t['write']:.1f} s -> {rate:,.0f} rows/s; model load "
              f"{t['model']:.1f} s, validate {t['validate']:.1f} s (features job's validation "
              f"{'reused' if result.validation_reused else 'NOT reused'}); wall "
              f"{result.seconds:.1f} s; cpu {score_cpu:.1f} s here"
              f"{'' if score_server != score_server else f' + {score_server:.1f} s server'}"
              f"; load {load0} -> {loadavg()}", flush=True)  # fmt: skip
        if predict_rate is None:
            with Warehouse(url, read_only=True) as wh:
                frame = wh.query("SELECT * FROM lead_features WHERE as_of = ?", [AS_OF])
            from leadscore.features import derive_attributes

            matrix = bundle.lead_model.encode(derive_attributes(frame.drop(columns=["as_of"])))
            booster = bundle.lead_model.booster_
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                booster.predict(matrix, num_iteration=bundle.lead_model.best_iteration_)
                best = min(best, time.perf_counter() - t0)
            predict_rate = len(matrix) / best
            print(f"  raw Booster.predict on the same {len(matrix):,} encoded rows: "
                  f"{predict_rate:,.0f} rows/s ({bundle.lead_model.best_iteration_} trees, best "
                  f"of 3); load {loadavg()}", flush=True)  # fmt: skip
            sample = frame.drop(columns=["as_of"]).head(args.reasons_sample)
            from leadscore.models import score_leads

            t0 = time.perf_counter()
            score_leads(bundle, sample, reasons=True)
            with_reasons = len(sample) / (time.perf_counter() - t0)
            print(f"  reasons (pred_contrib, exact): {with_reasons:,.0f} rows/s on {len(sample):,} "
                  f"rows -> 'all' for {result.rows:,} leads ~ {result.rows / with_reasons / 60:.0f} min",
                  flush=True)  # fmt: skip
            results.append(("data", f"{sizes['contacts']:,} contacts, {sizes['events']:,} events, "
                            f"{n_features:,} open leads"))  # fmt: skip
            results.append(("reasons rows/s (score_leads with reasons)", f"{with_reasons:,.0f}"))
            results.append(("raw Booster.predict rows/s", f"{predict_rate:,.0f}"))
        by_engine[engine] = {"features_seconds": features_s, "open_leads": n_features,
                           "feature_steps": steps,
                           "score_rows_per_second": rate, "score_ratio": rate / predict_rate,
                           "predict_rows_per_second": predict_rate,
                           "load": float(load0.split()[0]), "validation_reused":
                           bool(result.validation_reused)}  # fmt: skip
        results.append((f"{engine}: features (validate + SQL + write lead_features)",
                        f"{features_s:.1f} s (load {load0.split()[0]}): validate "
                        f"{steps['validate']:.1f} s, SQL {steps['features']:.1f} s, write "
                        f"{steps['write']:.1f} s"))  # fmt: skip
        results.append((f"{engine}: score job rows/s (read+score+write)", f"{rate:,.0f}"))
        results.append((f"{engine}: score job ratio to Booster.predict", f"{rate / predict_rate:.2f}x"))
        results.append((f"{engine}: score job model load / validate (fixed)",
                        f"{t['model']:.1f} s / {t['validate']:.1f} s "
                        f"({'validation reused' if result.validation_reused else 'validated'})"))  # fmt: skip
        if args.no_capacity:
            continue
        result_cap = score_warehouse(ScoreConfig(warehouse=url, model_uri=model_uri, as_of=AS_OF,
                                                 features_table="lead_features"))  # fmt: skip
        results.append((f"{engine}: default reasons (capacity) rows / wall",
                        f"{result_cap.reasons_rows:,} / {result_cap.seconds:.1f} s"))  # fmt: skip
        print(f"  default --reasons capacity: reasons for {result_cap.reasons_rows:,} leads, "
              f"wall {result_cap.seconds:.1f} s; load {loadavg()}", flush=True)  # fmt: skip
    if "duckdb" in features_by and "postgresql" in features_by:
        results.append(("features PostgreSQL / DuckDB",
                        f"{features_by['postgresql'] / features_by['duckdb']:.2f}x"))  # fmt: skip
        results.append(("point-in-time SQL alone, PostgreSQL / DuckDB",
                        f"{sql_by['postgresql'] / sql_by['duckdb']:.2f}x"))  # fmt: skip

    if json_path is not None:
        json_path.write_text(json.dumps({"engines": by_engine, "contacts": args.contacts}, indent=1))
    print(f"\nsummary (load {loadavg()}, peak RSS {peak_rss_gib():.1f} GiB)")
    width = max(len(k) for k, _ in results)
    for key, value in results:
        print(f"  {key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
