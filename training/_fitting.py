"""The pieces every training-like job shares: the labelled data window and fit-and-evaluate.

:func:`labelled_window` validates the warehouse and builds labelled point-in-time frames at
every quarterly snapshot whose horizon ends by ``as_of`` (no data at or after ``as_of`` is
used). :func:`fit_and_evaluate` fits both scorers on a :class:`TimeSplit` of that frame and
measures them on the split's test snapshot, on the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import (
    ConfigError,
    ValidationReport,
    Warehouse,
    build_lead_frame,
    quarter_starts,
    validate_warehouse,
)
from leadscore.features._capacity import weekly_leads_worked
from leadscore.features._schema import TRUTH
from leadscore.models import LeadModel, LeadModelParams, RuleScorer
from leadscore.models._scoring import tier_thresholds_matching_grades
from leadscore.training._metrics import classification_metrics, lift_in_top_share
from leadscore.training._splits import TimeSplit

log = logging.getLogger(__name__)


@dataclass
class LabelledWindow:
    """Labelled lead frames at quarterly snapshots, and where they came from."""

    frame: pd.DataFrame
    snapshots: list[datetime]
    data_start: datetime
    data_end: datetime
    censored_rows: int
    report: ValidationReport


def labelled_window(
    wh: Warehouse, *, as_of: datetime | None, horizon_days: int, last: int | None = None
) -> LabelledWindow:
    """Validate ``wh`` and build labelled frames (see the module docstring). ``as_of``
    defaults to just after the last timestamp in the data; ``last`` keeps only the latest
    N labelled snapshots (all by default)."""
    report = validate_warehouse(wh)
    if report.data_start is None or report.data_end is None:
        raise ConfigError(f"warehouse {wh.url} has no dated rows to train on")
    data_end = as_of or (report.data_end + timedelta(seconds=1))
    if data_end <= report.data_start:
        raise ConfigError(
            f"--as-of {data_end:%Y-%m-%d} is not after the first contact "
            f"({report.data_start:%Y-%m-%d}); nothing to train on"
        )
    labelled = [
        s
        for s in quarter_starts(report.data_start, data_end)
        if s + timedelta(days=horizon_days) <= data_end
    ]
    if not labelled:
        raise ConfigError(
            f"no quarterly snapshot between {report.data_start:%Y-%m-%d} and {data_end:%Y-%m-%d} "
            f"has its {horizon_days}-day outcomes observed; need more history"
        )
    if last is not None:
        labelled = labelled[-last:]
    lf = build_lead_frame(
        wh, labelled, with_labels=True, horizon_days=horizon_days, data_end=data_end
    )
    return LabelledWindow(lf.frame, labelled, report.data_start, data_end, lf.censored_rows, report)


def ceiling_for(wh: Warehouse, rows: pd.DataFrame, horizon_days: int) -> np.ndarray | None:
    """The synthetic generator's own Bayes-optimal score for these rows, if the warehouse
    has a ``_truth`` table (demo data only; never a feature)."""
    if not wh.has_table(TRUTH):
        return None
    from leadscore.features._generator import ceiling_scores

    truth = wh.query(f"SELECT * FROM {TRUTH}")
    contacts = wh.query("SELECT contact_id, created_at FROM contacts")
    return np.asarray(ceiling_scores(rows[["contact_id", "as_of"]], truth, contacts, horizon_days))


def capacity_for(
    wh: Warehouse, *, start: datetime, until: datetime, horizon_days: int, given: int | None
) -> tuple[int, float, str]:
    """``(leads per horizon, leads per week, where the figure came from)``."""
    weekly = weekly_leads_worked(wh, start, until)
    if given:
        return given, given * 7 / horizon_days, "given on the command line"
    if weekly <= 0:
        raise ConfigError(
            "cannot infer sales capacity: no sales_touch events before "
            f"{until:%Y-%m-%d}; pass --capacity"
        )
    capacity = max(1, round(weekly * horizon_days / 7))
    return (
        capacity,
        weekly,
        f"median leads first touched per week before {until:%Y-%m-%d} ({weekly:,.1f})",
    )


@dataclass
class Fitted:
    """Both scorers fitted on a split, and their metrics on its test snapshot."""

    rules: RuleScorer
    model: LeadModel
    metrics: dict[str, dict[str, float]]
    tier_thresholds: dict[str, float]
    row_counts: dict[str, int]
    positives: dict[str, int]


def fit_and_evaluate(
    frame: pd.DataFrame,
    split: TimeSplit,
    *,
    rules_path: str | None,
    model_params: LeadModelParams,
    capacity: int,
    ceiling: np.ndarray | None = None,
    progress: Any = None,
) -> Fitted:
    """Fit the rules' probability map and the model on the split; measure on its test rows."""
    say = progress or (lambda msg: log.info("%s", msg))
    train_mask, valid_mask, test_mask = split.masks(frame["as_of"])
    tr, va, te = frame[train_mask], frame[valid_mask], frame[test_mask]
    for name, part in (("training", tr), ("validation", va), ("test", te)):
        if part["label"].sum() == 0:
            raise ConfigError(
                f"the {name} window has no won outcomes ({len(part)} rows); "
                "need conversions in every window to train and measure"
            )
    say(f"rows: {len(tr):,} train / {len(va):,} validation / {len(te):,} test")
    rules = RuleScorer(rules_path).fit(tr, tr["label"].to_numpy())
    say("training LightGBM (early stopping on the validation quarter)")
    model = LeadModel(model_params).fit(
        tr, tr["label"].to_numpy(), validation=(va, va["label"].to_numpy())
    )
    say(f"evaluating both scorers on the held-out quarter {split.test:%Y-%m-%d}")
    y = te["label"].to_numpy()
    prob = model.predict_proba(te)
    points = rules.score(te)
    metrics = {
        "model": classification_metrics(y, prob, prob, capacity),
        "rules": classification_metrics(y, points, rules.predict_proba(te), capacity),
    }
    metrics["model"]["lift_top_decile"] = lift_in_top_share(y, prob, 0.1)
    metrics["rules"]["lift_top_decile"] = lift_in_top_share(y, points, 0.1)
    if ceiling is not None:
        metrics["ceiling"] = classification_metrics(y, ceiling, ceiling, capacity)
        metrics["ceiling"]["lift_top_decile"] = lift_in_top_share(y, ceiling, 0.1)
    tiers = tier_thresholds_matching_grades(model.predict_proba(va), rules.grade(rules.score(va)))
    return Fitted(
        rules=rules,
        model=model,
        metrics=metrics,
        tier_thresholds=tiers,
        row_counts={"train": len(tr), "validation": len(va), "test": len(te)},
        positives={
            "train": int(tr["label"].sum()),
            "validation": int(va["label"].sum()),
            "test": int(te["label"].sum()),
        },
    )
