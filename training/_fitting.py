"""The pieces every training-like job shares: the labelled data and fit-and-evaluate.

:func:`labelled_data` validates the warehouse and builds the labelled point-in-time frame
of a :class:`~features._spec.FeatureSpec` at its decision moment, with its split: pipeline
snapshots at every quarter start whose horizon ends by ``as_of``, split by quarter; or one
row per lead at its handoff, split by decision time (stratified-random without any time). No
data at or after ``as_of`` is read. :func:`fit_and_evaluate` fits every scorer (the rules,
each model family, the team's existing score when it has one) on the rows before the
split's test period and measures them on its test rows, the same rows for all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import (
    ConfigError,
    ValidationReport,
    Warehouse,
    quarter_starts,
    validate_warehouse,
)
from leadscore.features._capacity import weekly_leads_worked
from leadscore.features._matrix import build_training_frame, duckdb_memory_limit
from leadscore.features._point_in_time import build_handoff_frame
from leadscore.features._schema import TRUTH
from leadscore.features._spec import FeatureSpec
from leadscore.models import ExistingScore, LeadModelParams, RuleScorer
from leadscore.models._scoring import tier_thresholds_matching_grades
from leadscore.training._metrics import classification_metrics, lift_in_top_share
from leadscore.training._refit import FAMILIES, FinalFit, fit_family_rows
from leadscore.training._sampling import NegativeSampling
from leadscore.training._splits import (
    RowSplit,
    TimeSplit,
    split_rows,
    split_snapshots,
    test_period_words,
)
from numpy.typing import NDArray

log = logging.getLogger(__name__)

Split = TimeSplit | RowSplit
DEFAULT_CAPACITY_SHARE = 0.1
"""Without a time (or a measured follow-up rate), sales are assumed to work the top 10%."""


@dataclass
class LabelledWindow:
    """A labelled point-in-time frame, its split, and where it came from."""

    frame: pd.DataFrame
    split: Split
    data_start: datetime | None
    data_end: datetime | None
    censored_rows: int
    report: ValidationReport
    snapshots: list[datetime] = field(default_factory=list)
    open_rows: int = 0

    def masks(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(train, validation, test) row masks of :attr:`frame`."""
        return self.split.masks_frame(self.frame)


def labelled_data(wh: Warehouse, spec: FeatureSpec, *, as_of: datetime | None, horizon_days: int,
                  last: int | None = None) -> LabelledWindow:  # fmt: skip
    """Validate ``wh`` and build the labelled frame and split (see the module docstring).
    ``as_of`` defaults to just after the last timestamp in the data; ``last`` keeps only the
    latest N labelled snapshots (pipeline; all by default)."""
    with duckdb_memory_limit(wh):  # DuckDB's default (80% of RAM) is the training's peak
        report = validate_warehouse(wh, dated=spec.has_time)
    if spec.has_time and (report.data_start is None or report.data_end is None):
        raise ConfigError(f"warehouse {wh.url} has no dated rows to train on")
    if not spec.has_time and as_of is not None:
        raise ConfigError("--as-of does not apply: the data has no time (contacts.columns."
                          "created_at is null), so there is no 'before' to cut at")  # fmt: skip
    data_end = None
    if spec.has_time:
        assert report.data_start is not None and report.data_end is not None
        data_end = as_of or (report.data_end + timedelta(seconds=1))
        if data_end <= report.data_start:
            raise ConfigError(
                f"--as-of {data_end:%Y-%m-%d} is not after the first contact "
                f"({report.data_start:%Y-%m-%d}); nothing to train on"
            )
    if spec.decision == "handoff":
        lf = build_handoff_frame(wh, spec, until=data_end, with_labels=True,
                                 horizon_days=horizon_days, data_end=data_end)  # fmt: skip
        frame = lf.frame
        _check_labelled(frame)
        split = split_rows(frame, dated=spec.has_time, horizon_days=horizon_days,
                           gap=spec.label_from == "outcomes", order_only=spec.time_is_order)  # fmt: skip
        return LabelledWindow(frame, split, report.data_start, data_end, lf.censored_rows,
                              report, open_rows=lf.open_rows)  # fmt: skip
    assert report.data_start is not None and data_end is not None
    labelled = [s for s in quarter_starts(report.data_start, data_end)
                if s + timedelta(days=horizon_days) <= data_end]  # fmt: skip
    if not labelled:
        raise ConfigError(
            f"no quarterly snapshot between {report.data_start:%Y-%m-%d} and {data_end:%Y-%m-%d} "
            f"has its {horizon_days}-day outcomes observed; need more history"
        )
    if last is not None:
        labelled = labelled[-last:]
    # compact (float32, narrow integers), fetched as Arrow a few snapshots at a time; every
    # snapshot here has its outcomes observed, so none of its rows is censored
    frame = build_training_frame(wh, labelled, horizon_days=horizon_days, data_end=data_end,
                                 spec=spec)  # fmt: skip
    snapshot_split = split_snapshots(labelled, horizon_days)
    return LabelledWindow(frame, snapshot_split, report.data_start, data_end, 0, report,
                          snapshots=labelled)  # fmt: skip


