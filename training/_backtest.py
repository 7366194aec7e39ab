"""Backtest: for each of the last N periods, train on what was known before it, test on it.

Contract of :func:`backtest`: builds the labelled data once; at the pipeline decision, for
each test snapshot Q of the last ``quarters`` labelled snapshots, fits every scorer on
snapshots whose outcomes were known by Q (:func:`training._splits.split_for_test`) and
measures them on Q, on the same rows; at the handoff, the folds are the latest blocks of
leads by decision time (:func:`training._splits.rolling_splits`; undated data: stratified
random splits with different seeds). Returns one row per (quarter, scorer) with ROC AUC, PR AUC, Brier, log loss, expected
calibration error, conversions captured at capacity and lift in the top decile, plus the
mean and standard deviation over quarters. Logged to MLflow as a parent run with one child
run per quarter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import mlflow
import pandas as pd
from leadscore.features import ConfigError, Warehouse
from leadscore.features._contract import Contract, default_contract
from leadscore.features._spec import spec_for
from leadscore.models import LeadModelParams
from leadscore.training._fitting import (
    LabelledWindow,
    capacity_for,
    ceiling_for,
    fit_and_evaluate,
    labelled_data,
)
from leadscore.training._splits import RowSplit, TimeSplit, rolling_splits, split_for_test
from leadscore.training._tracking import configure_tracking, ensure_experiment

log = logging.getLogger(__name__)

BACKTEST_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "captured_at_capacity",
    "share_captured_at_capacity",
    "lift_top_decile",
    "positives",
    "rows",
    "capacity",
)


@dataclass(frozen=True)
class BacktestConfig:
    """Which quarters to replay and how."""

    warehouse: str
    quarters: int = 4
    as_of: datetime | None = None
    horizon_days: int | None = None  # default: the contract's
    rules_path: str | None = None
    capacity: float | None = None  # leads per week; default from data
    model_params: LeadModelParams = field(default_factory=LeadModelParams)
    experiment: str = "leadscore"
    contract: Contract | None = None  # default: the packaged demo contract

    def __post_init__(self) -> None:
        if self.quarters <= 0:
            raise ConfigError(f"quarters must be positive, got {self.quarters!r}")


@dataclass
class BacktestResult:
    """Per-quarter metrics (long format) and their summary over quarters."""

    table: pd.DataFrame  # columns: quarter, scorer, *BACKTEST_METRICS
    summary: pd.DataFrame  # index: scorer; columns: metric_mean, metric_std
    run_id: str


def backtest(
    config: BacktestConfig, *, progress: Callable[[str], None] | None = None
) -> BacktestResult:
    """Replay the last N quarters (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    contract = config.contract or default_contract()
    horizon = config.horizon_days or contract.label.horizon_days
    with Warehouse(config.warehouse, read_only=True) as wh:
        spec = spec_for(contract, wh)
        say(f"validating and building point-in-time rows at the {spec.decision} decision")
        window = labelled_data(wh, spec, as_of=config.as_of, horizon_days=horizon)
        splits: list[TimeSplit] | list[RowSplit]
        if spec.decision == "pipeline":
            tests = window.snapshots[-config.quarters :]
            splits = [split_for_test(window.snapshots, q, horizon) for q in tests]
        else:
            splits = rolling_splits(window.frame, config.quarters, dated=spec.has_time,
                                    horizon_days=horizon, gap=spec.label_from == "outcomes",
                                    order_only=spec.time_is_order)  # fmt: skip
        plans = []
        for split in splits:
            fold = LabelledWindow(window.frame, split, window.data_start, window.data_end,
                                  window.censored_rows, window.report, window.snapshots)  # fmt: skip
            fold_capacity = capacity_for(wh, fold, spec, horizon_days=horizon,
                                         per_week=config.capacity)  # fmt: skip
            rows = window.frame[split.masks_frame(window.frame)[2]]
            ceiling = ceiling_for(wh, rows, horizon) if spec.decision == "pipeline" else None
            plans.append((split, fold_capacity.leads, fold_capacity.source, ceiling))
    if len(plans) < config.quarters:
        say(f"only {len(plans)} periods can be backtested; backtesting those")
    configure_tracking()
    experiment_id = ensure_experiment(config.experiment)
    records = []
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"backtest-{len(plans)}"
    ) as parent:
        mlflow.set_tag("leadscore.job", "backtest")
        mlflow.log_params(
            {"warehouse": config.warehouse, "quarters": len(plans), "decision": spec.decision,
             "horizon_days": horizon,
             "as_of": window.data_end.isoformat() if window.data_end else "no time",
             "rules_file": config.rules_path or "default_rules.yaml"}
        )  # fmt: skip
        for i, (split, capacity, source, ceiling) in enumerate(plans, start=1):
            label = _fold_label(split, i)
            say(f"fold {i}/{len(plans)}: {split.description}")
            fitted = fit_and_evaluate(
                window.frame, split, spec, rules_path=config.rules_path,
                model_params=config.model_params, capacity=capacity, ceiling=ceiling,
                progress=lambda _msg: None,
            )  # fmt: skip
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=f"fold-{label}", nested=True
            ):
                mlflow.log_params({"test": label, "split": split.description[:500],
                                   "capacity_source": source[:500]})  # fmt: skip
                for scorer, values in fitted.metrics.items():
                    mlflow.log_metrics({f"{scorer}_{k}": v for k, v in values.items() if v == v})
            for scorer, values in fitted.metrics.items():
                records.append(
                    {"quarter": label, "scorer": scorer,
                     **{m: values.get(m, float("nan")) for m in BACKTEST_METRICS}}
                )  # fmt: skip
        table = pd.DataFrame.from_records(records)
        summary = _summary(table)
        for scorer_name, row in summary.iterrows():
            mlflow.log_metrics({f"{scorer_name}_{k}": float(v) for k, v in row.items() if v == v})
        mlflow.log_dict(
            {"quarters": table.to_dict(orient="records"),
             "summary": summary.reset_index().to_dict(orient="records")},
            "backtest/backtest.json",
        )  # fmt: skip
        run_id = parent.info.run_id
    return BacktestResult(table, summary, run_id)


def _fold_label(split: object, i: int) -> str:
    """A fold's name: its test period's start, or its number for random splits."""
    start = getattr(split, "test", None)
    return f"{start:%Y-%m-%d}" if start is not None else f"random-{i}"


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and (sample) standard deviation of each metric per scorer over quarters."""
    metrics = [m for m in BACKTEST_METRICS if m not in ("rows", "capacity")]
    grouped = table.groupby("scorer", sort=False)[metrics]
    mean = grouped.mean().add_suffix("_mean")
    std = grouped.std(ddof=1).add_suffix("_std")
    return pd.concat([mean, std], axis=1)
