"""``leadscore compare``: the registered model vs the rules on one later quarter, as a report.

Contract of :func:`compare`: loads the model (its bundle carries both scorers), builds the
labelled frame of the latest quarter whose outcomes are known by ``as_of``, computes every
figure (:func:`training._compare.comparison_figures`), writes ``report`` (self-contained
HTML) and the same figures as JSON beside it (``report`` with suffix ``.json``), and logs
both to MLflow. If the model was trained or validated on that quarter the report says so
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
from leadscore.training._fitting import capacity_for, labelled_window
from leadscore.training._registry import load_bundle, resolve_model
from leadscore.training._report import render_html
from leadscore.training._tracking import configure_tracking, ensure_experiment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompareConfig:
    """What to compare, on which quarter, at which capacity, and where the report goes."""

    warehouse: str
    report: Path
    model_uri: str = "models:/lead-quality@champion"
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
        say("validating warehouse tables and building the comparison quarter")
        window = labelled_window(wh, as_of=config.as_of, horizon_days=horizon, last=1)
        snapshot = window.snapshots[-1]
        given = None
        if config.capacity_per_week:
            given = max(1, round(config.capacity_per_week * horizon / 7))
        _, weekly, source = capacity_for(
            wh, start=window.data_start, until=snapshot, horizon_days=horizon, given=given
        )
    notes = []
    trained_on = {
        *bundle.metadata.get("train_snapshots", []),
        bundle.metadata.get("validation_snapshot"),
    }
    if snapshot.isoformat() in trained_on:
        notes.append(
            f"Warning: model version {version} was trained or validated on the {snapshot:%Y-%m-%d} "
            "quarter, so this comparison is NOT out of sample. Compare on a later quarter."
        )
    if bundle.metadata.get("test_snapshot") == snapshot.isoformat():
        notes.append(f"{snapshot:%Y-%m-%d} is this model's held-out test quarter: out of sample.")
    meta = {
        "model_uri": config.model_uri,
        "model_name": name,
        "model_version": version,
        "warehouse": config.warehouse,
        "snapshot": f"{snapshot:%Y-%m-%d}",
        "capacity_source": source,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "notes": notes,
    }
    say(
        f"computing the comparison on {len(window.frame):,} leads ({config.bootstrap_reps} bootstrap resamples)"
    )
    figures = comparison_figures(
        bundle, window.frame, capacity_per_week=weekly, horizon_days=horizon, meta=meta,
        bootstrap_reps=config.bootstrap_reps,
    )  # fmt: skip
    html_path = config.report
    json_path = html_path.with_suffix(".json")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(figures), encoding="utf-8")
    json_path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    experiment_id = ensure_experiment(config.experiment)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"compare-{snapshot:%Y-%m-%d}"
    ) as run:
        mlflow.set_tag("leadscore.job", "compare")
        mlflow.set_tag("leadscore.winner", figures["headline"]["winner"])
        mlflow.log_params({"model_uri": config.model_uri, "model_version": version,
                           "snapshot": f"{snapshot:%Y-%m-%d}", "capacity_per_week": weekly})  # fmt: skip
        for scorer, values in figures["metrics"].items():
            mlflow.log_metrics({f"{scorer}_{k}": v for k, v in values.items() if v == v})
        mlflow.log_metrics({k: figures["headline"][k] for k in ("difference", "ci_low", "ci_high")})
        mlflow.log_artifact(str(html_path), "comparison")
        mlflow.log_artifact(str(json_path), "comparison")
        run_id = run.info.run_id
    return CompareResult(figures, html_path, json_path, run_id)
