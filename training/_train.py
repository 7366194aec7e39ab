"""Training: the contract's data at its decision moment, every scorer, MLflow and the registry.

Contract of :func:`train`: reads the imported warehouse through the contract's feature spec
(:func:`features._spec.spec_for`), validates it and builds the labelled point-in-time frame
and its split (:func:`training._fitting.labelled_data`: pipeline snapshots by quarter, or
one row per lead at its handoff, by time or, without any time, stratified at random; no
data at or after ``as_of`` is read). It runs the leakage guard on the contact attributes of
the training rows (:func:`attribute_leakage`: they carry no timestamp; a suspect stops
training with :class:`~training._leakage.LeakageError` and a FAILED run holding the
ranking, unless ``allow_leaky`` or ``known_before_contact``), fits every scorer on the
earlier rows, early-stops and calibrates LightGBM on the validation rows, and measures them
all on the test rows. It logs params, the data window, the split in words, row counts, the
dataset digest and every metric to one MLflow run, logs the
:class:`~models.LeadScoringModel` pyfunc (as code, with its bundle of LightGBM text and
versioned JSON, its signature built from the spec and an input example), registers it under
the contract's model name with alias ``challenger``, and makes it ``champion`` too when there
is no champion yet (the first model). Promotion of later versions goes through the gate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from leadscore.features import ConfigError, Warehouse
from leadscore.features._contract import Contract, default_contract
from leadscore.features._spec import FeatureSpec, spec_for
from leadscore.models import LeadModelParams, ScoringBundle
from leadscore.models._pyfunc import PYFUNC_CODE_PATH, lead_signature, to_model_input
from leadscore.training._fitting import capacity_for, ceiling_for, fit_and_evaluate, labelled_data
from leadscore.training._leakage import (
    LeakageError,
    LeakageReport,
    Suspect,
    check_leakage,
    leakage_report,
    log_leakage,
)
from leadscore.training._registry import alias_version, set_champion
from leadscore.training._splits import RowSplit, TimeSplit
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
    horizon_days: int | None = None  # default: the contract's label.horizon_days
    rules_path: str | None = None
    capacity: float | None = None  # leads sales can work per week; default from data
    model_params: LeadModelParams = field(default_factory=LeadModelParams)
    model_name: str | None = None  # default: the contract's model name
    experiment: str = "leadscore"
    allow_leaky: bool = False  # train even when the leakage guard finds suspects
    known_before_contact: tuple[str, ...] = ()  # attributes declared safe (reported, no stop)
    contract: Contract | None = None  # default: the packaged demo contract

    def __post_init__(self) -> None:
        if self.horizon_days is not None and self.horizon_days <= 0:
            raise ConfigError(f"horizon_days must be positive, got {self.horizon_days!r}")
        if self.capacity is not None and self.capacity <= 0:
            raise ConfigError(f"capacity must be positive, got {self.capacity!r}")

    @property
    def the_contract(self) -> Contract:
        """The contract (the packaged demo contract when none was given)."""
        return self.contract if self.contract is not None else default_contract()

    @property
    def horizon(self) -> int:
        """The label horizon in days: given, else the contract's."""
        return self.horizon_days or self.the_contract.label.horizon_days

    @property
    def registered_name(self) -> str:
        """The registered model name: given, else the contract's."""
        return self.model_name or self.the_contract.model_name


