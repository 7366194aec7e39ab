"""``leadscore compare``: the registered models vs the rules on later leads, as one report.

Contract of :func:`compare`: for each model (one per decision; at most one at each), loads
it (its bundle carries both scorers), builds its labelled rows of the latest period whose
outcomes are known by ``as_of`` (:func:`training._fitting.evaluation_rows`) and computes its
section:

- a model trained at the ``handoff`` decision fills the ``handoff`` section
  (:func:`training._handoff_compare.handoff_figures`): new leads of the test period, each
  at its own handoff, each week's top K per scorer, selective labels;
- a model trained at the ``pipeline`` decision fills the ``pipeline`` section
  (:func:`training._compare.comparison_figures`): open leads at the period's start, with the
  model's top features that read sales' own actions named.

A section without a model holds ``{"missing": <why, and how to train one>}``. The report
(self-contained HTML, handoff first) and the same figures as JSON beside it (``report``
with suffix ``.json``) are written and logged to MLflow with each section's metrics (drift
as a PSI metric per feature). A section whose model was trained or validated on its rows
says so in its notes: such a comparison is not out of sample.
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
from leadscore.training._fitting import ceiling_for, evaluation_rows
from leadscore.training._handoff_compare import handoff_figures, worked_flags
from leadscore.training._leakage import metric_key
from leadscore.training._registry import load_bundle, resolve_model
from leadscore.training._report import SECTION_TITLES, render_html
from leadscore.training._tracking import configure_tracking, ensure_experiment, start_run

log = logging.getLogger(__name__)
DECISIONS: tuple[str, ...] = tuple(SECTION_TITLES)  # the report's order: handoff first


@dataclass(frozen=True)
class CompareConfig:
    """Which models (at most one per decision), on which data, at which capacity, and
    where the report goes. ``missing`` says, per decision without a model, why."""

    warehouse: str
    report: Path
    model_uri: str = "models:/lead-quality@champion"  # the CLI passes the contract's champion
    other_model_uri: str | None = None  # a model at the other decision (the CLI: its sibling)
    as_of: datetime | None = None
    capacity_per_week: float | None = None
    bootstrap_reps: int = 500
    experiment: str = "leadscore"
    contract_name: str = ""
    missing: tuple[tuple[str, str], ...] = ()

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

    def sections(self) -> list[tuple[str, dict[str, Any]]]:
        """The sections that were compared, in the report's order."""
        return [(k, self.figures[k]) for k in DECISIONS if "missing" not in self.figures[k]]


def _section(wh: Warehouse, uri: str, config: CompareConfig,
             say: Callable[[str], None]) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """One model's decision and its section's figures."""
    name, version = resolve_model(uri)
    bundle = load_bundle(uri)
    spec = bundle.spec
    horizon = int(bundle.metadata.get("horizon_days", spec.horizon_days))
    say(f"{name} v{version}: validating and building the comparison rows ({spec.decision} "
        "decision)")  # fmt: skip
    judged = evaluation_rows(wh, spec, as_of=config.as_of, horizon_days=horizon,
                             capacity_per_week=config.capacity_per_week)  # fmt: skip
    rows, period = judged.rows, judged.period
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
    meta = {"model_uri": uri, "model_name": name, "model_version": version,
            "model_family": bundle.lead_model.family, "decision": spec.decision,
            "snapshot": period, "capacity_source": judged.capacity.source,
            "notes": notes}  # fmt: skip
    weekly = judged.capacity.per_week
    say(f"computing the {spec.decision} comparison on {len(rows):,} leads "
        f"({config.bootstrap_reps} bootstrap resamples)")  # fmt: skip
    if spec.decision == "handoff" and spec.has_time and weekly:
        owned = spec.events.sales_owned if spec.events is not None else ()
        worked, active = worked_flags(wh, rows["contact_id"], owned, config.as_of)
        figures = handoff_figures(
            bundle, rows, worked, per_week=max(1, round(weekly)), has_sales_activity=active,
            horizon_days=horizon, ceiling=ceiling_for(wh, rows, horizon, "handoff"),
            meta=meta, bootstrap_reps=config.bootstrap_reps,
        )  # fmt: skip
    else:
        figures = comparison_figures(
            bundle, rows, capacity_per_week=weekly, horizon_days=horizon, meta=meta,
            bootstrap_reps=config.bootstrap_reps, capacity=judged.capacity.leads,
        )  # fmt: skip
    return spec.decision, figures


def compare(
    config: CompareConfig, *, progress: Callable[[str], None] | None = None
) -> CompareResult:
    """Run the comparison (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    configure_tracking()
    uris = [u for u in (config.model_uri, config.other_model_uri) if u]
    why = dict(config.missing)
    figures: dict[str, Any] = {"meta": {
        "warehouse": config.warehouse, "contract": config.contract_name,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "notes": []}}  # fmt: skip
    for kind in DECISIONS:
        figures[kind] = {"missing": why.get(kind, "No model at this decision was given.")}
    filled: dict[str, str] = {}
    with Warehouse(config.warehouse, read_only=True) as wh:
        for uri in uris:
            decision, section = _section(wh, uri, config, say)
            if decision in filled:
                raise ConfigError(f"{filled[decision]} and {uri} were both trained at the "
                                  f"{decision} decision: give one model per decision")  # fmt: skip
            filled[decision] = uri
            figures[decision] = section
    first = next(k for k in DECISIONS if k in filled)
    figures["meta"]["headline_section"] = first
    html_path = config.report
    json_path = html_path.with_suffix(".json")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(figures), encoding="utf-8")
    json_path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    experiment_id = ensure_experiment(config.experiment)
    with start_run(experiment_id, run_name=f"compare-{figures[first]['meta']['snapshot']}") as run:
        mlflow.set_tag("leadscore.job", "compare")
        mlflow.set_tag("leadscore.winner", figures[first]["headline"]["winner"])
        for kind in filled:
            section = figures[kind]
            head = section["headline"]
            mlflow.set_tag(f"leadscore.winner.{kind}", head["winner"])
            mlflow.log_params({f"{kind}_model_uri": filled[kind],
                               f"{kind}_model_version": section["meta"]["model_version"],
                               f"{kind}_period": section["meta"]["snapshot"]})  # fmt: skip
            for scorer, values in section["metrics"].items():
                mlflow.log_metrics({f"{kind}_{scorer}_{k}": v for k, v in values.items()
                                    if isinstance(v, float | int) and v == v})  # fmt: skip
            mlflow.log_metrics({f"{kind}_{k}": float(head[k])
                                for k in ("difference", "ci_low", "ci_high") if head[k] == head[k]})  # fmt: skip
            auc = head["roc_auc_difference"]
            mlflow.log_metrics({f"{kind}_roc_auc_difference_{k}": float(auc[k]) for k in
                                ("difference", "low", "high") if auc[k] == auc[k]})  # fmt: skip
            mlflow.log_dict(section["drift"], f"comparison/{kind}_drift.json")
            for row in section["drift"]["features"]:
                mlflow.log_metric(metric_key(f"{kind}_drift_psi", row["feature"]), row["psi"])
        mlflow.log_artifact(str(html_path), "comparison")
        mlflow.log_artifact(str(json_path), "comparison")
        run_id = run.info.run_id
    return CompareResult(figures, html_path, json_path, run_id)
