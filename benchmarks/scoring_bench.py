"""Batch scoring throughput: every step of ``score_leads`` against raw ``Booster.predict``.

Run with ``.venv/bin/python benchmarks/scoring_bench.py [--rows 1000000] [--contacts 200000]
[--workdir DIR] [--rounds 3]``. Builds (or reuses) a synthetic warehouse and a registered
model in ``--workdir`` with the helpers of ``benchmarks/run.py`` (same seed, same ``as_of``),
builds the point-in-time lead frame and repeats its rows up to ``--rows``. Then, in every
round, times each step on the same rows in memory, one after the other:

* ``Booster.predict`` on the already-encoded matrix (the model alone: the yardstick), and
  on a row-major copy of it (``encode`` returns a column-major matrix);
* ``derive_attributes`` on the lead rows;
* ``LeadModel.encode`` on rows that already carry the derived attributes;
* the rule scorer: points, and points with the rule-hit texts ``score_leads`` returns;
* ``score_leads(bundle, rows, reasons=False)`` end to end (the batch job's call);
* ``pred_contrib`` (the reasons) on a sample of ``--contrib-rows`` rows.

Prints each step's best time over ``--rounds`` rounds as rows/s and as a ratio to
``Booster.predict`` (1.0 = as fast as the model alone), and the load average at start and
end: on 2 cores another busy process slows the 2-thread LightGBM parts most. No assertions.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.run import Bench, _load_bundle, loadavg  # noqa: E402


def replicate(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``rows`` lead rows: the frame's rows repeated in order (and cut), fresh RangeIndex."""
    take = np.arange(rows) % len(frame)
    return frame.iloc[take].reset_index(drop=True)


def best_of(cases: list[tuple[str, int, Callable[[], Any]]], rounds: int) -> dict[str, float]:
    """Best wall time per case; the cases run interleaved, one round after another."""
    best = {name: float("inf") for name, _, _ in cases}
    for r in range(rounds):
        for name, _, fn in cases:
            gc.collect()
            t0 = time.perf_counter()
            fn()
            seconds = time.perf_counter() - t0
            best[name] = min(best[name], seconds)
            print(f"  round {r + 1}: {name:<44} {seconds:8.3f} s", flush=True)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to score (default "
                        "%(default)s; the lead frame's rows repeated)")  # fmt: skip
    parser.add_argument("--contacts", type=int, default=200_000,
                        help="contacts in the generated warehouse (default %(default)s)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=Path("bench-output/scoring"),
                        help="warehouse and MLflow store (default %(default)s)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="rounds; best time is kept")
    parser.add_argument("--contrib-rows", type=int, default=2000,
                        help="rows in the pred_contrib sample (default %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.rows <= 0 or args.contacts <= 0 or args.rounds <= 0 or args.contrib_rows <= 0:
        parser.error("--rows, --contacts, --rounds and --contrib-rows must be positive")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore")  # MLflow/pydantic chatter would hide the figures
    load_start = loadavg()
    print(f"scoring benchmark: {args.rows:,} rows, python {platform.python_version()}, "
          f"{platform.platform()}, cpu_count {os.cpu_count()}, load average {load_start}",
          flush=True)  # fmt: skip

    from leadscore.features import derive_attributes
    from leadscore.models import score_leads

    bench = Bench(args.contacts, args.workdir)
    uri = bench.ensure_model()
    base = bench.ensure_frame().drop(columns=["as_of"])
    _, bundle = _load_bundle(uri)
    lm, rules = bundle.lead_model, bundle.rule_scorer
    booster, trees = lm.booster_, lm.best_iteration_
    threads = lm.params.n_jobs

    leads = replicate(base, args.rows)
    derived = derive_attributes(leads)
    matrix = lm.encode(derived)
    row_major = np.ascontiguousarray(matrix)  # encode's matrix is column-major
    sample = np.ascontiguousarray(matrix[: min(args.contrib_rows, len(matrix))])
    print(f"model {uri}: {trees} trees, {booster.num_feature()} features; lead frame "
          f"{len(base):,} rows ({base['title'].nunique():,} distinct titles) repeated to "
          f"{len(leads):,}; {threads} LightGBM threads", flush=True)  # fmt: skip

    n = len(leads)
    cases: list[tuple[str, int, Callable[[], Any]]] = [
        ("Booster.predict (encoded matrix)", n,
         lambda: booster.predict(matrix, num_iteration=trees, num_threads=threads)),
        ("Booster.predict (same, row-major copy)", n,
         lambda: booster.predict(row_major, num_iteration=trees, num_threads=threads)),
        ("derive_attributes", n, lambda: derive_attributes(leads)),
        ("LeadModel.encode (derived rows)", n, lambda: lm.encode(derived)),
        ("RuleScorer.score (derived rows)", n, lambda: rules.score(derived)),
        ("rules: points + hit texts (derived rows)", n, lambda: rules.score_and_format(derived)),
        ("score_leads(reasons=False)", n, lambda: score_leads(bundle, leads, reasons=False)),
        (f"pred_contrib ({len(sample):,}-row sample)", len(sample),
         lambda: booster.predict(sample, num_iteration=trees, pred_contrib=True,
                                 num_threads=threads)),
    ]  # fmt: skip
    best = best_of(cases, args.rounds)

    predict_rate = n / best[cases[0][0]]
    print()
    header = f"{'step':<44} {'best s':>8} {'rows/s':>12} {'x predict':>10}"
    print(header)
    print("-" * len(header))
    for name, rows, _ in cases:
        rate = rows / best[name]
        print(f"{name:<44} {best[name]:>8.3f} {rate:>12,.0f} {rate / predict_rate:>10.3f}")
    print()
    ratio = (n / best["score_leads(reasons=False)"]) / predict_rate
    fastest = n / min(best[cases[0][0]], best[cases[1][0]])
    print(f"score_leads(reasons=False) / Booster.predict throughput on {n:,} rows: {ratio:.2f} "
          f"({n / best['score_leads(reasons=False)'] / fastest:.2f} against the faster layout)")
    print(f"load average at start {load_start}, at end {loadavg()} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