@dataclass
class TrainResult:
    """What a training run produced and measured."""

    run_id: str
    model_uri: str  # the exact version: models:/NAME/VERSION
    model_name: str
    model_version: str
    aliases: list[str]
    split: TimeSplit | RowSplit
    row_counts: dict[str, int]
    capacity: int
    metrics: dict[str, dict[str, float]]  # scorer -> metric -> value (test rows)
    tracking_uri: str
    data_end: datetime | None
    spec: FeatureSpec
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
    contract, horizon, name = config.the_contract, config.horizon, config.registered_name
    with Warehouse(config.warehouse, read_only=True) as wh:
        spec = spec_for(contract, wh)
        say(f"building point-in-time rows at the {spec.decision} decision "
            f"({len(spec.model_features())} features)")  # fmt: skip
        window = labelled_data(wh, spec, as_of=config.as_of, horizon_days=horizon)
        split = window.split
        say(f"{len(window.frame):,} labelled rows ({window.censored_rows:,} censored, "
            f"{window.open_rows:,} still open); split {split.description}")  # fmt: skip
        capacity = capacity_for(wh, window, spec, horizon_days=horizon, per_week=config.capacity)
        test_rows = window.frame[window.masks()[2]]
        ceiling = ceiling_for(wh, test_rows, horizon) if spec.decision == "pipeline" else None
    say("leakage guard: ranking the contact attributes on the training rows")
    guard = attribute_leakage(window.frame[window.masks()[0]], spec, config.known_before_contact)
    allowed = _check_guard(guard, config)
    fitted = fit_and_evaluate(
        window.frame, split, spec, rules_path=config.rules_path,
        model_params=config.model_params, capacity=capacity.leads, ceiling=ceiling, progress=say,
    )  # fmt: skip
    frame, metrics = window.frame, fitted.metrics
    row_counts = {**fitted.row_counts, "censored": window.censored_rows, "open": window.open_rows}
    metadata = {
        "model_name": name,
        "decision": spec.decision,
        "horizon_days": horizon,
        "data_end": window.data_end.isoformat() if window.data_end else None,
        "split": split.description,
        "test_start": _test_start(split),
        "capacity": capacity.leads,
        "capacity_per_week": capacity.per_week,
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
                "contract": str(contract.path) if contract.path else "packaged demo contract",
                "decision": spec.decision,
                "as_of": window.data_end.isoformat() if window.data_end else "no time",
                "horizon_days": horizon,
                "rules_file": config.rules_path or "default_rules.yaml",
                "capacity": capacity.leads,
                "capacity_source": capacity.source[:500],
                "split": split.description[:500],
                **_split_params(split),
                "dataset_digest": dataset_digest(frame),
                "features": len(spec.model_features()),
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
        mlflow.log_dict(spec.to_dict(), "evaluation/feature_spec.json")
        mlflow.log_dict({"tier_thresholds": fitted.tier_thresholds}, "evaluation/tiers.json")
        importance = fitted.model.feature_importance()
        mlflow.log_dict(
            {str(k): float(v) for k, v in importance.items()}, "evaluation/importance.json"
        )
        bundle_dir = bundle.save(Path(tmp) / "bundle")
        example = to_model_input(test_rows.drop(columns=["label", "as_of"]).head(5), spec)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_CODE_PATH),
            artifacts={"bundle": str(bundle_dir)},
            signature=lead_signature(spec),
            input_example=example,
            pip_requirements=_pip_requirements(),
            registered_model_name=name,
            metadata={k: v for k, v in metadata.items() if k != "test_metrics"},
        )
        version = str(info.registered_model_version)
        client = MlflowClient()
        client.set_model_version_tag(name, version, "test_metrics", json.dumps(metrics)[:5000])
        client.set_model_version_tag(name, version, "test_start", str(_test_start(split)))
        client.set_registered_model_alias(name, "challenger", version)
        aliases = ["challenger"]
        if alias_version(name, "champion") is None:
            set_champion(name, version)
            aliases.append("champion")
        mlflow.set_tag("leadscore.registered", f"{name}/{version} @{','.join(aliases)}")
        run_id = run.info.run_id
    seconds = time.perf_counter() - started
    say(f"registered {name} version {version} as @{', @'.join(aliases)} ({seconds:.0f} s)")
    return TrainResult(
        run_id=run_id, model_uri=f"models:/{name}/{version}", model_name=name,
        model_version=version, aliases=aliases, split=split, row_counts=row_counts,
        capacity=capacity.leads, metrics=metrics, tracking_uri=uri, data_end=window.data_end,
        spec=spec, censored_rows=window.censored_rows, seconds=seconds,
        extra={"weekly_leads_worked": capacity.per_week, "capacity_source": capacity.source},
    )  # fmt: skip


def _split_params(split: TimeSplit | RowSplit) -> dict[str, str]:
    """The quarters of a snapshot split (train window, validation and test quarters)."""
    if not isinstance(split, TimeSplit):
        return {}
    return {"train_window": f"{split.train[0]:%Y-%m-%d}..{split.train[-1]:%Y-%m-%d}",
            "validation_snapshot": f"{split.validation:%Y-%m-%d}",
            "test_snapshot": f"{split.test:%Y-%m-%d}"}  # fmt: skip


def _test_start(split: TimeSplit | RowSplit) -> str | None:
    start = split.test
    return start.isoformat() if start is not None else None


def attribute_leakage(train_rows: pd.DataFrame, spec: FeatureSpec,
                      known_before_contact: tuple[str, ...] = ()) -> LeakageReport:  # fmt: skip
    """The leakage guard's ranking of the spec's contact attributes on the training rows
    (labelled). Attributes carry no timestamp, so nothing but the team's word says they were
    known at creation; engagement features are point-in-time by construction and are not
    measured. An attribute with no values at all is skipped."""
    kinds = {a.name: a.kind for a in spec.attributes if train_rows[a.name].notna().any()}
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
