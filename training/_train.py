"""Training: point-in-time frames, a time split, both scorers, MLflow tracking and registry.

Contract of :func:`train`: validates the warehouse, builds labelled lead frames at every
quarterly snapshot whose horizon ends by ``as_of`` (no data at or after ``as_of`` is read),
trains on the earlier snapshots, early-stops and calibrates on the next, and measures both
scorers on the latest (the held-out quarter) on the same rows. It logs params, the data
window, row counts, the dataset digest and every metric to one MLflow run, logs the
:class:`~models.LeadScoringModel` pyfunc with its signature and an input example, registers
it as ``model_name`` and points ``alias`` at the new version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

import features
from features import (
    ConfigError,
    Warehouse,
    build_lead_frame,
    quarter_starts,
    validate_warehouse,
)
from features._capacity import weekly_leads_worked
from features._schema import TRUTH
from models import LeadModel, LeadModelParams, RuleScorer, ScoringBundle
from models._pyfunc import LeadScoringModel, lead_signature, save_bundle, to_model_input
from models._scoring import tier_thresholds_matching_grades
from training._metrics import classification_metrics
from training._splits import TimeSplit, split_snapshots
from training._tracking import configure_tracking, ensure_experiment

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
    alias: str = "champion"
    experiment: str = "leadscore"

    def __post_init__(self) -> None:
        if self.horizon_days <= 0:
            raise ConfigError(f"horizon_days must be positive, got {self.horizon_days!r}")
        if self.capacity is not None and self.capacity <= 0:
            raise ConfigError(f"capacity must be positive, got {self.capacity!r}")


@dataclass
class TrainResult:
    """What a training run produced and measured."""

    run_id: str
    model_uri: str
    model_name: str
    model_version: str
    split: TimeSplit
    row_counts: dict[str, int]
    capacity: int
    metrics: dict[str, dict[str, float]]  # scorer -> metric -> value (held-out quarter)
    tracking_uri: str
    data_end: datetime
    censored_rows: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _ceiling(wh: Warehouse, rows: pd.DataFrame, horizon_days: int) -> np.ndarray | None:
    """The generator's own Bayes-optimal score for these rows (synthetic data only)."""
    if not wh.has_table(TRUTH):
        return None
    from features._generator import ceiling_scores

    truth = wh.query(f"SELECT * FROM {TRUTH}")
    contacts = wh.query("SELECT contact_id, created_at FROM contacts")
    return np.asarray(ceiling_scores(rows[["contact_id", "as_of"]], truth, contacts, horizon_days))


