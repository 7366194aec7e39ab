"""Backtest: for each of the last N periods, fit on what was known before it, test on it.

Contract: :func:`plan_folds` lays out the folds of a labelled window: at the pipeline
decision, each test snapshot Q of the last ``folds`` labelled snapshots is fitted on
snapshots whose outcomes were known by Q (:func:`training._splits.split_for_test`); at the
handoff, the folds are the latest blocks of leads by decision time
(:func:`training._splits.rolling_splits`; undated data: stratified random splits with
different seeds). With ``before_test`` the folds use only the rows before the window's own
test period (the tournament of :func:`training._train.train`: the family is chosen without
reading the rows it is then measured on). :func:`run_folds` runs *the training procedure
itself* in every fold (:func:`training._fitting.fit_and_evaluate`: every model family
selected on the fold's latest window, refitted on every row before its test period and
calibrated by cross-fitting; the rules; the existing score) and keeps each fold's test
labels and scores, so differences between scorers get intervals.

:func:`backtest` (``leadscore backtest``) replays the latest periods of the whole data and
returns one row per (period, scorer) with ROC AUC, PR AUC, Brier, log loss, expected
calibration error, conversions captured at capacity and lift in the top decile, their mean
and standard deviation over periods, and the tournament's verdict on the same folds. It is
logged to MLflow as a parent run with one child run per period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import mlflow
import numpy as np
import pandas as pd
from leadscore.features import ConfigError, Warehouse
from leadscore.features._contract import Contract, default_contract
from leadscore.features._spec import FeatureSpec, spec_for
from leadscore.models import LeadModelParams
from leadscore.training._fitting import (
    Fitted,
    LabelledWindow,
    Split,
    capacity_for,
    ceiling_for,
    fit_and_evaluate,
    labelled_data,
    rows_at,
)
from leadscore.training._promotion import PromotionGate
from leadscore.training._refit import FAMILIES
from leadscore.training._sampling import NegativeSampling
from leadscore.training._splits import (
    TimeSplit,
    rolling_splits,
    split_for_test,
    test_period_words,
)
from leadscore.training._tournament import Tournament, decide
from leadscore.training._tracking import configure_tracking, ensure_experiment, start_run

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
    """Which periods to replay and how."""

    warehouse: str
    quarters: int = 4  # how many of the latest periods (quarters, or blocks of leads)
    as_of: datetime | None = None
    horizon_days: int | None = None  # default: the contract's
    rules_path: str | None = None
    capacity: float | None = None  # leads per week; default from data
    model_params: LeadModelParams = field(default_factory=LeadModelParams)
    experiment: str = "leadscore"
    contract: Contract | None = None  # default: the packaged demo contract
    families: tuple[str, ...] = FAMILIES
    gate: PromotionGate = field(default_factory=PromotionGate)
    sampling: NegativeSampling = field(default_factory=NegativeSampling)

    def __post_init__(self) -> None:
        if self.quarters <= 0:
            raise ConfigError(f"quarters must be positive, got {self.quarters!r}")
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(f"families must be among {list(FAMILIES)}, got {list(self.families)}")


@dataclass(frozen=True)
class FoldPlan:
    """One fold: its split, what its test period is called, and the capacity in it."""

    label: str
    split: Split
    capacity: int
    capacity_source: str
    ceiling: np.ndarray | None = None


@dataclass
class FoldResult:
    """A fold's plan and everything fitted and measured in it."""

    plan: FoldPlan
    fitted: Fitted


@dataclass
class BacktestResult:
    """Per-period metrics (long format), their summary over periods, and the verdict."""

    table: pd.DataFrame  # columns: quarter, scorer, *BACKTEST_METRICS
    summary: pd.DataFrame  # index: scorer; columns: metric_mean, metric_std
    run_id: str
    tournament: Tournament | None = None


def before_test(window: LabelledWindow) -> pd.DataFrame:
    """The rows of ``window`` before its own test period (random splits: the rows not in
    its test split), in their order."""
    test = window.masks()[2].to_numpy()
    return rows_at(window.frame, np.flatnonzero(~test))  # (a slice in snapshot order)


def plan_folds(
    wh: Warehouse, window: LabelledWindow, spec: FeatureSpec, *, folds: int, horizon_days: int,
    capacity_per_week: float | None, pre_test: bool,
) -> tuple[pd.DataFrame, list[FoldPlan]]:  # fmt: skip
    """The frame the folds index and the folds (see the module docstring); fewer folds than
    asked when the history is short (none at all when it is too short)."""
    # The snapshot folds read only snapshots before the test period (by ``as_of``), so at
    # the pipeline decision they index the window's own frame: no copy of its rows.
    frame = before_test(window) if pre_test and spec.decision != "pipeline" else window.frame
    splits: list[Split] = []
    if spec.decision == "pipeline":
        final = window.split
        assert isinstance(final, TimeSplit)
        snapshots = [s for s in window.snapshots if not pre_test or s < final.test]
        for q in snapshots[-folds:]:
            try:
                splits.append(split_for_test(snapshots, q, horizon_days))
            except ConfigError:
                continue  # too little history before this quarter
    else:
        try:
            splits = list(rolling_splits(frame, folds, dated=spec.has_time,
                                         horizon_days=horizon_days,
                                         gap=spec.label_from == "outcomes",
                                         order_only=spec.time_is_order))  # fmt: skip
        except ConfigError:
            splits = []
    end = window.split.test if pre_test else window.data_end
    plans = []
    for i, split in enumerate(splits, start=1):
        fold_end = getattr(split, "test_end", None) or end
        fold = LabelledWindow(frame, split, window.data_start, fold_end, window.censored_rows,
                              window.report, window.snapshots)  # fmt: skip
        capacity = capacity_for(wh, fold, spec, horizon_days=horizon_days,
                                per_week=capacity_per_week)  # fmt: skip
        rows = frame[split.masks_frame(frame)[2]]
        ceiling = ceiling_for(wh, rows, horizon_days, spec.decision)
        plans.append(FoldPlan(test_period_words(split, frame, i), split, capacity.leads,
                              capacity.source, ceiling))  # fmt: skip
    return frame, plans


