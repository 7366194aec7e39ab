"""leadscore benchmarks: figures and ratios for DESIGN.md section 8 (speed goals).

Run with ``make bench`` or ``.venv/bin/python benchmarks/run.py [--contacts N] [--workdir DIR]
[--only SECTION]``. Sections, in order: generate, features, training, scoring, latency.
Each later section reuses what an earlier one left in ``--workdir`` (the warehouse, the
registered model); with ``--only`` a missing prerequisite is built first, untimed.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import logging
import os
import platform
import resource
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SECTIONS = ("generate", "features", "training", "scoring", "latency")
SEED = 1
AS_OF = datetime(2026, 1, 1)
LATENCY_CALLS = 2000
LATENCY_WARMUP = 50
LATENCY_BUDGET = 25.0  # seconds per latency case at most (a slow path stops before 2000 calls)
# Sample sizes that keep the slow measurements bounded at any --contacts.
CONTRIB_SECONDS = 8.0  # target wall time for the pred_contrib throughput sample
REASONS_ALL_BUDGET = 90.0  # seconds; end-to-end reasons="all" is skipped above this estimate
REPEAT_SECONDS = 3.0  # target wall time for repeated fast batch measurements
SUBSET = ("events_7d", "events_30d", "events_90d", "days_since_last_event", "active_days_90d")


# ---------------------------------------------------------------------------------------------
# Recording figures
# ---------------------------------------------------------------------------------------------


class Figures:
    """Every printed figure, kept for the final summary table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, section: str, name: str, value: Any, unit: str = "", fmt: str = "") -> None:
        if isinstance(value, float) and not fmt:
            fmt = ",.3f" if abs(value) < 100 else ",.0f"
        elif isinstance(value, int) and not isinstance(value, bool) and not fmt:
            fmt = ","
        text = format(value, fmt) if fmt else str(value)
        if unit:
            text = f"{text} {unit}"
        self.rows.append((section, name, text))
        print(f"  {name:<52} {text}", flush=True)

    def table(self) -> str:
        w0 = max([len("section"), *(len(r[0]) for r in self.rows)])
        w1 = max([len("figure"), *(len(r[1]) for r in self.rows)])
        lines = [f"{'section':<{w0}}  {'figure':<{w1}}  value", "-" * (w0 + w1 + 30)]
        lines += [f"{s:<{w0}}  {n:<{w1}}  {v}" for s, n, v in self.rows]
        return "\n".join(lines)


FIG = Figures()


def header(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)), flush=True)


