"""Flat mode training: one CRM export in, a guarded, measured, registered model out.

Contract of :func:`train_flat`:

1. Reads the contract (``mode: flat``) and its ``leads`` table (:func:`features._flat.load_flat`:
   every validation problem is raised before any work) and splits the labelled rows
   (:func:`features._flat.flat_split`: by time when the contract gives ``created_at`` or
   ``order_by``, stratified-random otherwise; the split's description says which in words).
2. Runs the leakage guard on the *training rows only* (a leak often looks weaker over all
   rows, where later periods dilute it). Every step from here runs inside one MLflow run
   that records the guard's findings (``leakage/ranking.txt``, ``leakage/report.json`` and a
   ``leakage_auc/<column>`` metric for the top 15 columns) *before* the guard decides; a
   suspect not excluded or declared ``known_before_contact`` by the contract stops training
   with :class:`~training._leakage.LeakageError` (the run ends FAILED) unless
   ``allow_leaky``.
3. The minimum-data verdict: fewer than ``min_positives`` won rows in the training rows is
   logged as a warning, tagged ``trustworthy=false`` on the run and the registered version,
   and the comparison says "not yet trustworthy" instead of naming a winner.
4. Fits the model, the logistic baseline and the rule-score map on the training rows
   (:func:`training._flat_evaluation.fit_flat_scorers`) and measures every scorer on the same
   test rows; capacity is ``capacity`` or the top 10% of the test rows.
5. Logs parameters, the split in words, row counts, columns and rows left out with the
   reasons, metrics, the comparison (JSON and HTML), and registers the
   :class:`~models._flat_pyfunc.FlatScoringModel` as ``model_name`` with alias
   ``challenger``, and ``champion`` too when there is none yet.

The contract file, the data and the caller's objects are never modified.
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
from leadscore.features._contract import Contract, LeadsTable, load_contract
from leadscore.features._errors import ConfigError
from leadscore.features._flat import FlatData, FlatSplit, flat_split, load_flat
from leadscore.models._flat_model import FlatModelParams
from leadscore.models._flat_pyfunc import (
    FlatScoringBundle,
    FlatScoringModel,
    flat_model_input,
    flat_signature,
    save_flat_bundle,
)
from leadscore.training._flat_evaluation import (
    DEFAULT_MIN_POSITIVES,
    FlatScorers,
    fit_flat_scorers,
    flat_figures,
    minimum_data,
    score_rows,
)
from leadscore.training._flat_evaluation import default_capacity as capacity_for_test
from leadscore.training._flat_report import render_flat_html
from leadscore.training._leakage import (
    LeakageReport,
    Suspect,
    check_leakage,
    leakage_report,
    log_leakage,
)
from leadscore.training._registry import alias_version, set_champion
from leadscore.training._tracking import configure_tracking, ensure_experiment
from leadscore.training._train import _leadscore_version, _pip_requirements, dataset_digest
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

FLAT_MODEL_NAME = "lead-quality-flat"
FLAT_EXPERIMENT = "leadscore-flat"
"""How many of the guard's strongest columns get a metric each."""
Progress = Callable[[str], None]


@dataclass
class FlatTrainResult:
    """What a flat training run produced and measured."""

    run_id: str
    model_uri: str  # the exact version: models:/NAME/VERSION
    model_name: str
    model_version: str
    aliases: list[str]
    split: FlatSplit
    row_counts: dict[str, int]  # read, labelled, open, train, validation, test
    positives: dict[str, int]  # train, validation, test
    capacity: int
    metrics: dict[str, dict[str, float]]  # scorer -> metric -> value on the test rows
    trustworthy: bool
    verdict: str  # the headline sentence (says "not yet trustworthy" when it is not)
    figures: dict[str, Any]
    leakage: LeakageReport
    allowed_suspects: list[Suspect]  # suspects trained with anyway (allow_leaky)
    data_description: str
    tracking_uri: str
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def load_flat_contract(contract_path: str | Path) -> tuple[Contract, LeadsTable, FlatData]:
    """The contract, its ``leads`` section and the validated data (raises
    :class:`~features._errors.ConfigError` when the contract is not in flat mode)."""
    contract = load_contract(contract_path)
    spec = contract.flat
    return contract, spec, load_flat(contract)


def guard_training_rows(data: FlatData, train: pd.Index, *, seed: int = 0) -> LeakageReport:
    """The leakage guard's measurements on the training rows."""
    return leakage_report(
        data.frame.loc[train],
        data.label.loc[train].to_numpy(),
        data.features,
        seed=seed,
        known_before_contact=data.known_before_contact,
    )


def scoring_frame(
    spec: LeadsTable, frame: pd.DataFrame, ids: pd.Series, rule_score: pd.Series | None
) -> pd.DataFrame:
    """Rows as the pyfunc takes them: the contract's id column (when it has one), the
    feature columns, and the rule-score column (when it has one)."""
    out = frame.copy()
    if spec.id is not None:
        out.insert(0, spec.id, ids.to_numpy())
    if spec.rule_score is not None and rule_score is not None:
        out[spec.rule_score] = rule_score.to_numpy()
    return out