def _check_labelled(frame: pd.DataFrame) -> None:
    won = int(frame["label"].sum()) if len(frame) else 0
    if won == 0 or won == len(frame):
        raise ConfigError(
            f"the labelled leads have a single outcome ({won:,} won of {len(frame):,}); "
            "need both won and not-won leads to train"
        )


def ceiling_for(wh: Warehouse, rows: pd.DataFrame, horizon_days: int,
                decision: str = "pipeline") -> np.ndarray | None:  # fmt: skip
    """The synthetic generator's own Bayes-optimal score for these rows, if the warehouse
    has a ``_truth`` table (demo data only; never a feature): at a quarter-start snapshot
    (``decision="pipeline"``) or at each lead's handoff (``"handoff"``)."""
    if not wh.has_table(TRUTH):
        return None
    from leadscore.features._generator import ceiling_scores, handoff_ceiling_scores

    truth = wh.query(f"SELECT * FROM {TRUTH}")
    contacts = wh.query("SELECT contact_id, created_at FROM contacts")
    keyed = rows[["contact_id", "as_of"]]
    if decision == "handoff":
        try:
            return np.asarray(handoff_ceiling_scores(keyed, truth, contacts, horizon_days))
        except ConfigError as exc:  # a horizon past the generator's recycling review
            log.info("no handoff ceiling: %s", exc)
            return None
    return np.asarray(ceiling_scores(keyed, truth, contacts, horizon_days))


@dataclass(frozen=True)
class Capacity:
    """How many leads sales works: per week, and in the test period; and whence."""

    per_week: float | None
    leads: int
    source: str


def capacity_for(wh: Warehouse, window: LabelledWindow, spec: FeatureSpec, *,
                 horizon_days: int, per_week: float | None) -> Capacity:  # fmt: skip
    """Sales capacity in the test period: ``per_week`` leads (``--capacity``) or the median
    number of leads first touched per week before the test period, times the test period's
    weeks (a pipeline snapshot: the horizon); without sales touches (or time), the top 10%
    of the test leads."""
    test_rows = int(window.masks()[2].sum())
    if not spec.has_time:
        if per_week is not None:
            raise ConfigError("--capacity (leads per week) does not apply: the data has no time;"
                              f" the top {DEFAULT_CAPACITY_SHARE:.0%} of test leads are used")  # fmt: skip
        k = max(1, round(DEFAULT_CAPACITY_SHARE * test_rows))
        return Capacity(None, k, f"no time in the data: the top {DEFAULT_CAPACITY_SHARE:.0%} of "
                        f"the {test_rows:,} test leads ({k:,})")  # fmt: skip
    split = window.split
    if isinstance(split, TimeSplit):
        weeks = horizon_days / 7
        until = split.validation
    else:
        assert split.test_start is not None and window.data_end is not None
        weeks = max((window.data_end - split.test_start).total_seconds() / (7 * 86400), 1 / 7)
        until = split.test_start
    if per_week is not None:
        if per_week <= 0:
            raise ConfigError(f"capacity must be positive, got {per_week!r}")
        k = max(1, round(per_week * weeks))
        return Capacity(per_week, k, f"given: {per_week:,.1f} leads per week x {weeks:.1f} weeks")
    assert window.data_start is not None
    weekly = weekly_leads_worked(wh, window.data_start, until) if spec.events else 0.0
    if weekly > 0:
        k = max(1, round(weekly * weeks))
        return Capacity(weekly, k, f"median leads first touched per week before "
                        f"{until:%Y-%m-%d} ({weekly:,.1f}) x {weeks:.1f} weeks")  # fmt: skip
    k = max(1, round(DEFAULT_CAPACITY_SHARE * test_rows))
    return Capacity(None, k, f"no sales touches to measure follow-up: the top "
                    f"{DEFAULT_CAPACITY_SHARE:.0%} of the {test_rows:,} test leads ({k:,}); "
                    "pass --capacity (leads per week)")  # fmt: skip