def loadavg() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# ---------------------------------------------------------------------------------------------
# Memory: peak RSS of a block, relative to the RSS when it started (Linux: VmHWM reset).
# ---------------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """``with PeakRSS() as m: ...`` then ``m.delta_mib``: peak RSS during the block minus the
    RSS at its start. Falls back to ``ru_maxrss`` growth (an underestimate when an earlier
    peak was higher) where the peak cannot be reset."""

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.exact = _reset_peak()
        self.start_kib = _status_kib("VmRSS") or 0
        self.start_max_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc: object) -> None:
        hwm = _status_kib("VmHWM") if self.exact else None
        if hwm is not None:
            self.peak_kib = hwm
            self.delta_kib = hwm - self.start_kib
        else:
            self.exact = False
            self.peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.delta_kib = self.peak_kib - max(self.start_max_kib, self.start_kib)

    @property
    def delta_mib(self) -> float:
        return self.delta_kib / 1024


# ---------------------------------------------------------------------------------------------
# Shared state between sections
# ---------------------------------------------------------------------------------------------


class Bench:
    """Paths, options and what earlier sections produced."""

    def __init__(self, contacts: int, workdir: Path) -> None:
        self.contacts = contacts
        self.workdir = workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "bench.duckdb"
        self.warehouse = f"duckdb:///{self.db_path}"
        self.state_path = self.workdir / "bench-state.json"
        self.frame: pd.DataFrame | None = None
        self.model_uri: str | None = None
        self.reasons_all_budget = REASONS_ALL_BUDGET
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{self.workdir / 'mlflow.db'}"

    # The state file says what the warehouse and the model in workdir were built from.
    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_path.read_text()))
        except (OSError, ValueError):
            return {}

    def _save_state(self, **values: Any) -> None:
        state = self._state()
        state.update(values)
        self.state_path.write_text(json.dumps(state, indent=2))

    def have_warehouse(self) -> bool:
        st = self._state()
        return self.db_path.exists() and st.get("contacts") == self.contacts and st.get(
            "seed") == SEED  # fmt: skip

    def ensure_warehouse(self) -> None:
        if not self.have_warehouse():
            print(f"  (prerequisite) generating {self.contacts:,} contacts, not timed", flush=True)
            generate(self, record=False)

    def ensure_frame(self) -> pd.DataFrame:
        if self.frame is None:
            from leadscore.features import Warehouse, build_lead_frame

            self.ensure_warehouse()
            print("  (prerequisite) building the lead frame, not timed", flush=True)
            with Warehouse(self.warehouse, read_only=True) as wh:
                self.frame = build_lead_frame(wh, [AS_OF]).frame
        return self.frame

    def ensure_model(self) -> str:
        if self.model_uri is None:
            st = self._state()
            if self.have_warehouse() and st.get("model_uri") and st.get(
                    "model_generation") == st.get("generation"):  # fmt: skip
                self.model_uri = str(st["model_uri"])
            else:
                print("  (prerequisite) training a model, not timed", flush=True)
                training(self, record=False)
        assert self.model_uri is not None
        return self.model_uri


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def best_rate(fn: Callable[[], Any], rows: int, budget: float = REPEAT_SECONDS) -> float:
    """Rows per second of the fastest of repeated runs (at least 2, about ``budget`` s)."""
    times = []
    spent = 0.0
    while len(times) < 2 or (spent < budget and len(times) < 20):
        dt, _ = timed(fn)
        times.append(dt)
        spent += dt
    return rows / min(times)


# ---------------------------------------------------------------------------------------------
# 1. generate
# ---------------------------------------------------------------------------------------------


def generate(bench: Bench, *, record: bool = True) -> None:
    from leadscore.features._generator import GeneratorConfig, write_crm

    config = GeneratorConfig(n_contacts=bench.contacts, seed=SEED)
    bench.frame = None
    bench.model_uri = None
    con = duckdb.connect(str(bench.db_path))
    try:
        seconds, counts = timed(lambda: write_crm(con, config))
    finally:
        con.close()
    generation = int(time.time() * 1000)
    bench._save_state(contacts=bench.contacts, seed=SEED, counts=counts, generation=generation)
    if record:
        events = int(counts["events"])
        FIG.add("generate", "contacts", int(counts["contacts"]))
        FIG.add("generate", "events", events)
        FIG.add("generate", "outcomes", int(counts["outcomes"]))
        FIG.add("generate", "write_crm wall time", seconds, "s", ".2f")
        FIG.add("generate", "events written per second", events / seconds, "events/s", ",.0f")
        FIG.add("generate", "warehouse file size", bench.db_path.stat().st_size / 2**20, "MiB",
                ",.0f")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# 2. features
# ---------------------------------------------------------------------------------------------


def pandas_subset(contacts: pd.DataFrame, outcomes: pd.DataFrame, events: pd.DataFrame,
                  as_of: datetime) -> pd.DataFrame:  # fmt: skip
    """Reference vectorised pandas: the spine and the SUBSET features, as build_lead_frame
    defines them (windows ``as_of - N days <= occurred_at < as_of``)."""
    cut = pd.Timestamp(as_of).as_unit("us")
    closed = outcomes.loc[outcomes["closed_at"] < cut, "contact_id"].unique()
    spine = contacts.loc[(contacts["created_at"] < cut) & ~contacts["contact_id"].isin(closed),
                         "contact_id"].sort_values().to_numpy()  # fmt: skip
    ev = events.loc[events["occurred_at"] < cut]
    ev = ev.loc[ev["contact_id"].isin(spine)]
    cid = ev["contact_id"].to_numpy()
    ts = ev["occurred_at"].to_numpy()
    age = cut.to_datetime64() - ts  # timedelta64[us], > 0
    out = pd.DataFrame(index=pd.Index(spine, name="contact_id"))
    for days in (7, 30, 90):
        in_window = age <= np.timedelta64(days, "D")
        counts = pd.Series(in_window, index=cid).groupby(level=0, sort=False).sum()
        out[f"events_{days}d"] = counts.reindex(out.index, fill_value=0).astype("int64")
    last = pd.Series(ts, index=cid).groupby(level=0, sort=False).max()
    seconds = (cut - last.reindex(out.index)).dt.total_seconds()
    out["days_since_last_event"] = seconds.to_numpy(dtype="float64", na_value=np.nan) / 86400.0
    recent = age <= np.timedelta64(90, "D")
    day = ts[recent].astype("datetime64[D]").astype("int64")
    pairs = pd.DataFrame({"contact_id": cid[recent], "day": day}).drop_duplicates()
    active = pairs.groupby("contact_id", sort=False).size()
    out["active_days_90d"] = active.reindex(out.index, fill_value=0).astype("int64")
    return out.reset_index()


def duckdb_subset_sql() -> str:
    """The SUBSET alone in DuckDB, written the same way as the feature query (for an
    equal-work comparison with pandas)."""
    return """
