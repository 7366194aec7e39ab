"""``leadscore compare``: the registered model vs the rules on one later quarter, as a report.

Contract of :func:`compare`: loads the model (its bundle carries both scorers), builds the
labelled frame of the latest quarter whose outcomes are known by ``as_of``, computes every
figure (:func:`training._compare.comparison_figures`: both scorers, the difference in
ranking and at capacity with their intervals, drift against the rows the model was fitted
on, the model's reliability per window), writes ``report`` (self-contained HTML) and the
same figures as JSON beside it (``report`` with suffix ``.json``), and logs both to MLflow
(drift as a PSI metric per feature). If the model was trained or validated on that quarter the report says so
in its notes: such a comparison is not out of sample.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
from leadscore.features import ConfigError, Warehouse
from leadscore.training._compare import comparison_figures
from leadscore.training._fitting import evaluation_rows
from leadscore.training._leakage import metric_key
from leadscore.training._registry import load_bundle, resolve_model
from leadscore.training._report import render_html
from leadscore.training._tracking import configure_tracking, ensure_experiment, start_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompareConfig:
    """What to compare, on which quarter, at which capacity, and where the report goes."""

    warehouse: str
    report: Path
    model_uri: str = "models:/lead-quality@champion"  # the CLI passes the contract's champion
    as_of: datetime | None = None
    capacity_per_week: float | None = None
    bootstrap_reps: int = 500
    experiment: str = "leadscore"

    def __post_init__(self) -> None:
        if self.capacity_per_week is not None and self.capacity_per_week <= 0:
            raise ConfigError(f"capacity must be positive, got {self.capacity_per_week!r}")
        if self.bootstrap_reps < 100:
            raise ConfigError(f"bootstrap_reps must be at least 100, got {self.bootstrap_reps!r}")


@dataclass(frozen=True)
class CompareResult:
    """The figures and where they were written."""

    figures: dict[str, Any]
    html_path: Path
    json_path: Path
    run_id: str


def compare(
    config: CompareConfig, *, progress: Callable[[str], None] | None = None
) -> CompareResult:
    """Run the comparison (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    configure_tracking()
    name, version = resolve_model(config.model_uri)
    bundle = load_bundle(config.model_uri)
    horizon = int(bundle.metadata.get("horizon_days", 90))
    with Warehouse(config.warehouse, read_only=True) as wh:
        say(f"validating and building the comparison rows ({bundle.spec.decision} decision)")
        judged = evaluation_rows(wh, bundle.spec, as_of=config.as_of, horizon_days=horizon,
                                 capacity_per_week=config.capacity_per_week)  # fmt: skip
    period = judged.period
    notes = []
    test_start = bundle.metadata.get("test_start")
    if judged.start is not None and test_start and judged.start.isoformat() < test_start:
        notes.append(
            f"Warning: model version {version} was trained or validated on rows from {period} "
            f"on (its own test period starts {test_start[:10]}), so this comparison is NOT "
            "out of sample. Compare on later data."
        )
    elif test_start and judged.start is not None and judged.start.isoformat() == test_start:
        notes.append(f"{period} is this model's held-out test period: out of sample.")
    if judged.start is None:
        notes.append("The data has no time: the comparison is on a stratified random test split "
                     "(the one the model was tested on), not on later leads.")  # fmt: skip
    meta = {
        "model_uri": config.model_uri,
        "model_name": name,
        "model_version": version,
        "model_family": bundle.lead_model.family,
        "warehouse": config.warehouse,
        "snapshot": period,
        "capacity_source": judged.capacity.source,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "notes": notes,
    }
    say(f"computing the comparison on {len(judged.rows):,} leads ({config.bootstrap_reps} "
        "bootstrap resamples)")  # fmt: skip
    weekly = judged.capacity.per_week
    figures = comparison_figures(
        bundle, judged.rows, capacity_per_week=weekly, horizon_days=horizon, meta=meta,
        bootstrap_reps=config.bootstrap_reps, capacity=judged.capacity.leads,
    )  # fmt: skip
    html_path = config.report
    json_path = html_path.with_suffix(".json")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(figures), encoding="utf-8")
    json_path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    experiment_id = ensure_experiment(config.experiment)
    with start_run(experiment_id, run_name=f"compare-{period}") as run:
        mlflow.set_tag("leadscore.job", "compare")
        mlflow.set_tag("leadscore.winner", figures["headline"]["winner"])
        mlflow.log_params({"model_uri": config.model_uri, "model_version": version,
                           "snapshot": period, "capacity_per_week": weekly})  # fmt: skip
        for scorer, values in figures["metrics"].items():
            mlflow.log_metrics({f"{scorer}_{k}": v for k, v in values.items() if v == v})
        mlflow.log_metrics({k: figures["headline"][k] for k in ("difference", "ci_low", "ci_high")})
        auc = figures["headline"]["roc_auc_difference"]
        mlflow.log_metrics({f"roc_auc_difference_{k}": float(auc[k]) for k in
                            ("difference", "low", "high") if auc[k] == auc[k]})  # fmt: skip
        mlflow.log_dict(figures["drift"], "comparison/drift.json")
        for row in figures["drift"]["features"]:
            mlflow.log_metric(metric_key("drift_psi", row["feature"]), row["psi"])
        mlflow.log_artifact(str(html_path), "comparison")
        mlflow.log_artifact(str(json_path), "comparison")
        run_id = run.info.run_id
    return CompareResult(figures, html_path, json_path, run_id)
