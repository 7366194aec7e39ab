"""The whole job on the embedded default: generate, compare at the handoff, train, score.

Contract of :func:`run_demo`: writes a synthetic CRM into ``workdir``; trains a model at the
handoff decision (the packaged contract with ``decision: {moment: handoff}``, registered as
``<name>-handoff``) and writes the handoff comparison (model, rules and the generator's own
ceiling at capacity, with the selective-labels figures) to ``workdir/handoff_report.html``
and its JSON twin, saying its headline first; then trains and registers the packaged
contract's own model (the pipeline view) and batch-scores every open lead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
from leadscore.features._contract import Contract, default_contract
from leadscore.features._generator import GeneratorConfig, write_crm
from leadscore.serving._batch import ScoreConfig, ScoreResult, score_warehouse
from leadscore.training import TrainConfig, TrainResult, train
from leadscore.training._handoff_compare import (
    HandoffCompareConfig,
    HandoffCompareResult,
    handoff_compare,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo's outputs are and what it measured."""

    warehouse: str
    tracking_uri: str
    train: TrainResult
    score: ScoreResult
    generated: dict[str, int]
    handoff: HandoffCompareResult | None = None


def handoff_contract(contract: Contract) -> Contract:
    """``contract`` scored at the handoff, registered under its own ``<name>-handoff``."""
    decision = contract.decision.model_copy(update={"moment": "handoff"})
    return contract.model_copy(
        update={"decision": decision, "name": f"{contract.model_name}-handoff"}
    )


def handoff_lines(figures: dict[str, object]) -> list[str]:
    """The handoff comparison in a few printable lines: the headline, each scorer's picks,
    the selective-labels notes."""
    head = figures["at_capacity"]
    sel = figures["selective_labels"]
    metrics = figures["metrics"]
    assert isinstance(head, dict) and isinstance(sel, dict) and isinstance(metrics, dict)
    lines = [f"handoff comparison (new leads, each at its own handoff): winner at capacity: "
             f"{head['winner']}. {head['sentence']}"]  # fmt: skip
    for row in sel["scorers"]:
        versus = ("" if row["scorer"] == "rules" else  # the reference itself: no difference
                  f", wins vs rules {row['wins_minus_reference']:+,} "
                  f"[{row['ci_low']:+,.0f}, {row['ci_high']:+,.0f}]")  # fmt: skip
        lines.append(
            f"  {row['scorer']:>8}: ROC AUC {metrics[row['scorer']]['roc_auc']:.3f}; top "
            f"{sel['per_week']}/week: {row['picked']:,} picked, {row['wins']:,} won, "
            f"{row['never_worked']:,} never worked, conversion among worked "
            f"{row['conversion_among_worked']:.1%}{versus}"
        )
    lines += [f"  note: {n}" for n in sel["notes"]]
    return lines


def run_demo(
    workdir: Path,
    *,
    contacts: int = 50_000,
    seed: int = 7,
    say: Callable[[str], None] | None = None,
    handoff: bool = True,
) -> DemoResult:
    """Generate a synthetic CRM in ``workdir``, compare at the handoff (unless ``handoff``
    is False), train and register, batch-score.

    MLflow goes to ``MLFLOW_TRACKING_URI`` when set, else to ``workdir/mlflow.db``.
    """
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
    compared = None
    if handoff:
        emit("the handoff: training a model on what marketing knows when it passes a lead on")
        at_handoff = train(TrainConfig(warehouse=warehouse, as_of=gen.end,
                                       contract=handoff_contract(default_contract())),
                           progress=emit)  # fmt: skip
        compared = handoff_compare(
            HandoffCompareConfig(warehouse=warehouse, report=workdir / "handoff_report.html",
                                 model_uri=at_handoff.model_uri, as_of=as_of),
            progress=emit,
        )  # fmt: skip
        for line in handoff_lines(compared.figures):
            emit(line)
        emit(f"handoff report: {compared.html_path} (figures: {compared.json_path})")
    emit("the pipeline: prioritising leads already open at each quarter start")
    trained = train(TrainConfig(warehouse=warehouse, as_of=gen.end), progress=emit)
    emit(f"batch scoring every open lead as of {as_of:%Y-%m-%d}")
    scored = score_warehouse(
        ScoreConfig(warehouse=warehouse, model_uri="models:/lead-quality@champion", as_of=as_of)
    )
    return DemoResult(
        warehouse, os.environ["MLFLOW_TRACKING_URI"], trained, scored, counts, compared
    )