WITH spine AS (
  SELECT c.contact_id, CAST(sn.as_of AS TIMESTAMP) AS as_of FROM contacts c
  JOIN _snapshots sn ON c.created_at < sn.as_of
  WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id
                    AND o.closed_at < sn.as_of)
), agg AS (
  SELECT s.contact_id,
    SUM(CASE WHEN e.occurred_at >= s.as_of - INTERVAL '7' DAY THEN 1 ELSE 0 END) AS events_7d,
    SUM(CASE WHEN e.occurred_at >= s.as_of - INTERVAL '30' DAY THEN 1 ELSE 0 END) AS events_30d,
    SUM(CASE WHEN e.occurred_at >= s.as_of - INTERVAL '90' DAY THEN 1 ELSE 0 END) AS events_90d,
    MAX(e.occurred_at) AS last_event
  FROM spine s JOIN events e ON e.contact_id = s.contact_id AND e.occurred_at < s.as_of
  GROUP BY s.contact_id
), dd AS (
  SELECT contact_id, count(*) AS active_days_90d FROM (
    SELECT DISTINCT s.contact_id, CAST(e.occurred_at AS DATE) AS day FROM spine s
    JOIN events e ON e.contact_id = s.contact_id AND e.occurred_at < s.as_of
     AND e.occurred_at >= s.as_of - INTERVAL '90' DAY) GROUP BY contact_id
)
SELECT s.contact_id, COALESCE(a.events_7d, 0) AS events_7d,
  COALESCE(a.events_30d, 0) AS events_30d, COALESCE(a.events_90d, 0) AS events_90d,
  (epoch(s.as_of) - epoch(a.last_event)) / 86400.0 AS days_since_last_event,
  COALESCE(dd.active_days_90d, 0) AS active_days_90d
