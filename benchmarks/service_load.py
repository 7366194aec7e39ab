"""Load check of the scoring service: scoring latency, and /healthz latency under that load.

Run with ``.venv/bin/python benchmarks/service_load.py [--connections 20] [--seconds 10]
[--workdir DIR] [--scoring-threads N] [--max-queue N]``. Loopback only: the service listens
on 127.0.0.1. Trains the champion of ``http_bench.py`` into ``DIR/mlflow.db`` unless one is
there (default ``bench-output/http``, shared with it), starts ``leadscore serve`` on a free
port (its scoring threads and queue from the environment, or the two options), and probes
``/healthz`` idle. Then, for ``--seconds``, ``--connections`` keep-alive connections (threads
of this process, ``http.client``) send the README's raw-events request back to back while a
separate process GETs ``/healthz`` every 50 ms on a connection of its own. Prints requests/s,
p50/p90/p99/max of the 200 answers' latency, the count of 503s (queue full) and of anything
else, ``/healthz`` p50/p99/worst under the load, and the load average at start and end: the
clients share the machine with the server, so on 2 cores the figures measure the box too.

Bounded: ``--seconds`` (each request started before the end is awaited), at most
``--max-requests`` per connection, a 30 s timeout on every request; the server is stopped
on exit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from http_bench import prepare  # noqa: E402  (this folder is on sys.path for a script)

from tests.servers import (  # noqa: E402
    free_port,
    start_leadscore_serve,
    stop_process_group,
    wait_until_ok,
)

HOST = "127.0.0.1"
TIMEOUT = 30.0
WARMUP_REQUESTS = 3
HEALTH_EVERY = 0.05  # seconds between /healthz probes
# The README's request (section "The HTTP service"): one lead with raw events, as of now.
README_REQUEST = json.dumps({
    "leads": [{"lead_id": "42", "title": "VP Sales", "company_size": 400, "industry": "software",
               "country": "US", "lead_source": "webinar", "email_domain": "acme.io",
               "phone_valid": True, "requested_demo": True, "created_at": "2025-12-01T09:00:00Z",
               "events": [{"occurred_at": "2025-12-01T10:00:00Z", "event_type": "sales_touch"},
                          {"occurred_at": "2025-12-10T16:20:00Z",
                           "event_type": "pricing_page_view"}]}]}).encode()  # fmt: skip
SCORE_HEADERS = {"Content-Type": "application/json", "Connection": "keep-alive"}


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ascending values, in ms; NaN if none."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000


def health_prober(port: int, go: Any, seconds: float, results: Any) -> None:
    """Once ``go`` is set, GET /healthz every HEALTH_EVERY s for ``seconds``; put
    (latencies, failures, seconds into the load of the slowest probe). Runs in a process of
    its own: the load's threads cannot delay it."""
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    latencies: list[float] = []
    failures = 0
    worst_at = float("nan")
    go.wait(timeout=300)
    opened = time.monotonic()
    stop_at = opened + seconds
    while time.monotonic() < stop_at:
        began = time.perf_counter()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
        elapsed = time.perf_counter() - began
        if ok:
            if not latencies or elapsed > max(latencies):
                worst_at = time.monotonic() - opened - elapsed
            latencies.append(elapsed)
        else:
            failures += 1
        time.sleep(max(0.0, HEALTH_EVERY - elapsed))
    conn.close()
    results.put((latencies, failures, worst_at))


def score_connection(
    port: int, start: threading.Barrier, window: list[float], max_requests: int, out: list[Any]
) -> None:
    """One keep-alive connection: warm the server up, wait at ``start`` (whose action sets
    ``window`` to [start, stop]), then POST the README request back to back until the stop
    time or ``max_requests``; append (latencies of the 200s, 503 count, other count) to
    ``out``."""
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    for _ in range(WARMUP_REQUESTS):
        conn.request("POST", "/v1/score", body=README_REQUEST, headers=SCORE_HEADERS)
        conn.getresponse().read()
    start.wait(timeout=300)
    # a fresh connection: the warm one may have idled past uvicorn's keep-alive timeout (5 s)
    # while the others warmed up
    conn.close()
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    stop_at = window[1]
    latencies: list[float] = []
    busy = other = 0
    for _ in range(max_requests):
        if time.monotonic() >= stop_at:
            break
        began = time.perf_counter()
        try:
            conn.request("POST", "/v1/score", body=README_REQUEST, headers=SCORE_HEADERS)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
        if status == 200:
            latencies.append(time.perf_counter() - began)
        elif status == 503:
            busy += 1
        else:
            other += 1
    conn.close()
    out.append((latencies, busy, other))