def rows_at(frame: pd.DataFrame, positions: NDArray[np.intp]) -> pd.DataFrame:
    """The rows of ``frame`` at ``positions``, in that order, indexed 0 .. n-1: a slice of
    ``frame`` (no copy; pandas' copy-on-write keeps the two apart) when they are its first
    rows in order, as the rows before the test period are in snapshot order; else a copy."""
    if np.array_equal(positions, np.arange(len(positions))):
        rows = frame.iloc[:len(positions)]
        if isinstance(rows.index, pd.RangeIndex) and rows.index.start == 0 and rows.index.step == 1:
            return rows
        return rows.reset_index(drop=True)
    return frame.iloc[positions].reset_index(drop=True)


@dataclass
class Fitted:
    """Every scorer fitted on a split, and their metrics on its test rows.

    ``families`` holds each model family's final model (:func:`training._refit.fit_family`:
    selected on the latest window, refitted on every row before the test period,
    calibrated by cross-fitting); ``metrics`` and ``test_scores`` are keyed by scorer: the
    family names, ``rules``, ``existing_score``, ``ceiling``."""

    rules: RuleScorer
    families: dict[str, FinalFit]
    existing: ExistingScore | None
    metrics: dict[str, dict[str, float]]
    tier_thresholds: dict[str, dict[str, float]]  # family -> tiers matching the rule grades
    # (empty when fitted with scores_only)
    row_counts: dict[str, int]
    positives: dict[str, int]
    test_scores: dict[str, np.ndarray] = field(default_factory=dict)
    test_labels: np.ndarray = field(default_factory=lambda: np.empty(0))
    latest_labels: np.ndarray = field(default_factory=lambda: np.empty(0))


