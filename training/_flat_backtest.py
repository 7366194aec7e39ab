"""``leadscore backtest`` in flat mode: how the model would have done, fold after fold.

Contract of :func:`backtest_flat`:

- With a time column (``created_at`` or ``order_by``) it is a rolling-origin backtest: rows
  are sorted by time and cut into blocks of ``block_share`` of the rows (10%, rounded up);
  fold ``i`` of ``folds`` tests on one of the last ``folds`` blocks (oldest first, the last
  fold on the latest block), validates (early stopping and calibration) on the block just
  before it, and trains on every row before that. Later folds train on more history, as a
  team retraining over time would.
- Without one it is a stratified ``folds``-fold cross-validation (shuffled with ``seed``):
  each fold tests on one part and trains on the rest, less a stratified ``validation``
  quarter of it for early stopping and calibration; the description says, in words, that
  the test rows are not later than the training rows.
- The leakage guard runs on the first fold's training rows and stops the backtest as it
  stops training (:class:`~training._leakage.LeakageError`) unless ``allow_leaky``.
- Each fold fits the model, the logistic baseline and the rule-score map on its training rows
  only and measures every scorer on its test rows at the same capacity (``capacity_share``
  of the fold's test rows); a fold with fewer than ``min_positives`` won training rows is
  marked ``trustworthy = False``. Returns one row per (fold, scorer) and the mean and sample
  standard deviation of each metric per scorer; logs a parent MLflow run with a child run
  per fold.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from leadscore.features._errors import ConfigError, DataValidationError
from leadscore.features._flat import FlatData, describe_span
from leadscore.models._flat_model import FlatModelParams
from leadscore.training._backtest import BACKTEST_METRICS
from leadscore.training._flat_evaluation import (
    DEFAULT_CAPACITY_SHARE,
    DEFAULT_MIN_POSITIVES,
    fit_flat_scorers,
    measure,
    score_rows,
)
from leadscore.training._flat_train import FLAT_EXPERIMENT, guard_training_rows, load_flat_contract
from leadscore.training._leakage import check_leakage
from leadscore.training._tracking import configure_tracking, ensure_experiment
from sklearn.model_selection import StratifiedKFold, train_test_split

log = logging.getLogger(__name__)

# the same figures as the tables-mode backtest
FLAT_BACKTEST_METRICS: tuple[str, ...] = BACKTEST_METRICS


@dataclass(frozen=True)
class FlatFold:
    """The rows of one fold and where they sit, in words."""

    number: int
    train: pd.Index
    validation: pd.Index
    test: pd.Index
    description: str


@dataclass
class FlatBacktestResult:
    """Per-fold metrics (long format), their summary, and how the folds were made."""

    table: pd.DataFrame  # columns: fold, test_rows, trustworthy, train_positives, scorer, *metrics
    summary: pd.DataFrame  # index: scorer; columns: <metric>_mean, <metric>_std
    description: str
    folds: list[FlatFold]
    by_time: bool
    run_id: str


def flat_folds(
    data: FlatData, folds: int = 4, *, block_share: float = 0.1, seed: int = 0
) -> tuple[list[FlatFold], str]:
    """The folds of the backtest and its description in words (see the module docstring)."""
    if folds < 2 and data.order is None:
        raise ConfigError(f"folds must be at least 2 without a time column, got {folds!r}")
    if folds < 1:
        raise ConfigError(f"folds must be positive, got {folds!r}")
    n = len(data.frame)
    if data.order is not None:
        if not 0 < block_share < 1:
            raise ConfigError(f"block_share must be between 0 and 1, got {block_share!r}")
        block = math.ceil(block_share * n)
        first_train = n - (folds + 1) * block
        if first_train <= 0:
            raise ConfigError(
                f"{folds} folds of {block_share:.0%} blocks plus a validation block leave no "
                f"rows to train on ({n} rows); use fewer folds or a smaller block_share"
            )
        order = data.order.sort_index()
        ranked = order.sort_values(kind="stable").index
        out = []
        for i in range(folds):
            start = n - (folds - i) * block
            test = ranked[start : start + block]
            validation = ranked[start - block : start]
            train = ranked[: start - block]
            out.append(
                FlatFold(
                    i + 1,
                    train,
                    validation,
                    test,
                    f"fold {i + 1}: train {describe_span(order, train)}, validation "
                    f"{describe_span(order, validation)}, test {describe_span(order, test)}",
                )
            )
        description = (
            f"rolling-origin backtest over time ({data.time.description}): {folds} folds, each "
            f"testing on one of the last {folds} blocks of {block_share:.0%} of the rows "
            f"({block} rows), validating on the block before it and training on every earlier row"
        )
        return out, description
    y = data.label
    smaller = int(min(y.sum(), len(y) - y.sum()))
    if smaller < folds * 2:
        raise DataValidationError(
            data.table,
            str(y.name),
            f"a stratified {folds}-fold backtest needs at least {folds * 2} won and lost rows; "
            f"the smaller class has {smaller}",
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    index = y.index
    out = []
    for i, (rest, test_pos) in enumerate(splitter.split(np.zeros(len(y)), y)):
        rest_rows = index[rest]
        train, validation = train_test_split(
            rest_rows, test_size=0.25, stratify=y.loc[rest_rows], random_state=seed
        )
        test = pd.Index(sorted(index[test_pos]))
        out.append(
            FlatFold(
                i + 1,
                pd.Index(sorted(train)),
                pd.Index(sorted(validation)),
                test,
                f"fold {i + 1}: train {len(train)} rows, validation {len(validation)}, "
                f"test {len(test)}",
            )
        )
    description = (
        f"no time column: stratified {folds}-fold cross-validation (seed {seed}), each fold "
        "training on the other folds less a stratified quarter for validation; the test rows "
        "are not later than the training rows, so these figures do not show how the model "
        "holds up on later leads"
    )
    return out, description


def backtest_flat(
    contract_path: str | Path,
    folds: int = 4,
    *,
    block_share: float = 0.1,
    allow_leaky: bool = False,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    capacity_share: float = DEFAULT_CAPACITY_SHARE,
    seed: int = 0,
    params: FlatModelParams | None = None,
    experiment: str = FLAT_EXPERIMENT,
    progress: Callable[[str], None] | None = None,
) -> FlatBacktestResult:
    """Run the backtest (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    if not 0 < capacity_share <= 1:
        raise ConfigError(f"capacity_share must be in (0, 1], got {capacity_share!r}")
    contract, _, data = load_flat_contract(contract_path)
    plans, description = flat_folds(data, folds, block_share=block_share, seed=seed)
    say(description)
    report = guard_training_rows(data, plans[0].train, seed=seed)
    allowed = check_leakage(report, allow_leaky=allow_leaky)
    configure_tracking()
    experiment_id = ensure_experiment(experiment)
    records = []
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"backtest-flat-{folds}") as parent:
        mlflow.set_tag("leadscore.job", "backtest-flat")
        mlflow.set_tag("leadscore.backtest", description[:5000])
        mlflow.log_params({"contract": str(contract.path), "folds": folds,
                           "block_share": block_share, "by_time": data.order is not None,
                           "min_positives": min_positives, "capacity_share": capacity_share,
                           "allow_leaky": allow_leaky, "seed": seed})  # fmt: skip
        mlflow.log_text(report.format_table(), "leakage/ranking.txt")
        if allowed:
            mlflow.set_tag("leakage.trained_with", ", ".join(s.column for s in allowed)[:5000])
        for fold in plans:
            say(fold.description)
            scorers = fit_flat_scorers(data, fold.train, fold.validation, params)
            y = data.label.loc[fold.test].to_numpy(dtype="float64")
            capacity = max(1, round(capacity_share * len(fold.test)))
            metrics = measure(y, score_rows(data, scorers, fold.test), capacity)
            train_positives = int(data.label.loc[fold.train].sum())
            trustworthy = train_positives >= min_positives
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=f"fold-{fold.number}", nested=True
            ):
                mlflow.set_tag("leadscore.fold", fold.description[:5000])
                mlflow.set_tag("trustworthy", str(trustworthy).lower())
                for scorer, values in metrics.items():
                    mlflow.log_metrics({f"{scorer}_{k}": v for k, v in values.items() if v == v})
            for scorer, values in metrics.items():
                records.append(
                    {"fold": fold.number, "test_rows": fold.description,
                     "trustworthy": trustworthy, "train_positives": train_positives,
                     "best_iteration": scorers.model.best_iteration_, "scorer": scorer,
                     **{m: values.get(m, math.nan) for m in FLAT_BACKTEST_METRICS}}
                )  # fmt: skip
        table = pd.DataFrame.from_records(records)
        summary = flat_summary(table)
        for name, row in summary.iterrows():
            mlflow.log_metrics({f"{name}_{k}": float(v) for k, v in row.items() if v == v})
        mlflow.log_dict(
            {"description": description,
             "folds": table.to_dict(orient="records"),
             "summary": summary.reset_index().to_dict(orient="records")},
            "backtest/backtest.json",
        )  # fmt: skip
        run_id = parent.info.run_id
    return FlatBacktestResult(table, summary, description, plans, data.order is not None, run_id)


def flat_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation of each metric per scorer over folds (the scorers
    in their first-seen order)."""
    grouped = table.groupby("scorer", sort=False)[list(FLAT_BACKTEST_METRICS)]
    mean = grouped.mean().add_suffix("_mean")
    std = grouped.std(ddof=1).add_suffix("_std")
    return pd.concat([mean, std], axis=1)