def rows_digest(rows: pd.Index) -> str:
    """A short hash of a set of row labels (which rows were the test set)."""
    return hashlib.sha256(",".join(map(str, rows)).encode()).hexdigest()[:16]


def data_digest(data: FlatData) -> str:
    """A short content hash of the labelled rows: features, labels and ids."""
    return dataset_digest(data.frame.assign(__label=data.label, __id=data.ids.astype(str)))


def train_flat(
    contract_path: str | Path,
    *,
    allow_leaky: bool = False,
    model_name: str = FLAT_MODEL_NAME,
    experiment: str = FLAT_EXPERIMENT,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    capacity: int | None = None,
    test_share: float = 0.2,
    validation_share: float = 0.2,
    seed: int = 0,
    params: FlatModelParams | None = None,
    bootstrap_reps: int = 500,
    progress: Progress | None = None,
) -> FlatTrainResult:
    """Train, guard, evaluate, log and register a flat-mode model (see the module docstring).

    Raises :class:`~features._validation.ContractViolations` for data problems,
    :class:`~training._leakage.LeakageError` when the guard stops training,
    :class:`~features._errors.ConfigError` for a bad contract or argument and
    :class:`~features._errors.ModelError` when the rows cannot train a model (e.g. no won
    row in a validation half).
    """
    say = progress or (lambda msg: log.info("%s", msg))  # warnings go to the log, not here
    started = time.perf_counter()
    if min_positives < 1:
        raise ConfigError(f"min_positives must be at least 1, got {min_positives!r}")
    contract, spec, data = load_flat_contract(contract_path)
    say(data.describe())
    split = flat_split(data, test_share, validation_share, seed=seed)
    say(f"split: {split.description}")
    labels = {
        "train": data.label.loc[split.train],
        "validation": data.label.loc[split.validation],
        "test": data.label.loc[split.test],
    }
    positives = {part: int(y.sum()) for part, y in labels.items()}
    row_counts = {
        "read": data.rows_read,
        "labelled": len(data.frame),
        "open": len(data.open_rows),
        **{part: len(y) for part, y in labels.items()},
    }
    say(f"leakage guard on the {len(split.train):,} training rows")
    report = guard_training_rows(data, split.train, seed=seed)
    say(report.format_table())
    minimum = minimum_data(positives["train"], min_positives)
    capacity_leads, capacity_source = capacity_for_test(len(split.test), capacity)

    uri = configure_tracking()
    experiment_id = ensure_experiment(experiment)
    say(f"logging to MLflow at {uri}")
    with mlflow.start_run(experiment_id=experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tag("leadscore.job", "train-flat")
        mlflow.set_tag("leadscore.split", split.description[:5000])
        mlflow.log_params(
            {
                "mode": "flat",
                "contract": str(contract.path),
                "table": data.table,
                "time": data.time.description,
                "split_by_time": split.by_time,
                "test_share": test_share,
                "validation_share": validation_share,
                "seed": seed,
                "min_positives": min_positives,
                "capacity": capacity_leads,
                "capacity_source": capacity_source,
                "allow_leaky": allow_leaky,
                "features": len(data.features),
                "excluded_columns": len(data.excluded),
                "dataset_digest": data_digest(data),
            }
        )
        mlflow.log_text(data.describe(), "data/description.txt")
        mlflow.log_text(split.description, "data/split.txt")
        mlflow.log_dict(
            {
                "features": data.features,
                "excluded_columns": [
                    {"column": e.column, "reason": e.reason} for e in data.excluded
                ],
                "excluded_rows": [
                    {"reason": e.reason, "count": e.count, "examples": [str(x) for x in e.examples]}
                    for e in data.excluded_rows
                ],
                "notes": data.notes,
            },
            "data/columns_and_rows.json",
        )
        mlflow.log_metrics({f"rows_{k}": float(v) for k, v in row_counts.items()})
        mlflow.log_metrics({f"positives_{k}": float(v) for k, v in positives.items()})
        mlflow.log_metric("rows_left_out", float(sum(e.count for e in data.excluded_rows)))
        mlflow.log_metric("excluded_columns", float(len(data.excluded)))

        allowed: list[Suspect] = []
        try:
            allowed = check_leakage(report, allow_leaky=allow_leaky)
        finally:
            log_leakage(report, allowed)
        if allowed:
            mlflow.set_tag("leakage.trained_with", ", ".join(s.column for s in allowed)[:5000])

        mlflow.set_tag("trustworthy", str(minimum.trustworthy).lower())
        mlflow.log_param("trustworthy", minimum.trustworthy)
        if not minimum.trustworthy:
            log.warning("%s", minimum.sentence)

        say(f"fitting LightGBM and the logistic baseline on {len(split.train):,} rows")
        scorers = fit_flat_scorers(data, split.train, split.validation, params)
        model = scorers.model
        if model.best_iteration_ <= 5:
            note = (
                f"early stopping kept {model.best_iteration_} tree(s): the validation rows are "
                "barely predictable from the training rows (drift between the periods?)"
            )
            log.warning("%s", note)
        scores = score_rows(data, scorers, split.test)
        test_probability = scores["model"][0]
        bundle = FlatScoringBundle(
            model=model,
            tier_thresholds=scorers.tier_thresholds,
            id_column=spec.id,
            rule_score_column=spec.rule_score,
        )
        meta = {
            "model_name": model_name,
            "contract": str(contract.path),
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "run_id": run.info.run_id,
            "notes": [],
        }
        figures = flat_figures(
            data, split, scores, tiers=bundle.tier(test_probability), capacity=capacity_leads,
            capacity_source=capacity_source, minimum=minimum, leakage=report, meta=meta,
            bootstrap_reps=bootstrap_reps, seed=seed,
        )  # fmt: skip
        metrics = {k: {n: (np.nan if v is None else v) for n, v in vals.items()}
                   for k, vals in figures["metrics"].items()}  # fmt: skip
        for scorer, values in metrics.items():
            mlflow.log_metrics(
                {f"test_{scorer}_{k}": float(v) for k, v in values.items() if np.isfinite(v)}
            )
        mlflow.log_params(
            {"best_iteration": model.best_iteration_,
             **{f"model.{k}": v for k, v in model.get_params().items()}}
        )  # fmt: skip
        mlflow.set_tag("leadscore.winner", figures["headline"]["winner"])
        for note in figures["meta"]["notes"]:
            log.warning("%s", note)
        mlflow.log_dict(figures, "evaluation/comparison.json")
        mlflow.log_text(render_flat_html(figures), "evaluation/comparison.html")
        mlflow.log_dict(
            {str(k): float(v) for k, v in model.feature_importance().items()},
            "evaluation/importance.json",
        )

        bundle.metadata.update(
            {
                "mode": "flat",
                "model_name": model_name,
                "contract": str(contract.path),
                "table": data.table,
                "features": dict(data.features),
                "split": split.description,
                "split_by_time": split.by_time,
                "test_share": test_share,
                "validation_share": validation_share,
                "seed": seed,
                "dataset_digest": data_digest(data),
                "test_rows_digest": rows_digest(split.test),
                "train_positives": positives["train"],
                "min_positives": min_positives,
                "trustworthy": minimum.trustworthy,
                "capacity": capacity_leads,
                "tier_thresholds": scorers.tier_thresholds,
                "best_iteration": model.best_iteration_,
                "trained_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
                "leadscore_version": _leadscore_version(),
                "test_metrics": figures["metrics"],
            }
        )
        bundle_path = save_flat_bundle(bundle, Path(tmp))
        example_rows = split.test[:5]
        example = flat_model_input(
            scoring_frame(
                spec,
                data.frame.loc[example_rows],
                data.ids.loc[example_rows],
                None if data.rule_score is None else data.rule_score.loc[example_rows],
            ),
            bundle,
        )
        say("logging and registering the model")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=FlatScoringModel(),
            artifacts={"bundle": str(bundle_path)},
            signature=flat_signature(bundle),
            input_example=example,
            pip_requirements=_pip_requirements(),
            registered_model_name=model_name,
            metadata={k: v for k, v in bundle.metadata.items() if k != "test_metrics"},
        )
        version = str(info.registered_model_version)
        client = MlflowClient()
        for key, value in (
            ("test_metrics", json.dumps(figures["metrics"])[:5000]),
            ("split", split.description[:5000]),
            ("trustworthy", str(minimum.trustworthy).lower()),
            ("mode", "flat"),
        ):
            client.set_model_version_tag(model_name, version, key, value)
        client.set_registered_model_alias(model_name, "challenger", version)
        aliases = ["challenger"]
        if alias_version(model_name, "champion") is None:
            set_champion(model_name, version)
            aliases.append("champion")
        mlflow.set_tag("leadscore.registered", f"{model_name}/{version} @{','.join(aliases)}")
        run_id = run.info.run_id
    seconds = time.perf_counter() - started
    say(f"registered {model_name} version {version} as @{', @'.join(aliases)} ({seconds:.0f} s)")
    return FlatTrainResult(
        run_id=run_id,
        model_uri=f"models:/{model_name}/{version}",
        model_name=model_name,
        model_version=version,
        aliases=aliases,
        split=split,
        row_counts=row_counts,
        positives=positives,
        capacity=capacity_leads,
        metrics=metrics,
        trustworthy=minimum.trustworthy,
        verdict=figures["headline"]["sentence"],
        figures=figures,
        leakage=report,
        allowed_suspects=allowed,
        data_description=data.describe(),
        tracking_uri=uri,
        seconds=seconds,
        extra={"best_iteration": model.best_iteration_, "scorers": _scorer_names(scorers)},
    )


def _scorer_names(scorers: FlatScorers) -> list[str]:
    return ["model", "baseline"] + (["rule_score"] if scorers.rule_map is not None else [])