FROM spine s LEFT JOIN agg a USING (contact_id) LEFT JOIN dd USING (contact_id)
ORDER BY s.contact_id
"""


def _same_values(a: pd.DataFrame, b: pd.DataFrame) -> tuple[bool, str]:
    """Exact equality of the SUBSET columns (NaN equals NaN), rows matched by contact_id."""
    a = a.sort_values("contact_id").reset_index(drop=True)
    b = b.sort_values("contact_id").reset_index(drop=True)
    if len(a) != len(b):
        return False, f"row counts differ: {len(a)} vs {len(b)}"
    if not np.array_equal(a["contact_id"].to_numpy("int64"), b["contact_id"].to_numpy("int64")):
        return False, "contact ids differ"
    for col in SUBSET:
        x = a[col].to_numpy(dtype="float64", na_value=np.nan)
        y = b[col].to_numpy(dtype="float64", na_value=np.nan)
        if not np.array_equal(x, y, equal_nan=True):
            bad = int((~((x == y) | (np.isnan(x) & np.isnan(y)))).sum())
            return False, f"{col}: {bad} rows differ"
    return True, ""


def features_section(bench: Bench) -> None:
    from leadscore.features import Warehouse, build_lead_frame

    bench.ensure_warehouse()
    with Warehouse(bench.warehouse, read_only=True) as wh:
        events_total = int(wh.scalar("SELECT count(*) FROM events"))
        events_before = int(wh.scalar("SELECT count(*) FROM events WHERE occurred_at < ?",
                                      [AS_OF]))  # fmt: skip
        bench.frame = None
        gc.collect()
        with PeakRSS() as mem:
            seconds, lf = timed(lambda: build_lead_frame(wh, [AS_OF]))
        frame = lf.frame
        bench.frame = frame
        FIG.add("features", "build_lead_frame wall time (1 snapshot)", seconds, "s", ".2f")
        FIG.add("features", "lead rows (open contacts)", len(frame))
        FIG.add("features", "feature columns", frame.shape[1])
        FIG.add("features", "events in the warehouse", events_total)
        FIG.add("features", "events scanned per second (all events)", events_total / seconds,
                "events/s", ",.0f")  # fmt: skip
        FIG.add("features", "events before as_of per second", events_before / seconds,
                "events/s", ",.0f")  # fmt: skip
        FIG.add("features", "peak RSS delta (build_lead_frame)", mem.delta_mib,
                "MiB" + ("" if mem.exact else " (ru_maxrss, lower bound)"), ",.0f")  # fmt: skip

        with wh.registered("_snapshots", pd.DataFrame({"as_of": pd.to_datetime([AS_OF])})):
            sub_seconds, duck_sub = timed(lambda: wh.query(duckdb_subset_sql()))

        # Reference pandas: read the tables into memory (timed apart), then compute.
        read_seconds, tables = timed(lambda: (
            wh.query("SELECT contact_id, created_at FROM contacts"),
            wh.query("SELECT contact_id, closed_at FROM outcomes"),
            wh.query("SELECT contact_id, occurred_at FROM events"),
        ))  # fmt: skip
    with PeakRSS() as pmem:
        pd_seconds, ref = timed(functools.partial(pandas_subset, *tables, AS_OF))
    del tables
    ok_full, why_full = _same_values(frame[["contact_id", *SUBSET]], ref)
    ok_sub, why_sub = _same_values(duck_sub, ref)
    FIG.add("features", "read 3 tables into pandas (not in ratio)", read_seconds, "s", ".2f")
    FIG.add("features", "pandas subset compute time", pd_seconds, "s", ".2f")
    FIG.add("features", "pandas subset peak RSS delta", pmem.delta_mib, "MiB", ",.0f")
    FIG.add("features", "DuckDB subset-only query time", sub_seconds, "s", ".2f")
    print(f"  values identical: {ok_full and ok_sub}" + (
        f"  ({why_full or why_sub})" if not (ok_full and ok_sub) else ""))  # fmt: skip
    FIG.add("features", "values identical (DuckDB frame, subset query vs pandas)",
            ok_full and ok_sub)  # fmt: skip
    FIG.add("features", "ratio DuckDB full frame / pandas subset", seconds / pd_seconds, "x",
            ".2f")  # fmt: skip
    FIG.add("features", "ratio DuckDB subset / pandas subset", sub_seconds / pd_seconds, "x",
            ".2f")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# 3. training
# ---------------------------------------------------------------------------------------------


def training(bench: Bench, *, record: bool = True) -> None:
    from leadscore.training import TrainConfig, train

    bench.ensure_warehouse()
    with PeakRSS() as mem:
        seconds, result = timed(lambda: train(TrainConfig(warehouse=bench.warehouse,
                                                          as_of=AS_OF)))  # fmt: skip
    bench.model_uri = f"models:/{result.model_name}/{result.model_version}"
    bench._save_state(model_uri=bench.model_uri, model_generation=bench._state().get("generation"))
    if not record:
        return
    rc = result.row_counts
    FIG.add("training", "train() wall time", seconds, "s", ".1f")
    FIG.add("training", "rows train / validation / test",
            f"{rc['train']:,} / {rc['validation']:,} / {rc['test']:,}")  # fmt: skip
    FIG.add("training", "peak RSS delta (train)", mem.delta_mib, "MiB", ",.0f")
    from mlflow.tracking import MlflowClient

    run = MlflowClient().get_run(result.run_id)
    FIG.add("training", "trees (best iteration)", int(run.data.params.get("best_iteration", -1)))
    FIG.add("training", "capacity (leads worked per horizon)", int(result.capacity))
    m = result.metrics
    for scorer in ("model", "rules", "ceiling"):
        if scorer in m:
            FIG.add("training", f"{scorer} ROC AUC (held-out quarter)", m[scorer]["roc_auc"],
                    "", ".4f")  # fmt: skip
    for scorer in ("model", "rules", "ceiling"):
        if scorer in m:
            v = m[scorer]
            FIG.add("training", f"{scorer} captured at capacity",
                    f"{v['captured_at_capacity']:,.1f} of {v['positives']:,.0f} "
                    f"({v['share_captured_at_capacity']:.1%})")  # fmt: skip
    FIG.add("training", "model ECE (held-out quarter)", m["model"]["ece"], "", ".4f")


# ---------------------------------------------------------------------------------------------
# 4. scoring
# ---------------------------------------------------------------------------------------------


def _load_bundle(uri: str) -> tuple[Any, Any]:
    import mlflow.pyfunc
    from leadscore.training import configure_tracking

    configure_tracking()
    model = mlflow.pyfunc.load_model(uri)
    return model, model.unwrap_python_model().bundle


def scoring(bench: Bench) -> None:
    from leadscore.serving import ScoreConfig, score_warehouse

    uri = bench.ensure_model()
    frame = bench.ensure_frame()
    _, bundle = _load_bundle(uri)
    lm = bundle.lead_model
    n = len(frame)
    FIG.add("scoring", "rows scored (open contacts)", n)
    FIG.add("scoring", "model trees used", int(lm.best_iteration_))

    # Raw throughput on the same rows in memory.
    enc_seconds, matrix = timed(lambda: lm.encode(frame))
    booster = lm.booster_
    it = lm.best_iteration_
    raw_rate = best_rate(lambda: booster.predict(matrix, num_iteration=it), n)
    probe = min(n, 500)
    probe_s, _ = timed(lambda: booster.predict(matrix[:probe], num_iteration=it,
                                               pred_contrib=True))  # fmt: skip
    k = int(min(n, max(probe, CONTRIB_SECONDS * probe / max(probe_s, 1e-9))))
    contrib_s, _ = timed(lambda: booster.predict(matrix[:k], num_iteration=it, pred_contrib=True))
    contrib_rate = k / contrib_s
    rule_rate = best_rate(lambda: bundle.rule_scorer.score(frame), n)
    FIG.add("scoring", "encode (lead rows -> matrix)", n / enc_seconds, "rows/s", ",.0f")
    FIG.add("scoring", "raw booster.predict", raw_rate, "rows/s", ",.0f")
    FIG.add("scoring", f"raw pred_contrib=True ({k:,} rows)", contrib_rate, "rows/s", ",.0f")
    FIG.add("scoring", "ratio predict / pred_contrib speed", raw_rate / contrib_rate, "x", ",.0f")
    FIG.add("scoring", "RuleScorer.score", rule_rate, "rows/s", ",.0f")

    # End to end: load model, validate, build features, score, write lead_scores.
    none_seconds = 0.0
    for reasons in ("none", "500", "all"):
        config = ScoreConfig(warehouse=bench.warehouse, model_uri=uri, as_of=AS_OF,
                             reasons=reasons)  # fmt: skip
        if reasons == "all":
            # Exact SHAP for every open lead dominates; a lower bound of its cost:
            estimate = none_seconds + n / contrib_rate
            if estimate > bench.reasons_all_budget:
                FIG.add("scoring", "score_warehouse reasons=all",
                        f"not run: estimated >= {estimate:,.0f} s (reasons=none wall + rows / "
                        f"pred_contrib rate) > --reasons-all-budget {bench.reasons_all_budget:g} s")  # fmt: skip
                continue
        gc.collect()
        seconds, result = timed(lambda c=config: score_warehouse(c))
        rate = result.rows / seconds
        if reasons == "none":
            none_seconds = seconds
        FIG.add("scoring", f"score_warehouse reasons={reasons}: wall", seconds, "s", ".2f")
        FIG.add("scoring", f"score_warehouse reasons={reasons}", rate, "rows/s", ",.0f")
        FIG.add("scoring", f"ratio end-to-end time / raw predict (reasons={reasons})",
                raw_rate / rate, "x", ",.1f")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# 5. single-lead latency
# ---------------------------------------------------------------------------------------------


def _latency(fn: Callable[[int], Any]) -> tuple[float, float, int]:
    """p50 and p99 in microseconds over LATENCY_CALLS calls (fewer if LATENCY_BUDGET runs
    out first), after LATENCY_WARMUP calls; and the number of timed calls."""
    for i in range(LATENCY_WARMUP):
        fn(i)
    out = np.empty(LATENCY_CALLS)
    deadline = time.perf_counter() + LATENCY_BUDGET
    done = 0
    for i in range(LATENCY_CALLS):
        t0 = time.perf_counter()
        fn(i)
        t1 = time.perf_counter()
        out[i] = t1 - t0
        done = i + 1
        if t1 > deadline:
            break
    us = out[:done] * 1e6
    return float(np.percentile(us, 50)), float(np.percentile(us, 99)), done


def latency(bench: Bench) -> None:
    from leadscore.models import score_leads, to_model_input

    uri = bench.ensure_model()
    frame = bench.ensure_frame()
    model, bundle = _load_bundle(uri)
    lm = bundle.lead_model
    rng = np.random.default_rng(SEED)
    idx = rng.choice(len(frame), size=min(len(frame), 200), replace=False)
    leads = [frame.iloc[[int(i)]].reset_index(drop=True) for i in idx]
    inputs = [to_model_input(r.drop(columns=["as_of"])) for r in leads]
    matrix = lm.encode(frame.iloc[idx])
    rows = [np.ascontiguousarray(matrix[i : i + 1]) for i in range(len(idx))]
    booster, it = lm.booster_, lm.best_iteration_
    m = len(idx)
    cases: list[tuple[str, Callable[[int], Any]]] = [
        ("score_leads(reasons=False), one-row frame",
         lambda i: score_leads(bundle, leads[i % m], reasons=False)),
        ("pyfunc predict(reasons=False), one-row frame",
         lambda i: model.predict(inputs[i % m], params={"reasons": False})),
        ("booster.predict, one-row numpy",
         lambda i: booster.predict(rows[i % m], num_iteration=it)),
        ("booster.predict, one-row numpy, num_threads=1",
         lambda i: booster.predict(rows[i % m], num_iteration=it, num_threads=1)),
    ]  # fmt: skip
    p50s = {}
    for name, fn in cases:
        p50, p99, done = _latency(fn)
        p50s[name] = p50
        calls = "" if done == LATENCY_CALLS else f", {done} calls (time cap)"
        FIG.add("latency", f"{name} p50", p50 / 1000, "ms" + calls, ".3f")
        FIG.add("latency", f"{name} p99", p99 / 1000, "ms" + calls, ".3f")
    # Against the faster one-row booster.predict: with 2 threads, a busy second core makes
    # OpenMP wait for a time slice, which is machine load, not the model.
    raw = min(p50s[cases[2][0]], p50s[cases[3][0]])
    FIG.add("latency", "ratio score_leads / fastest booster.predict (p50)",
            p50s[cases[0][0]] / raw, "x", ",.0f")  # fmt: skip
    FIG.add("latency", "ratio pyfunc / fastest booster.predict (p50)", p50s[cases[1][0]] / raw,
            "x", ",.0f")  # fmt: skip


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contacts",
        type=int,
        default=200_000,
        help="contacts to generate (default 200000; ~50 events each)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("bench-output"),
        help="where the warehouse and MLflow store go (default bench-output/)",
    )
    parser.add_argument("--reasons-all-budget", type=float, default=REASONS_ALL_BUDGET,
                        metavar="SECONDS", help="skip end-to-end scoring with reasons='all' "
                        "when its estimated time exceeds this (default %(default)g; 'inf' "
                        "always runs it)")  # fmt: skip
    parser.add_argument("--only", choices=SECTIONS, help="run one section (prerequisites are "
                        "reused from --workdir or built untimed)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.contacts <= 0:
        parser.error("--contacts must be positive")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore")  # MLflow/pydantic chatter would hide the figures
    bench = Bench(args.contacts, args.workdir)
    bench.reasons_all_budget = args.reasons_all_budget
    load_start = loadavg()
    started = time.perf_counter()
    print(f"leadscore benchmarks: {args.contacts:,} contacts, workdir {bench.workdir}")
    print(f"python {platform.python_version()}, {platform.platform()}")
    print(f"cpu_count {os.cpu_count()}, load average at start {load_start}", flush=True)

    runners: dict[str, Callable[[Bench], None]] = {
        "generate": generate, "features": features_section, "training": training,
        "scoring": scoring, "latency": latency,
    }  # fmt: skip
    for name in SECTIONS:
        if args.only and name != args.only:
            continue
        header(name)
        t0 = time.perf_counter()
        runners[name](bench)
        FIG.add(name, "section wall time (incl. prerequisites)", time.perf_counter() - t0, "s",
                ".1f")  # fmt: skip

    total = time.perf_counter() - started
    header("summary")
    FIG.add("machine", "os.cpu_count()", os.cpu_count() or 0)
    FIG.add("machine", "load average at start (1/5/15 min)", load_start)
    FIG.add("machine", "load average at end (1/5/15 min)", loadavg())
    FIG.add("machine", "total wall time", total, "s", ".1f")
    print()
    print(FIG.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