def run_folds(
    frame: pd.DataFrame, plans: Sequence[FoldPlan], spec: FeatureSpec, *, rules_path: str | None,
    model_params: LeadModelParams, families: Sequence[str] = FAMILIES,
    sampling: NegativeSampling | None = None, progress: Callable[[str], None] | None = None,
    scores_only: bool = False,
) -> list[FoldResult]:  # fmt: skip
    """The training procedure in every fold (see the module docstring).
    ``scores_only=True`` (the tournament of :func:`training._train.train`, which reads only
    the folds' test metrics and scores) skips what no decision reads: the logistic family's
    selection figure (a model fit per fold) and the tier thresholds
    (:func:`training._fitting.fit_and_evaluate`); the test scores are the same either way."""
    say = progress or (lambda msg: log.info("%s", msg))
    results = []
    for i, plan in enumerate(plans, start=1):
        say(f"backtest fold {i}/{len(plans)}: test {plan.label}; {plan.split.description}")
        fitted = fit_and_evaluate(
            frame, plan.split, spec, rules_path=rules_path, model_params=model_params,
            capacity=plan.capacity, ceiling=plan.ceiling, families=families,
            sampling=sampling, progress=lambda _msg: None, scores_only=scores_only,
        )  # fmt: skip
        results.append(FoldResult(plan, fitted))
    return results


def folds_table(results: Sequence[FoldResult]) -> pd.DataFrame:
    """One row per (fold, scorer): the fold's test period and :data:`BACKTEST_METRICS`."""
    records = [
        {"quarter": r.plan.label, "scorer": scorer,
         **{m: values.get(m, float("nan")) for m in BACKTEST_METRICS}}
        for r in results for scorer, values in r.fitted.metrics.items()
    ]  # fmt: skip
    return pd.DataFrame.from_records(records, columns=["quarter", "scorer", *BACKTEST_METRICS])


def summary_of(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and (sample) standard deviation of each metric per scorer over periods."""
    metrics = [m for m in BACKTEST_METRICS if m not in ("rows", "capacity")]
    grouped = table.groupby("scorer", sort=False)[metrics]
    mean = grouped.mean().add_suffix("_mean")
    std = grouped.std(ddof=1).add_suffix("_std")
    return pd.concat([mean, std], axis=1)


def backtest(
    config: BacktestConfig, *, progress: Callable[[str], None] | None = None
) -> BacktestResult:
    """Replay the last N periods (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    contract = config.contract or default_contract()
    horizon = config.horizon_days or contract.label.horizon_days
    with Warehouse(config.warehouse, read_only=True) as wh:
        spec = spec_for(contract, wh)
        say(f"validating and building point-in-time rows at the {spec.decision} decision")
        window = labelled_data(wh, spec, as_of=config.as_of, horizon_days=horizon)
        frame, plans = plan_folds(wh, window, spec, folds=config.quarters, horizon_days=horizon,
                                  capacity_per_week=config.capacity, pre_test=False)  # fmt: skip
    if not plans:
        raise ConfigError("too little history to backtest: each period needs earlier periods "
                          "to fit on and to choose on")  # fmt: skip
    if len(plans) < config.quarters:
        say(f"only {len(plans)} periods can be backtested; backtesting those")
    results = run_folds(frame, plans, spec, rules_path=config.rules_path,
                        model_params=config.model_params, families=config.families,
                        sampling=config.sampling, progress=say)  # fmt: skip
    table = folds_table(results)
    summary = summary_of(table)
    tournament = decide(results, where=f"{len(results)} backtest periods",
                        tolerance=config.gate.backtest_tolerance, families=config.families)  # fmt: skip
    configure_tracking()
    experiment_id = ensure_experiment(config.experiment)
    with start_run(experiment_id, run_name=f"backtest-{len(plans)}") as parent:
        mlflow.set_tag("leadscore.job", "backtest")
        mlflow.log_params(
            {"warehouse": config.warehouse, "quarters": len(plans), "decision": spec.decision,
             "horizon_days": horizon,
             "as_of": window.data_end.isoformat() if window.data_end else "no time",
             "rules_file": config.rules_path or "default_rules.yaml"}
        )  # fmt: skip
        for result in results:
            with start_run(experiment_id, run_name=f"fold-{result.plan.label}", nested=True):
                mlflow.log_params({"test": result.plan.label,
                                   "split": result.plan.split.description[:500],
                                   "capacity_source": result.plan.capacity_source[:500]})  # fmt: skip
                for scorer, values in result.fitted.metrics.items():
                    mlflow.log_metrics({f"{scorer}_{k}": v for k, v in values.items() if v == v})
                mlflow.log_dict({f: final.to_dict() for f, final in
                                 result.fitted.families.items()}, "backtest/refit.json")  # fmt: skip
        for scorer_name, row in summary.iterrows():
            mlflow.log_metrics({f"{scorer_name}_{k}": float(v) for k, v in row.items() if v == v})
        mlflow.log_dict(
            {"quarters": table.to_dict(orient="records"),
             "summary": summary.reset_index().to_dict(orient="records"),
             "tournament": tournament.to_dict()},
            "backtest/backtest.json",
        )  # fmt: skip
        mlflow.set_tag("leadscore.supported", tournament.supported)
        run_id = parent.info.run_id
    return BacktestResult(table, summary, run_id, tournament)
