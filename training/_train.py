"""Training: point-in-time frames, a time split, both scorers, MLflow tracking and registry.

Contract of :func:`train`: validates the warehouse, builds labelled lead frames at every
quarterly snapshot whose horizon ends by ``as_of`` (no data at or after ``as_of`` is read),
runs the leakage guard on the contact attributes of the training rows (:func:`attribute_leakage`:
they carry no timestamp; a suspect stops training with :class:`~training._leakage.LeakageError`
and a FAILED run holding the ranking, unless ``allow_leaky`` or ``known_before_contact``),
trains on the earlier snapshots, early-stops and calibrates on the next, and measures both
scorers on the latest (the held-out quarter) on the same rows. It logs params, the data
window, row counts, the dataset digest and every metric to one MLflow run, logs the
:class:`~models.LeadScoringModel` pyfunc with its signature and an input example, registers
it as ``model_name`` with alias ``challenger``, and makes it ``champion`` too when there is
no champion yet (the first model). Promotion of later versions goes through the gate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from leadscore.features import ConfigError, Warehouse
from leadscore.models import LeadModelParams, ScoringBundle
from leadscore.models._pyfunc import LeadScoringModel, lead_signature, save_bundle, to_model_input
from leadscore.training._fitting import capacity_for, ceiling_for, fit_and_evaluate, labelled_window
from leadscore.training._leakage import (
    LeakageError,
    LeakageReport,
    Suspect,
    check_leakage,
    leakage_report,
    log_leakage,
)
from leadscore.training._registry import alias_version, set_champion
from leadscore.training._splits import TimeSplit, split_snapshots
from leadscore.training._tracking import configure_tracking, ensure_experiment
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

MODEL_NAME = "lead-quality"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """What to train on and where to register it."""

    warehouse: str
    as_of: datetime | None = None  # "today" for training; default: the end of the data
    horizon_days: int = 90
    rules_path: str | None = None
    capacity: int | None = None  # leads the team can work per horizon; default from data
    model_params: LeadModelParams = field(default_factory=LeadModelParams)
    model_name: str = MODEL_NAME
    experiment: str = "leadscore"
    allow_leaky: bool = False  # train even when the leakage guard finds suspects
    known_before_contact: tuple[str, ...] = ()  # attributes declared safe (reported, no stop)

    def __post_init__(self) -> None:
        if self.horizon_days <= 0:
            raise ConfigError(f"horizon_days must be positive, got {self.horizon_days!r}")
        if self.capacity is not None and self.capacity <= 0:
            raise ConfigError(f"capacity must be positive, got {self.capacity!r}")


@dataclass
class TrainResult:
    """What a training run produced and measured."""

    run_id: str
    model_uri: str  # the exact version: models:/NAME/VERSION
    model_name: str
    model_version: str
    aliases: list[str]
    split: TimeSplit
    row_counts: dict[str, int]
    capacity: int
    metrics: dict[str, dict[str, float]]  # scorer -> metric -> value (held-out quarter)
    tracking_uri: str
    data_end: datetime
    censored_rows: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def dataset_digest(frame: pd.DataFrame) -> str:
    """A short content hash of a frame (rows and values, not the index)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def train(config: TrainConfig, *, progress: Progress | None = None) -> TrainResult:
    """Train, evaluate, log and register (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    started = time.perf_counter()
    with Warehouse(config.warehouse, read_only=True) as wh:
        say("validating warehouse tables and building point-in-time frames")
        window = labelled_window(wh, as_of=config.as_of, horizon_days=config.horizon_days)
        split = split_snapshots(window.snapshots, config.horizon_days)
        say(
            f"{len(window.snapshots)} quarterly snapshots ({window.snapshots[0]:%Y-%m-%d} .. "
            f"{window.snapshots[-1]:%Y-%m-%d}), horizon {config.horizon_days} days, "
            f"{len(window.frame):,} rows, {window.censored_rows:,} censored"
        )
        capacity, weekly, capacity_source = capacity_for(
            wh, start=window.data_start, until=split.validation,
            horizon_days=config.horizon_days, given=config.capacity,
        )  # fmt: skip
        test_rows = window.frame[split.masks(window.frame["as_of"])[2]]
        ceiling = ceiling_for(wh, test_rows, config.horizon_days)
    say("leakage guard: ranking the contact attributes on the training rows")
    guard = attribute_leakage(window.frame[split.masks(window.frame["as_of"])[0]],
                              config.known_before_contact)  # fmt: skip
    allowed = _check_guard(guard, config)
    fitted = fit_and_evaluate(
        window.frame, split, rules_path=config.rules_path, model_params=config.model_params,
        capacity=capacity, ceiling=ceiling, progress=say,
    )  # fmt: skip
    frame, metrics = window.frame, fitted.metrics
    row_counts = {**fitted.row_counts, "censored": window.censored_rows}
    metadata = {
        "model_name": config.model_name,
        "horizon_days": config.horizon_days,
        "data_end": window.data_end.isoformat(),
        "train_snapshots": [s.isoformat() for s in split.train],
        "validation_snapshot": split.validation.isoformat(),
        "test_snapshot": split.test.isoformat(),
        "capacity": capacity,
        "capacity_per_week": weekly,
        "trained_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "leadscore_version": _leadscore_version(),
        "test_metrics": metrics,
    }
    bundle = ScoringBundle(fitted.model, fitted.rules, fitted.tier_thresholds, metadata)

    uri = configure_tracking()
    experiment_id = ensure_experiment(config.experiment)
    say(f"logging to MLflow at {uri}")
    with mlflow.start_run(experiment_id=experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tag("leadscore.job", "train")
        mlflow.log_params(
            {
                "warehouse": config.warehouse,
                "as_of": window.data_end.isoformat(),
                "horizon_days": config.horizon_days,
                "rules_file": config.rules_path or "default_rules.yaml",
                "capacity": capacity,
                "capacity_source": capacity_source,
                "train_window": f"{split.train[0]:%Y-%m-%d}..{split.train[-1]:%Y-%m-%d}",
                "validation_snapshot": f"{split.validation:%Y-%m-%d}",
                "test_snapshot": f"{split.test:%Y-%m-%d}",
                "dataset_digest": dataset_digest(frame),
                "best_iteration": fitted.model.best_iteration_,
                **{f"model.{k}": v for k, v in fitted.model.get_params().items()},
            }
        )
        log_leakage(guard, allowed)
        mlflow.log_metrics({f"rows_{k}": float(v) for k, v in row_counts.items()})
        mlflow.log_metrics({f"positives_{k}": float(v) for k, v in fitted.positives.items()})
        for scorer, values in metrics.items():
            mlflow.log_metrics(
                {f"test_{scorer}_{k}": v for k, v in values.items() if np.isfinite(v)}
            )
        mlflow.log_dict(metrics, "evaluation/test_metrics.json")
        mlflow.log_dict({"tier_thresholds": fitted.tier_thresholds}, "evaluation/tiers.json")
        importance = fitted.model.feature_importance()
        mlflow.log_dict(
            {str(k): float(v) for k, v in importance.items()}, "evaluation/importance.json"
        )
        bundle_path = save_bundle(bundle, Path(tmp))
        test_rows = frame[split.masks(frame["as_of"])[2]]
        example = to_model_input(test_rows.drop(columns=["label", "as_of"]).head(5))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadScoringModel(),
            artifacts={"bundle": str(bundle_path)},
            signature=lead_signature(),
            input_example=example,
            pip_requirements=_pip_requirements(),
            registered_model_name=config.model_name,
            metadata={k: v for k, v in metadata.items() if k != "test_metrics"},
        )
        version = str(info.registered_model_version)
        client = MlflowClient()
        client.set_model_version_tag(
            config.model_name, version, "test_metrics", json.dumps(metrics)[:5000]
        )
        client.set_model_version_tag(
            config.model_name, version, "test_snapshot", f"{split.test:%Y-%m-%d}"
        )
        client.set_registered_model_alias(config.model_name, "challenger", version)
        aliases = ["challenger"]
        if alias_version(config.model_name, "champion") is None:
            set_champion(config.model_name, version)
            aliases.append("champion")
        mlflow.set_tag(
            "leadscore.registered", f"{config.model_name}/{version} @{','.join(aliases)}"
        )
        run_id = run.info.run_id
    seconds = time.perf_counter() - started
    say(
        f"registered {config.model_name} version {version} as @{', @'.join(aliases)} ({seconds:.0f} s)"
    )
    return TrainResult(
        run_id=run_id,
        model_uri=f"models:/{config.model_name}/{version}",
        model_name=config.model_name,
        model_version=version,
        aliases=aliases,
        split=split,
        row_counts=row_counts,
        capacity=capacity,
        metrics=metrics,
        tracking_uri=uri,
        data_end=window.data_end,
        censored_rows=window.censored_rows,
        seconds=seconds,
        extra={"weekly_leads_worked": weekly, "config": asdict(config)},
    )


ATTRIBUTE_KINDS: dict[str, str] = {
    "title": "categorical", "company_size": "numeric", "industry": "categorical",
    "country": "categorical", "lead_source": "categorical", "email_domain": "categorical",
    "phone_valid": "boolean", "buying_timeline": "categorical", "requested_demo": "boolean",
}  # fmt: skip
"""The contact attributes the guard measures: they carry no timestamp, so nothing but the
team's word says they were known at creation. Engagement features are point-in-time by
construction (only events strictly before the snapshot) and are not measured."""


def attribute_leakage(train_rows: pd.DataFrame, known_before_contact: tuple[str, ...] = ()
                      ) -> LeakageReport:  # fmt: skip
    """The leakage guard's ranking of the contact attributes on the training rows (one row
    per contact and snapshot, labelled). An attribute with no values at all is skipped."""
    kinds = {c: k for c, k in ATTRIBUTE_KINDS.items() if train_rows[c].notna().any()}
    frame = train_rows[list(kinds)].copy()
    for column, kind in kinds.items():
        if kind == "boolean":
            frame[column] = frame[column].astype("float64")
    return leakage_report(frame, train_rows["label"].to_numpy(), kinds,
                          known_before_contact=known_before_contact)  # fmt: skip


def _check_guard(report: LeakageReport, config: TrainConfig) -> list[Suspect]:
    """Stop (LeakageError, logged as a FAILED MLflow run) when the guard finds suspects,
    unless ``config.allow_leaky``; returns the suspects trained with."""
    try:
        return check_leakage(report, allow_leaky=config.allow_leaky)
    except LeakageError:
        configure_tracking()
        experiment_id = ensure_experiment(config.experiment)
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.set_tag("leadscore.job", "train")
            mlflow.set_tag("leadscore.stopped", "leakage guard")
            log_leakage(report, [])
            mlflow.end_run(status="FAILED")
        raise


def _leadscore_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leadscore")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _pip_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pkgs = ["lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "pyarrow", "joblib", "duckdb",
            "pydantic", "pyyaml", "mlflow"]  # fmt: skip
    out = []
    for p in pkgs:
        try:
            out.append(f"{p}=={version(p)}")
        except PackageNotFoundError:  # pragma: no cover - a package missing here
            out.append(p)
    return out
