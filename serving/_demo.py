"""The whole job on the embedded default: generate, train at both decisions, compare, score.

Contract of :func:`run_demo`: writes a synthetic CRM into ``workdir``; trains and registers
a model at the handoff decision (the packaged contract at ``decision: handoff``, registered
as ``<name>-handoff``) and the packaged contract's own model (the pipeline view); writes
the comparison report (``workdir/report.html``, handoff section first, and its JSON twin);
batch-scores every open lead with the pipeline champion. :func:`comparison_lines` gives the
comparison's printable lines, the handoff first.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from leadscore.features._contract import Contract, default_contract
from leadscore.features._generator import GeneratorConfig, write_crm
from leadscore.serving._batch import ScoreConfig, ScoreResult, score_warehouse
from leadscore.training import TrainConfig, TrainResult, train
from leadscore.training._compare_job import CompareConfig, CompareResult, compare

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo's outputs are and what it measured."""

    warehouse: str
    tracking_uri: str
    train: TrainResult
    score: ScoreResult
    generated: dict[str, int]
    handoff: TrainResult
    compared: CompareResult


def handoff_contract(contract: Contract) -> Contract:
    """``contract`` scored at the handoff, registered under its own ``<name>-handoff``."""
    return contract.at_decision("handoff")


def comparison_lines(figures: dict[str, Any]) -> list[str]:
    """The comparison in a few printable lines per section, the handoff first: the headline,
    each scorer's weekly picks (handoff) and selective-labels notes, or the pipeline's
    headline and which of the model's top features read sales' own actions."""
    lines: list[str] = []
    handoff = figures["handoff"]
    if "missing" not in handoff:
        head, sel, metrics = handoff["headline"], handoff["selective_labels"], handoff["metrics"]
        lines.append(f"1. the handoff (new leads, each at its own handoff): winner at capacity: "
                     f"{head['winner']}. {head['sentence']}")  # fmt: skip
        for row in sel["scorers"]:
            versus = ("" if row["scorer"] == "rules" else  # the reference: no difference
                      f", wins vs rules {row['wins_minus_reference']:+,} "
                      f"[{row['ci_low']:+,.0f}, {row['ci_high']:+,.0f}]")  # fmt: skip
            lines.append(
                f"  {row['scorer']:>8}: ROC AUC {metrics[row['scorer']]['roc_auc']:.3f}; top "
                f"{sel['per_week']}/week: {row['picked']:,} picked, {row['wins']:,} won, "
                f"{row['never_worked']:,} never worked, conversion among worked "
                f"{row['conversion_among_worked']:.1%}{versus}"
            )
        lines += [f"  note: {n}" for n in sel["notes"]]
    pipeline = figures["pipeline"]
    if "missing" not in pipeline:
        lines.append(f"2. the pipeline (open leads as of {pipeline['meta']['snapshot']}): winner "
                     f"at capacity: {pipeline['headline']['winner']}. "
                     f"{pipeline['headline']['sentence']}")  # fmt: skip
        lines.append(f"  note: {pipeline['sales_actions']['sentence']}")
    return lines


def run_demo(
    workdir: Path,
    *,
    contacts: int = 50_000,
    seed: int = 7,
    say: Callable[[str], None] | None = None,
    backtest_folds: int = 2,
) -> DemoResult:
    """Generate a synthetic CRM in ``workdir``, train at both decisions, compare, batch-score
    (see the module contract). MLflow goes to ``MLFLOW_TRACKING_URI`` when set, else to
    ``workdir/mlflow.db``."""
    emit = say or (lambda msg: log.info("%s", msg))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    db_path = workdir / "leadscore.duckdb"
    warehouse = f"duckdb:///{db_path}"
    gen = GeneratorConfig(n_contacts=contacts, seed=seed)
    emit(
        f"generating a synthetic CRM: {contacts:,} contacts, {gen.start:%Y-%m-%d} .. {gen.end:%Y-%m-%d}"
    )
    con = duckdb.connect(str(db_path))
    try:
        counts = write_crm(con, gen)
    finally:
        con.close()
    emit(f"wrote {', '.join(f'{k}: {v:,}' for k, v in counts.items())} rows to {db_path}")
    as_of = datetime(gen.end.year, gen.end.month, gen.end.day)
    packaged = default_contract()
    emit("1. the handoff: training on what marketing knows when it passes a lead to sales")
    at_handoff = train(TrainConfig(warehouse=warehouse, as_of=gen.end,
                                   contract=handoff_contract(packaged),
                                   backtest_folds=backtest_folds), progress=emit)  # fmt: skip
    emit("2. the pipeline: prioritising leads already open at each quarter start")
    trained = train(TrainConfig(warehouse=warehouse, as_of=gen.end, contract=packaged,
                                backtest_folds=backtest_folds), progress=emit)  # fmt: skip
    compared = compare(
        CompareConfig(warehouse=warehouse, report=workdir / "report.html",
                      model_uri=at_handoff.model_uri, other_model_uri=trained.model_uri,
                      as_of=as_of, contract_name=packaged.model_name),
        progress=emit,
    )  # fmt: skip
    emit(f"batch scoring every open lead as of {as_of:%Y-%m-%d}")
    scored = score_warehouse(
        ScoreConfig(warehouse=warehouse, model_uri=trained.model_uri, as_of=as_of)
    )
    return DemoResult(warehouse, os.environ["MLFLOW_TRACKING_URI"], trained, scored, counts,
                      at_handoff, compared)  # fmt: skip
