"""The whole job on the embedded default: generate, train, score, summarise."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
from leadscore.features._generator import GeneratorConfig, write_crm
from leadscore.serving._batch import ScoreConfig, ScoreResult, score_warehouse
from leadscore.training import TrainConfig, TrainResult, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo's outputs are and what it measured."""

    warehouse: str
    tracking_uri: str
    train: TrainResult
    score: ScoreResult
    generated: dict[str, int]


def run_demo(
    workdir: Path,
    *,
    contacts: int = 50_000,
    seed: int = 7,
    say: Callable[[str], None] | None = None,
) -> DemoResult:
    """Generate a synthetic CRM in ``workdir``, train and register, batch-score.

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
    trained = train(TrainConfig(warehouse=warehouse, as_of=gen.end), progress=emit)
    as_of = datetime(gen.end.year, gen.end.month, gen.end.day)
    emit(f"batch scoring every open lead as of {as_of:%Y-%m-%d}")
    scored = score_warehouse(
        ScoreConfig(warehouse=warehouse, model_uri="models:/lead-quality@champion", as_of=as_of)
    )
    return DemoResult(warehouse, os.environ["MLFLOW_TRACKING_URI"], trained, scored, counts)
