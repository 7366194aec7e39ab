"""HTTP scoring benchmark: ``leadscore serve`` against ``mlflow models serve``, same model.

Run with ``.venv/bin/python benchmarks/http_bench.py [--seconds 15] [--workdir DIR]
[--workers N]``. Generates a synthetic warehouse (20,000 contacts, seed 2) and trains a
champion into ``DIR/mlflow.db`` unless one is already there, starts both servers (``--workers``
uvicorn worker processes each, default 1) on 127.0.0.1 on free ports, then loads each in
turn from separate client processes: one lead per request over persistent keep-alive
connections (``http.client``), first 1 connection, then 4 at once. Three forms of the same
leads: ``leadscore`` with precomputed engagement counts, ``leadscore`` with raw ``events``
(50 per lead, some after ``as_of`` and of types the model does not know: the service
computes the point-in-time features itself), and ``mlflow`` with the counts. Before timing,
the raw-events answers are checked against ``mlflow models serve`` given the counts the
batch point-in-time SQL computes from the same events. Each run stops after ``--seconds`` or
``--max-requests`` per connection, after a short untimed warm-up. Prints requests/s and
p50/p90/p99 latency per form, the load average (1 min) as each run starts, the
leadscore/mlflow ratios, and the load average at start and end: the clients share the
machine with the servers, so on a small box the 4-connection figures measure the box as
much as the server. No ``wrk`` needed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from tests.servers import (  # noqa: E402
    MODEL_URI,
    both_servers,
    free_port,
    generate_and_train,
    stop_process_group,
    tracking_store,
    tracking_uri,
    wait_until_ok,
)

AS_OF = datetime(2026, 1, 1)
CONTACTS = 20_000
SEED = 2
WARMUP_REQUESTS = 30
ATTRIBUTES = ("title", "company_size", "industry", "country", "lead_source", "email_domain",
              "phone_valid", "buying_timeline", "requested_demo")  # fmt: skip
# One lead per request, cycling through these (a strong one, unseen categories, ints/bools).
LEADS: list[dict[str, Any]] = [
    {"lead_id": "vp-1", "title": "VP Sales", "company_size": 400.0, "industry": "software",
     "country": "US", "lead_source": "webinar", "email_domain": "acme.io", "phone_valid": 1.0,
     "buying_timeline": "0-3 months", "requested_demo": 1.0, "days_since_created": 12.5,
     "engagement": {"pricing_page_view_30d": 3.0, "events_30d": 7.0, "events_90d": 9.0,
                    "days_since_last_event": 2.0, "active_days_30d": 4.0,
                    "hours_to_first_touch": 5.5}},
    {"lead_id": "new-2", "title": "Growth hacker", "company_size": None,
     "industry": "a-vertical-never-seen", "country": "ZZ", "lead_source": "brand-new-channel",
     "email_domain": "gmail.com", "phone_valid": None, "buying_timeline": None,
     "requested_demo": None, "days_since_created": 40.0,
     "engagement": {"giveaway_entry_180d": 2.0, "events_180d": 2.0}},
    {"lead_id": "int-3", "title": "Head of Operations", "company_size": 250,
     "industry": "manufacturing", "country": "DE", "lead_source": "referral",
     "email_domain": "example.de", "phone_valid": True, "buying_timeline": "3-6 months",
     "requested_demo": False, "days_since_created": 3,
     "engagement": {"demo_request_30d": 1, "meeting_held_30d": 2, "events_7d": 3,
                    "events_30d": 3, "events_90d": 3, "events_180d": 3}},
]  # fmt: skip
EVENTS_PER_LEAD = 50
# The raw-events form: the demo vocabulary's types weighted as leads show them, plus two the
# model has never seen (they count only in the all-type features).
EVENT_TYPES = (["email_open"] * 8 + ["page_view"] * 5 + ["email_click"] * 3
               + ["pricing_page_view", "webinar_registered", "webinar_attended",
                  "content_download", "form_submit", "sales_touch", "demo_request",
                  "meeting_held", "giveaway_entry", "event_badge_scan", "partner_referral",
                  "podcast_listen"])  # fmt: skip


def with_events(lead: dict[str, Any], seed: int) -> dict[str, Any]:
    """``lead`` with ``created_at`` and :data:`EVENTS_PER_LEAD` raw events instead of its
    counts: created ``days_since_created`` before AS_OF (at least 200 days: a full history),
    events from creation to two days after AS_OF (those must be ignored)."""
    rng = random.Random(seed)
    age = max(float(lead["days_since_created"]), 200.0)
    created = AS_OF - timedelta(days=age)
    span = (age + 2) * 86_400
    events = sorted(created + timedelta(seconds=rng.uniform(0, span)) for _ in range(EVENTS_PER_LEAD))
    out = {k: v for k, v in lead.items() if k not in ("engagement", "days_since_created")}
    out["created_at"] = created.isoformat()
    out["events"] = [{"occurred_at": at.isoformat(), "event_type": rng.choice(EVENT_TYPES)}
                     for at in events]  # fmt: skip
    return out


EVENT_LEADS = [with_events(lead, seed) for seed, lead in enumerate(LEADS)]
EVENTS_FORM = "leadscore events"


# ---------------------------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------------------------


def leadscore_bodies(reasons: bool, leads: list[dict[str, Any]] = LEADS) -> list[bytes]:
    return [
        json.dumps({"leads": [lead], "as_of": AS_OF.isoformat(), "reasons": reasons}).encode()
        for lead in leads
    ]


def mlflow_bodies(reasons: bool) -> list[bytes]:
    out = []
    for lead in LEADS:
        record = {"contact_id": lead["lead_id"], **{a: lead[a] for a in ATTRIBUTES},
                  "days_since_created": lead["days_since_created"], **lead["engagement"]}  # fmt: skip
        out.append(
            json.dumps({"dataframe_records": [record], "params": {"reasons": reasons}}).encode()
        )
    return out


# ---------------------------------------------------------------------------------------------
# Load generator (runs in its own process; imports nothing heavy)
# ---------------------------------------------------------------------------------------------


def load_worker(
    port: int,
    path: str,
    bodies: list[bytes],
    seconds: float,
    max_requests: int,
    start: Any,
    results: Any,
) -> None:
    """One keep-alive connection: warm up, wait at the ``start`` barrier, then send requests
    back to back until ``seconds`` or ``max_requests``; put (t0, t1, latencies, errors)."""
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    errors = 0
    for i in range(WARMUP_REQUESTS):
        conn.request("POST", path, body=bodies[i % len(bodies)], headers=headers)
        response = conn.getresponse()
        response.read()
    start.wait(timeout=300)  # every client warmed up: the clocks start together
    latencies: list[float] = []
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    i = 0
    now = t0
    while now < stop_at and i < max_requests:
        body = bodies[i % len(bodies)]
        began = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        now = time.perf_counter()
        if ok:
            latencies.append(now - began)
        else:
            errors += 1
        i += 1
    conn.close()
    results.put((t0, now, latencies, errors))


def run_load(
    port: int, path: str, bodies: list[bytes], connections: int, seconds: float, max_requests: int
) -> dict[str, float]:
    """``connections`` client processes at once; pooled figures."""
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(connections + 1)
    results = ctx.Queue()
    worker_args = (port, path, bodies, seconds, max_requests, start, results)
    procs = [
        ctx.Process(target=load_worker, args=worker_args, daemon=True) for _ in range(connections)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=120)  # released once every client has finished its warm-up
        got = [results.get(timeout=seconds + 300) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    latencies = sorted(x for _, _, lat, _ in got for x in lat)
    wall = max(t1 for _, t1, _, _ in got) - min(t0 for t0, _, _, _ in got)
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, int(q * n))] * 1000 if n else float("nan")

    return {
        "requests": float(n),
        "errors": float(sum(e for _, _, _, e in got)),
        "seconds": wall,
        "rps": n / wall if wall > 0 else float("nan"),
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
    }


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------


def prepare(workdir: Path) -> None:
    """Warehouse and champion in ``workdir`` (skipped when the MLflow store is there)."""
    if (workdir / "mlflow.db").exists():
        print(f"reusing the model in {workdir / 'mlflow.db'}", flush=True)
        return
    started = time.perf_counter()
    with tracking_store(workdir):
        _, result = generate_and_train(workdir, n_contacts=CONTACTS, seed=SEED, as_of=AS_OF)
    print(f"generated {CONTACTS:,} contacts and trained {result.model_name} v{result.model_version} "
          f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip


@contextlib.contextmanager
def running_servers(store: Path, workers: int) -> Iterator[tuple[int, int]]:
    """``leadscore serve`` and ``mlflow models serve`` on the champion in ``store``, with
    ``workers`` uvicorn worker processes each; yields their ports once both answer."""
    if workers == 1:  # as the parity tests start them
        with both_servers(store, model=MODEL_URI) as ports:
            yield ports
        return
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(store),
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}  # fmt: skip
    env.pop("LEADSCORE_API_TOKEN", None)
    ours, theirs = free_port(), free_port()
    commands = {
        "leadscore": [sys.executable, "-m", "leadscore.serving.cli", "serve", "--model", MODEL_URI,
                      "--port", str(ours), "--poll-seconds", "3600", "--workers", str(workers)],
        "mlflow": [os.path.join(bin_dir, "mlflow"), "models", "serve", "-m", MODEL_URI,
                   "--env-manager", "local", "--host", "127.0.0.1", "-p", str(theirs),
                   "--workers", str(workers)],
    }  # fmt: skip
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, cmd in commands.items():
            with (store / f"{name}-serve-{workers}w.log").open("wb") as sink:
                procs[name] = subprocess.Popen(cmd, env=env, cwd=store, stdout=sink,
                                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        wait_until_ok(f"http://127.0.0.1:{ours}/readyz", procs["leadscore"], 120,
                      store / f"leadscore-serve-{workers}w.log")  # fmt: skip
        wait_until_ok(f"http://127.0.0.1:{theirs}/ping", procs["mlflow"], 180,
                      store / f"mlflow-serve-{workers}w.log")  # fmt: skip
        yield ours, theirs
    finally:
        for proc in procs.values():
            stop_process_group(proc)


def post(port: int, path: str, body: bytes) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {data[:2000]!r}")
        return json.loads(data)
    finally:
        conn.close()


def batch_counts(lead: dict[str, Any]) -> dict[str, Any]:
    """``lead`` (raw-events form) with the lead age and engagement counts the batch
    point-in-time SQL computes from its events, on an in-memory DuckDB warehouse."""
    import pandas as pd
    from leadscore.features import Warehouse, build_lead_frame

    attributes = {a: lead[a] for a in ATTRIBUTES}
    contacts = pd.DataFrame([{"contact_id": 1, "created_at": pd.Timestamp(lead["created_at"]),
                              **attributes}])  # fmt: skip
    events = pd.DataFrame({"contact_id": 1,
                           "occurred_at": pd.to_datetime([e["occurred_at"] for e in lead["events"]]),
                           "event_type": [e["event_type"] for e in lead["events"]]})  # fmt: skip
    outcomes = pd.DataFrame({"contact_id": pd.Series(dtype="int64"),
                             "closed_at": pd.Series(dtype="datetime64[us]"),
                             "outcome": pd.Series(dtype="object")})  # fmt: skip
    with Warehouse("duckdb:///:memory:") as wh:
        for name, frame in (("contacts", contacts), ("events", events), ("outcomes", outcomes)):
            wh.write_table(name, frame)
        row = build_lead_frame(wh, [AS_OF]).frame.iloc[0]
    features = {k: float(v) for k, v in row.items()
                if k not in ("contact_id", "as_of", *ATTRIBUTES) and pd.notna(v)}  # fmt: skip
    return {"lead_id": lead["lead_id"], **attributes, **features}


def check_same_answers(ours: int, theirs: int, reasons: bool) -> None:
    """Both servers score the benchmark leads alike (else the comparison is meaningless), and
    the raw-events form scores like ``mlflow models serve`` given the batch SQL's counts."""
    pairs = list(zip(leadscore_bodies(reasons), mlflow_bodies(reasons), strict=True))
    for lead in EVENT_LEADS:
        counted = batch_counts(lead)
        record = {"contact_id": counted.pop("lead_id"), **counted}
        pairs.append((leadscore_bodies(reasons, [lead])[0], json.dumps(
            {"dataframe_records": [record], "params": {"reasons": reasons}}).encode()))  # fmt: skip
    for a, b in pairs:
        x = post(ours, "/v1/score", a)["scores"][0]
        y = post(theirs, "/invocations", b)["predictions"][0]
        for key in ("probability", "rule_score"):
            if abs(x[key] - y[key]) > 1e-9 * max(1.0, abs(y[key])):
                raise RuntimeError(f"servers disagree on {key} of {x['lead_id']}: {x} vs {y}")
        if reasons and x["reasons"] != [r for r in y["reasons"].split("; ") if r]:
            raise RuntimeError(f"servers disagree on the reasons of {x['lead_id']}: {x} vs {y}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds per run")
    parser.add_argument("--workdir", type=Path, default=Path("bench-output/http"))
    parser.add_argument("--max-requests", type=int, default=200_000,
                        help="most requests per connection per run")  # fmt: skip
    parser.add_argument("--connections", type=int, default=4, help="for the throughput run")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes of each server (default 1)")  # fmt: skip
    parser.add_argument("--no-reasons", dest="reasons", action="store_false",
                        help="ask both servers for scores without the model's reasons")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None,
                        help="also write every row's figures to this JSON file")  # fmt: skip
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    print(f"{platform.platform()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {load_start[0]:.2f} {load_start[1]:.2f} "
          f"{load_start[2]:.2f}", flush=True)  # fmt: skip
    prepare(workdir)

    rows: list[tuple[str, int, dict[str, float]]] = []
    with running_servers(workdir, args.workers) as (ours_port, theirs_port):
        check_same_answers(ours_port, theirs_port, args.reasons)
        print(f"both servers up and agreeing (raw events too); reasons="
              f"{'on' if args.reasons else 'off'}, {args.workers} worker(s) each, "
              f"{args.seconds:g} s per run", flush=True)  # fmt: skip

        servers = [
            ("leadscore", ours_port, "/v1/score", leadscore_bodies(args.reasons)),
            (EVENTS_FORM, ours_port, "/v1/score", leadscore_bodies(args.reasons, EVENT_LEADS)),
            ("mlflow", theirs_port, "/invocations", mlflow_bodies(args.reasons)),
        ]
        for connections in (1, args.connections):
            for name, port, path, bodies in servers:
                load = os.getloadavg()[0]
                figures = run_load(port, path, bodies, connections, args.seconds,
                                   args.max_requests)  # fmt: skip
                rows.append((name, connections, {**figures, "load": load}))
                print(f"  {name:<16} {connections} conn: {figures['rps']:8.1f} req/s, "
                      f"p50 {figures['p50']:.2f} ms, p99 {figures['p99']:.2f} ms, "
                      f"errors {figures['errors']:.0f}, load {load:.2f}", flush=True)  # fmt: skip

    load_end = os.getloadavg()
    header = f"{'form':<16} {'conns':>5} {'requests':>9} {'errors':>6} {'req/s':>9} " \
             f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'load':>5}"  # fmt: skip
    print()
    print(header)
    print("-" * len(header))
    for name, connections, f in rows:
        print(f"{name:<16} {connections:>5} {f['requests']:>9,.0f} {f['errors']:>6,.0f} "
              f"{f['rps']:>9.1f} {f['p50']:>8.2f} {f['p90']:>8.2f} {f['p99']:>8.2f} "
              f"{f['load']:>5.2f}")  # fmt: skip
    print(f"(leadscore: precomputed counts; {EVENTS_FORM}: the same leads with "
          f"{EVENTS_PER_LEAD} raw events each; load: 1-min load average as the run started)")
    print()
    by = {(n, c): f for n, c, f in rows}
    for connections in sorted({c for _, c, _ in rows}):
        theirs_f = by[("mlflow", connections)]
        for name in ("leadscore", EVENTS_FORM):
            ours_f = by[(name, connections)]
            print(f"{name}/mlflow, {connections} conn: req/s x{ours_f['rps'] / theirs_f['rps']:.2f}, "
                  f"p99 x{ours_f['p99'] / theirs_f['p99']:.2f}")  # fmt: skip
    print(f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} "
          f"({os.cpu_count()} CPUs; the clients run on the same machine)")  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps({
            "rows": [{"form": n, "connections": c, **f} for n, c, f in rows],
            "load_start": load_start, "load_end": load_end, "seconds": args.seconds}, indent=1))


if __name__ == "__main__":
    main()