def fit_and_evaluate(
    frame: pd.DataFrame,
    split: Split,
    spec: FeatureSpec,
    *,
    rules_path: str | None,
    model_params: LeadModelParams,
    capacity: int,
    ceiling: np.ndarray | None = None,
    families: Sequence[str] = FAMILIES,
    sampling: NegativeSampling | None = None,
    progress: Any = None,
    scores_only: bool = False,
) -> Fitted:
    """Fit every scorer on the rows before the split's test period and measure each on its
    test rows (the same rows for all): the rules (points from the file, their probability
    map fitted on those rows), each model family by select-refit-calibrate (its models
    fitted on a weighted sample of the negatives when ``sampling`` says so), and the team's
    existing score when it has one. The rows before the test period are copied once (the
    training rows, then the latest window's), whatever the number of families.
    ``scores_only=True`` (a backtest fold read for its test metrics and scores only) skips
    what nothing then reads: the logistic family's ROC AUC on the latest window
    (``measure_selection`` of :func:`training._refit.fit_family_rows`) and the tier
    thresholds (:attr:`Fitted.tier_thresholds` is empty); the models, metrics and scores
    are the same either way."""
    say = progress or (lambda msg: log.info("%s", msg))
    train_mask, valid_mask, test_mask = (np.asarray(m, dtype=bool)
                                         for m in split.masks_frame(frame))  # fmt: skip
    label = frame["label"].to_numpy()
    for name, mask in (("training", train_mask), ("validation", valid_mask), ("test", test_mask)):
        if label[mask].sum() == 0:
            raise ConfigError(
                f"the {name} rows have no won outcomes ({int(mask.sum())} rows); "
                "need conversions in every window to train and measure"
            )
    n_train, n_valid = int(train_mask.sum()), int(valid_mask.sum())
    before = rows_at(frame, np.concatenate([np.flatnonzero(train_mask),
                                            np.flatnonzero(valid_mask)]))  # fmt: skip
    is_latest = np.arange(len(before)) >= n_train
    te = frame[test_mask]
    say(f"rows: {n_train:,} train / {n_valid:,} latest window (validation) / {len(te):,} test; "
        f"final models refit on all {len(before):,} rows before the test period")  # fmt: skip
    rules = RuleScorer(rules_path).fit(before, before["label"].to_numpy(), spec=spec)
    if rules.dropped_rules_:
        say(f"the packaged rules read {len(rules.dropped_rules_)} feature(s) this data does not "
            f"have; left out: {', '.join(rules.dropped_rules_[:6])}"
            + (" ..." if len(rules.dropped_rules_) > 6 else ""))  # fmt: skip
    finals = {family: fit_family_rows(family, before, is_latest, spec, params=model_params,
                                      sampling=sampling, progress=say,
                                      measure_selection=not scores_only)
              for family in families}  # fmt: skip
    existing = None
    if spec.existing_score is not None:
        existing = ExistingScore(spec.existing_score).fit(te)
    say("evaluating every scorer on the test rows")
    y = te["label"].to_numpy()
    scores: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for family, final in finals.items():
        prob = final.model.predict_proba(te)
        scores[family] = (prob, prob)
    if rules.has_rules:
        scores["rules"] = (rules.score(te), rules.predict_proba(te))
    if existing is not None:
        scores["existing_score"] = (existing.score(te), None)
    if ceiling is not None:
        scores["ceiling"] = (ceiling, ceiling)
    metrics = {}
    for name, (score, p) in scores.items():
        values = classification_metrics(y, score, p, capacity)  # no p: no calibration figures
        values["lift_top_decile"] = lift_in_top_share(y, score, 0.1) if len(y) else math.nan
        metrics[name] = values
    if existing is not None:
        metrics["existing_score"]["coverage"] = existing.coverage_
    latest_labels = before["label"].to_numpy(dtype="float64")[is_latest]
    tiers: dict[str, dict[str, float]] = {}
    if not scores_only:
        va = before[is_latest]
        grades = rules.grade(rules.score(va))
        tiers = {family: tier_thresholds_matching_grades(final.model.predict_proba(va), grades)
                 for family, final in finals.items()}  # fmt: skip
        del va
    del before
    return Fitted(
        rules=rules, families=finals, existing=existing, metrics=metrics, tier_thresholds=tiers,
        row_counts={"train": n_train, "validation": n_valid, "test": len(te)},
        positives={"train": int(label[train_mask].sum()), "validation": int(label[valid_mask].sum()),
                   "test": int(te["label"].sum())},
        test_scores={name: s for name, (s, _) in scores.items()},
        test_labels=np.asarray(y, dtype="float64"),
        latest_labels=latest_labels,
    )  # fmt: skip


@dataclass(frozen=True)
class EvaluationRows:
    """The labelled rows a registered model is judged on, and what they are."""

    rows: pd.DataFrame
    period: str  # the test quarter, the test period's start, or "random test split"
    capacity: Capacity
    start: datetime | None


def evaluation_rows(wh: Warehouse, spec: FeatureSpec, *, as_of: datetime | None,
                    horizon_days: int, capacity_per_week: float | None) -> EvaluationRows:  # fmt: skip
    """The latest labelled rows of ``spec``'s data: at the pipeline decision the latest
    quarter whose outcomes are known by ``as_of``; at the handoff the test rows of the
    split (the latest leads by decision time; undated data: the stratified random test
    split with the training seed)."""
    window = labelled_data(wh, spec, as_of=as_of, horizon_days=horizon_days,
                           last=None if spec.decision == "handoff" else 3)  # fmt: skip
    capacity = capacity_for(wh, window, spec, horizon_days=horizon_days, per_week=capacity_per_week)
    test = window.masks()[2]
    rows = window.frame[test].reset_index(drop=True)
    start = window.split.test
    period = "random test split" if start is None else test_period_words(window.split, window.frame)
    return EvaluationRows(rows, period, capacity, start)