def idle_health(port: int, probes: int) -> list[float]:
    """``/healthz`` latencies (s, ascending) of ``probes`` GETs with nothing else running."""
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    latencies = []
    for _ in range(probes):
        began = time.perf_counter()
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        latencies.append(time.perf_counter() - began)
        time.sleep(HEALTH_EVERY)
    conn.close()
    return sorted(latencies)


def run_load(port: int, connections: int, seconds: float, max_requests: int) -> dict[str, Any]:
    """``connections`` scoring connections and one /healthz prober for ``seconds``; the
    pooled figures (latencies in ms)."""
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    prober = ctx.Process(target=health_prober, args=(port, go, seconds, results), daemon=True)
    prober.start()
    window: list[float] = []

    def open_window() -> None:  # runs once, when every connection is warm
        now = time.monotonic()
        window[:] = [now, now + seconds]
        go.set()

    start = threading.Barrier(connections, action=open_window)
    out: list[Any] = []
    threads = [
        threading.Thread(target=score_connection, args=(port, start, window, max_requests, out),
                         daemon=True)
        for _ in range(connections)
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    wall = time.monotonic() - window[0]
    health, health_failures, worst_at = results.get(timeout=300)
    prober.join(timeout=30)
    latencies = sorted(x for lat, _, _ in out for x in lat)
    health = sorted(health)
    return {
        "ok": len(latencies),
        "busy": sum(b for _, b, _ in out),
        "other": sum(o for _, _, o in out),
        "rps": len(latencies) / wall,
        "p50": percentile(latencies, 0.50),
        "p90": percentile(latencies, 0.90),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] * 1000 if latencies else float("nan"),
        "health_probes": len(health),
        "health_failures": health_failures,
        "health_p50": percentile(health, 0.50),
        "health_p99": percentile(health, 0.99),
        "health_max": health[-1] * 1000 if health else float("nan"),
        "health_worst_at": worst_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=20, help="scoring connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the load")
    parser.add_argument("--max-requests", type=int, default=100_000,
                        help="most requests per connection")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=Path("bench-output/http"))
    parser.add_argument("--scoring-threads", type=int, default=None,
                        help="LEADSCORE_SCORING_THREADS for the server (default: its own)")  # fmt: skip
    parser.add_argument("--max-queue", type=int, default=None,
                        help="LEADSCORE_MAX_QUEUE for the server (default: its own)")  # fmt: skip
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    print(f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}",
          flush=True)  # fmt: skip
    prepare(workdir)
    for option, variable in ((args.scoring_threads, "LEADSCORE_SCORING_THREADS"),
                             (args.max_queue, "LEADSCORE_MAX_QUEUE")):  # fmt: skip
        if option is not None:
            os.environ[variable] = str(option)  # the server inherits the environment
    port = free_port()
    proc, log = start_leadscore_serve(workdir, port, log_name="service-load.log")
    try:
        wait_until_ok(f"http://{HOST}:{port}/readyz", proc, 120, log)
        threads = os.environ.get("LEADSCORE_SCORING_THREADS", "default")
        queue = os.environ.get("LEADSCORE_MAX_QUEUE", "default")
        print(f"leadscore serve on {HOST}:{port} (scoring threads {threads}, queue {queue})",
              flush=True)  # fmt: skip
        idle = idle_health(port, 20)
        print(f"/healthz idle: p50 {percentile(idle, 0.5):.2f} ms, worst {idle[-1] * 1000:.2f} ms "
              f"({len(idle)} probes)", flush=True)  # fmt: skip
        f = run_load(port, args.connections, args.seconds, args.max_requests)
    finally:
        stop_process_group(proc)
    load_end = os.getloadavg()
    print(f"{args.connections} connections x {args.seconds:g} s of the README request:")
    print(f"  scoring: {f['ok']:,} x 200 ({f['rps']:.1f}/s), {f['busy']:,} x 503, "
          f"{f['other']:,} other; latency p50 {f['p50']:.1f} ms, p90 {f['p90']:.1f} ms, "
          f"p99 {f['p99']:.1f} ms, max {f['max']:.1f} ms")  # fmt: skip
    print(f"  /healthz under load: {f['health_probes']} probes, {f['health_failures']} failed; "
          f"p50 {f['health_p50']:.2f} ms, p99 {f['health_p99']:.2f} ms, "
          f"worst {f['health_max']:.2f} ms ({f['health_worst_at']:.1f} s into the load)")  # fmt: skip
    print(f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} "
          f"({os.cpu_count()} CPUs; the clients run on the same machine)")  # fmt: skip


if __name__ == "__main__":
    main()
