"""``leadscore compare`` in flat mode: a registered flat model against the contract's rule
score (or the logistic baseline when the contract has none) on the test rows, as a report.

Contract of :func:`compare_flat`: loads the model's bundle from the registry, reads and
splits the contract's data exactly as training did (the test and validation shares and the
seed come from the model's metadata), refits the references (baseline, rule-score map) and
reruns the leakage guard on the training rows (both deterministic), and computes every
figure (:func:`training._flat_evaluation.flat_figures`). It writes ``report_path`` (a
self-contained HTML page, written atomically) and the same figures as JSON beside it
(``report_path`` with suffix ``.json``), and logs both to an MLflow run. When the data
differ from the data the model was trained on, the report says so at the top: the test rows
may then include rows the model was fitted on, and the comparison is not out of sample.
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
import mlflow.pyfunc
from leadscore.features._errors import ConfigError
from leadscore.features._flat import flat_split
from leadscore.models._flat_pyfunc import FlatScoringBundle, FlatScoringModel
from leadscore.training._flat_evaluation import (
    DEFAULT_MIN_POSITIVES,
    FlatScorers,
    default_capacity,
    fit_references,
    flat_figures,
    minimum_data,
    score_rows,
)
from leadscore.training._flat_output import write_atomically
from leadscore.training._flat_report import render_flat_html
from leadscore.training._flat_train import (
    FLAT_EXPERIMENT,
    FLAT_MODEL_NAME,
    data_digest,
    guard_training_rows,
    load_flat_contract,
    rows_digest,
)
from leadscore.training._registry import resolve_model
from leadscore.training._tracking import configure_tracking, ensure_experiment
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel

log = logging.getLogger(__name__)

DEFAULT_FLAT_MODEL_URI = f"models:/{FLAT_MODEL_NAME}@champion"


@dataclass(frozen=True)
class FlatCompareResult:
    """The figures and where they were written."""

    figures: dict[str, Any]
    html_path: Path
    json_path: Path
    run_id: str


def load_flat_pyfunc(model_uri: str) -> tuple[PyFuncModel, FlatScoringBundle]:
    """The pyfunc of a registered flat model and the :class:`FlatScoringBundle` inside it
    (tracking must be configured); a :class:`ConfigError` when the URI is unknown or not a
    flat model."""
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        raise ConfigError(
            f"cannot load model {model_uri!r} from {mlflow.get_tracking_uri()}: {exc.message}"
        ) from exc
    python_model = model.unwrap_python_model()
    if not isinstance(python_model, FlatScoringModel):
        raise ConfigError(
            f"model {model_uri!r} is a {type(python_model).__name__}, not a flat-mode model "
            "(FlatScoringModel); train one with a flat contract"
        )
    return model, python_model.bundle


def load_flat_bundle(model_uri: str) -> FlatScoringBundle:
    """The :class:`FlatScoringBundle` inside a registered flat model (see
    :func:`load_flat_pyfunc`)."""
    return load_flat_pyfunc(model_uri)[1]


def compare_flat(
    contract_path: str | Path,
    model_uri: str = DEFAULT_FLAT_MODEL_URI,
    report_path: str | Path = "flat-comparison.html",
    *,
    capacity: int | None = None,
    bootstrap_reps: int = 500,
    experiment: str = FLAT_EXPERIMENT,
    progress: Callable[[str], None] | None = None,
) -> FlatCompareResult:
    """Compare and write the report (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    configure_tracking()
    name, version = resolve_model(model_uri)
    bundle = load_flat_bundle(model_uri)
    meta_in = bundle.metadata
    contract, _, data = load_flat_contract(contract_path)
    split = flat_split(
        data,
        float(meta_in.get("test_share", 0.2)),
        float(meta_in.get("validation_share", 0.2)),
        seed=int(meta_in.get("seed", 0)),
    )
    notes = []
    if meta_in.get("dataset_digest") not in (None, data_digest(data)) or meta_in.get(
        "test_rows_digest"
    ) not in (None, rows_digest(split.test)):
        notes.append(
            f"Warning: the data differ from the data model version {version} was trained on, "
            "so some test rows may be rows the model was fitted on: this comparison is NOT "
            "certainly out of sample. Train again on these data to compare fairly."
        )
    missing = [c for c in bundle.model.features if c not in data.features]
    if missing:
        notes.append(
            f"Warning: model features {missing} are not features of these data; they are "
            "scored as missing."
        )
    say(f"split: {split.description}")
    report = guard_training_rows(data, split.train, seed=int(meta_in.get("seed", 0)))
    baseline, rule_map = fit_references(data, split.train)
    scorers = FlatScorers(bundle.model, baseline, rule_map, bundle.tier_thresholds)
    scores = score_rows(data, scorers, split.test)
    min_positives = int(meta_in.get("min_positives", DEFAULT_MIN_POSITIVES))
    minimum = minimum_data(int(data.label.loc[split.train].sum()), min_positives)
    capacity_leads, capacity_source = default_capacity(len(split.test), capacity)
    meta = {
        "model_uri": model_uri,
        "model_name": name,
        "model_version": version,
        "contract": str(contract.path),
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "notes": notes,
    }
    say(f"computing the comparison on {len(split.test):,} test rows")
    figures = flat_figures(
        data, split, scores, tiers=bundle.tier(scores["model"][0]), capacity=capacity_leads,
        capacity_source=capacity_source, minimum=minimum, leakage=report, meta=meta,
        bootstrap_reps=bootstrap_reps, seed=int(meta_in.get("seed", 0)),
    )  # fmt: skip
    html_path = Path(report_path)
    json_path = html_path.with_suffix(".json")
    write_atomically(html_path, lambda p: p.write_text(render_flat_html(figures), "utf-8"))
    write_atomically(json_path, lambda p: p.write_text(json.dumps(figures, indent=2), "utf-8"))
    experiment_id = ensure_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name="compare-flat") as run:
        mlflow.set_tag("leadscore.job", "compare-flat")
        mlflow.set_tag("leadscore.winner", figures["headline"]["winner"])
        mlflow.set_tag("trustworthy", str(minimum.trustworthy).lower())
        mlflow.log_params({"model_uri": model_uri, "model_version": version,
                           "contract": str(contract.path), "capacity": capacity_leads})  # fmt: skip
        for scorer, values in figures["metrics"].items():
            mlflow.log_metrics(
                {f"{scorer}_{k}": float(v) for k, v in values.items() if v is not None}
            )
        mlflow.log_artifact(str(html_path), "comparison")
        mlflow.log_artifact(str(json_path), "comparison")
        run_id = run.info.run_id
    return FlatCompareResult(figures, html_path, json_path, run_id)
