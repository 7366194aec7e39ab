"""Backtest: for each of the last N quarters, train on what was known before it, test on it.

Contract of :func:`backtest`: builds the labelled window once; for each test snapshot Q of
the last ``quarters`` labelled snapshots, fits both scorers on snapshots whose outcomes were
known by Q (:func:`training._splits.split_for_test`) and measures them on Q, on the same
rows. Returns one row per (quarter, scorer) with ROC AUC, PR AUC, Brier, log loss, expected
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
from leadscore.models import LeadModelParams
from leadscore.training._fitting import capacity_for, ceiling_for, fit_and_evaluate, labelled_window
from leadscore.training._splits import split_for_test
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
    horizon_days: int = 90
    rules_path: str | None = None
    capacity: int | None = None
    model_params: LeadModelParams = field(default_factory=LeadModelParams)
    experiment: str = "leadscore"

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
    with Warehouse(config.warehouse, read_only=True) as wh:
        say("validating warehouse tables and building point-in-time frames")
        window = labelled_window(wh, as_of=config.as_of, horizon_days=config.horizon_days)
        tests = window.snapshots[-config.quarters :]
        plans = []
        for q in tests:
            split = split_for_test(window.snapshots, q, config.horizon_days)
            capacity, _, source = capacity_for(
                wh, start=window.data_start, until=split.validation,
                horizon_days=config.horizon_days, given=config.capacity,
            )  # fmt: skip
            rows = window.frame[split.masks(window.frame["as_of"])[2]]
            plans.append((split, capacity, source, ceiling_for(wh, rows, config.horizon_days)))
    if len(tests) < config.quarters:
        say(f"only {len(tests)} labelled quarters available; backtesting those")
    configure_tracking()
    experiment_id = ensure_experiment(config.experiment)
    records = []
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"backtest-{len(tests)}q"
    ) as parent:
        mlflow.set_tag("leadscore.job", "backtest")
        mlflow.log_params(
            {"warehouse": config.warehouse, "quarters": len(tests),
             "horizon_days": config.horizon_days, "as_of": window.data_end.isoformat(),
             "rules_file": config.rules_path or "default_rules.yaml"}
        )  # fmt: skip
        for i, (split, capacity, source, ceiling) in enumerate(plans, start=1):
            say(
                f"quarter {i}/{len(plans)}: test {split.test:%Y-%m-%d}, train up to {split.validation:%Y-%m-%d}"
            )
            fitted = fit_and_evaluate(
                window.frame, split, rules_path=config.rules_path,
                model_params=config.model_params, capacity=capacity, ceiling=ceiling,
                progress=lambda _msg: None,
            )  # fmt: skip
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=f"quarter-{split.test:%Y-%m-%d}", nested=True
            ):
                mlflow.log_params({"test_snapshot": f"{split.test:%Y-%m-%d}",
                                   "validation_snapshot": f"{split.validation:%Y-%m-%d}",
                                   "capacity_source": source})  # fmt: skip
                for scorer, values in fitted.metrics.items():
                    mlflow.log_metrics({f"{scorer}_{k}": v for k, v in values.items() if v == v})
            for scorer, values in fitted.metrics.items():
                records.append(
                    {"quarter": f"{split.test:%Y-%m-%d}", "scorer": scorer,
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


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and (sample) standard deviation of each metric per scorer over quarters."""
    metrics = [m for m in BACKTEST_METRICS if m not in ("rows", "capacity")]
    grouped = table.groupby("scorer", sort=False)[metrics]
    mean = grouped.mean().add_suffix("_mean")
    std = grouped.std(ddof=1).add_suffix("_std")
    return pd.concat([mean, std], axis=1)