def train(config: TrainConfig, *, progress: Progress | None = None) -> TrainResult:
    """Train, evaluate, log and register (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    started = time.perf_counter()
    with Warehouse(config.warehouse, read_only=True) as wh:
        say("validating warehouse tables")
        report = validate_warehouse(wh)
        assert report.data_start is not None and report.data_end is not None
        data_end = config.as_of or (report.data_end + timedelta(seconds=1))
        if config.as_of and config.as_of <= report.data_start:
            raise ConfigError(
                f"--as-of {config.as_of:%Y-%m-%d} is before the first contact "
                f"({report.data_start:%Y-%m-%d}); nothing to train on"
            )
        labelled = [
            s for s in quarter_starts(report.data_start, data_end)
            if s + timedelta(days=config.horizon_days) <= data_end
        ]  # fmt: skip
        split = split_snapshots(labelled)
        say(
            f"building point-in-time frames at {len(labelled)} quarterly snapshots "
            f"({labelled[0]:%Y-%m-%d} .. {labelled[-1]:%Y-%m-%d}, horizon {config.horizon_days} days)"
        )
        lf = build_lead_frame(
            wh, labelled, with_labels=True, horizon_days=config.horizon_days, data_end=data_end
        )
        frame = lf.frame
        train_mask, valid_mask, test_mask = split.masks(frame["as_of"])
        tr, va, te = frame[train_mask], frame[valid_mask], frame[test_mask]
        for name, part in (("training", tr), ("validation", va), ("test", te)):
            if part["label"].sum() == 0:
                raise ConfigError(
                    f"the {name} window has no won outcomes ({len(part)} rows); "
                    "need conversions in every window to train and measure"
                )
        weekly = weekly_leads_worked(wh, report.data_start, split.validation)
        capacity = config.capacity or max(1, round(weekly * config.horizon_days / 7))
        ceiling = _ceiling(wh, te, config.horizon_days)

    say(f"training rows: {len(tr):,} train / {len(va):,} validation / {len(te):,} test")
    rules = RuleScorer(config.rules_path).fit(tr, tr["label"].to_numpy())
    say("training LightGBM (early stopping on the validation quarter)")
    model = LeadModel(config.model_params).fit(
        tr, tr["label"].to_numpy(), validation=(va, va["label"].to_numpy())
    )

    say(f"evaluating both scorers on the held-out quarter {split.test:%Y-%m-%d}")
    y_te = te["label"].to_numpy()
    model_prob = model.predict_proba(te)
    rule_points = rules.score(te)
    rule_prob = rules.predict_proba(te)
    metrics = {
        "model": classification_metrics(y_te, model_prob, model_prob, capacity),
        "rules": classification_metrics(y_te, rule_points, rule_prob, capacity),
    }
    if ceiling is not None:
        metrics["ceiling"] = classification_metrics(y_te, ceiling, ceiling, capacity)

    va_prob = model.predict_proba(va)
    tiers = tier_thresholds_matching_grades(va_prob, rules.grade(rules.score(va)))
    row_counts = {"train": len(tr), "validation": len(va), "test": len(te),
                  "censored": lf.censored_rows}  # fmt: skip
    metadata = {
        "model_name": config.model_name,
        "horizon_days": config.horizon_days,
        "data_end": data_end.isoformat(),
        "train_snapshots": [s.isoformat() for s in split.train],
        "validation_snapshot": split.validation.isoformat(),
        "test_snapshot": split.test.isoformat(),
        "capacity": capacity,
        "trained_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "test_metrics": metrics,
    }
    bundle = ScoringBundle(model, rules, tiers, metadata)

    uri = configure_tracking()
    experiment_id = ensure_experiment(config.experiment)
    say(f"logging to MLflow at {uri}")
    with mlflow.start_run(experiment_id=experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                "warehouse": config.warehouse,
                "as_of": data_end.isoformat(),
                "horizon_days": config.horizon_days,
                "rules_file": config.rules_path or "default_rules.yaml",
                "capacity": capacity,
                "capacity_source": "given" if config.capacity else f"data ({weekly:.1f}/week)",
                "train_window": f"{split.train[0]:%Y-%m-%d}..{split.train[-1]:%Y-%m-%d}",
                "validation_snapshot": f"{split.validation:%Y-%m-%d}",
                "test_snapshot": f"{split.test:%Y-%m-%d}",
                "dataset_digest": _digest(frame),
                "best_iteration": model.best_iteration_,
                **{f"model.{k}": v for k, v in model.get_params().items()},
            }
        )
        mlflow.log_metrics({f"rows_{k}": float(v) for k, v in row_counts.items()})
        mlflow.log_metrics(
            {
                f"positives_{k}": float(p["label"].sum())
                for k, p in (("train", tr), ("validation", va), ("test", te))
            }
        )
        for scorer, values in metrics.items():
            mlflow.log_metrics({f"test_{scorer}_{k}": v for k, v in values.items()
                                if np.isfinite(v)})  # fmt: skip
        mlflow.log_dict(metrics, "evaluation/test_metrics.json")
        mlflow.log_dict({"tier_thresholds": tiers}, "evaluation/tiers.json")
        importance = model.feature_importance()
        mlflow.log_dict(
            {str(k): float(v) for k, v in importance.items()}, "evaluation/importance.json"
        )
        bundle_path = save_bundle(bundle, Path(tmp))
        example = to_model_input(te.drop(columns=["label", "as_of"]).head(5))
        pkg_root = Path(features.__file__).resolve().parent.parent
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadScoringModel(),
            artifacts={"bundle": str(bundle_path)},
            signature=lead_signature(),
            input_example=example,
            code_paths=[str(pkg_root / "features"), str(pkg_root / "models")],
            pip_requirements=_pip_requirements(),
            registered_model_name=config.model_name,
            metadata={k: v for k, v in metadata.items() if k != "test_metrics"},
        )
        version = str(info.registered_model_version)
        client = MlflowClient()
        client.set_registered_model_alias(config.model_name, config.alias, version)
        client.set_model_version_tag(config.model_name, version, "test_metrics",
                                     json.dumps(metrics)[:5000])  # fmt: skip
        run_id = run.info.run_id
    seconds = time.perf_counter() - started
    say(f"registered {config.model_name} version {version} as @{config.alias} ({seconds:.0f} s)")
    return TrainResult(
        run_id=run_id,
        model_uri=f"models:/{config.model_name}@{config.alias}",
        model_name=config.model_name,
        model_version=version,
        split=split,
        row_counts=row_counts,
        capacity=capacity,
        metrics=metrics,
        tracking_uri=uri,
        data_end=data_end,
        censored_rows=lf.censored_rows,
        seconds=seconds,
        extra={"weekly_leads_worked": weekly, "config": asdict(config)},
    )


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    pkgs = ["lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "pyarrow", "joblib", "duckdb",
            "pydantic", "pyyaml", "mlflow"]  # fmt: skip
    out = []
    for p in pkgs:
        try:
            out.append(f"{p}=={version(p)}")
        except Exception:  # pragma: no cover - a package missing from this environment
            out.append(p)
    return out
