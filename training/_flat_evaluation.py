"""Flat mode's fitting and measuring, shared by train, backtest and compare.

Contract:

- :func:`fit_flat_scorers` fits, on the given training rows only, the
  :class:`~models._flat_model.FlatModel` (early stopping and calibration on the validation
  rows, passed in time order), the :class:`~training._flat_baseline.LogisticBaseline`, and,
  when the contract names a ``rule_score``, an isotonic map from that score to a probability
  (so its Brier score and calibration can be compared on the same scale; its ranking
  metrics use the raw score). Tier cut-offs come from the model's validation probabilities.
- :func:`score_rows` scores rows with each scorer: ``{"model", "baseline", "rule_score"}`` to
  ``(score, probability)``.
- :func:`minimum_data` is the minimum-data verdict: fewer than ``min_positives`` (default
  :data:`DEFAULT_MIN_POSITIVES`, 100) won rows in the training rows means the model is not
  yet trustworthy, whatever its test figures say.
- :func:`default_capacity`: unless told otherwise, a team works the top
  :data:`DEFAULT_CAPACITY_SHARE` (10%) of the test leads; "captured at capacity" counts the
  conversions among them (ties shared fairly, :func:`training._metrics.captured_at_k`).
- :func:`flat_figures` computes every figure of the comparison as JSON-ready data: the
  headline (model against the rule score, or against the baseline when the contract has
  none, at capacity with a 95% bootstrap interval; no winner is declared when the data are
  too few), metrics of every scorer on the same test rows, calibration bins, conversion by
  model tier, drift between training and test rows (columns that separate them almost
  perfectly in a time split are named in a warning note: they are clocks, not lead
  attributes), the leakage ranking, what was left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features._errors import ConfigError
from leadscore.features._flat import FlatData, FlatSplit
from leadscore.models._flat_model import FlatModel, FlatModelParams
from leadscore.models._flat_pyfunc import TIERS, tier_thresholds_by_share
from leadscore.training._flat_baseline import LogisticBaseline
from leadscore.training._leakage import DEFAULT_THRESHOLD_AUC, LeakageReport
from leadscore.training._metrics import captured_at_k, classification_metrics, lift_in_top_share
from numpy.typing import NDArray
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression

DEFAULT_MIN_POSITIVES = 100
"""Fewest won rows in the training rows for a model to be called trustworthy."""
DEFAULT_CAPACITY_SHARE = 0.10
"""Share of the test leads a team works, unless a capacity is given."""
CLOCK_SEPARATION = 0.95
"""Drift separation from which a column is named as a clock in the comparison's notes."""
SCORERS: tuple[str, ...] = ("model", "baseline", "rule_score")
FLAT_SECTIONS: tuple[str, ...] = (
    "meta",
    "data",
    "minimum_data",
    "headline",
    "metrics",
    "calibration",
    "by_tier",
    "drift",
    "leakage",
)
"""The keys of :func:`flat_figures`' result."""

Scores = Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64] | None]]


@dataclass(frozen=True)
class FlatScorers:
    """The fitted scorers of one training: model, baseline, the rule-score map, tiers."""

    model: FlatModel
    baseline: LogisticBaseline
    rule_map: IsotonicRegression | None
    tier_thresholds: dict[str, float]


def fit_flat_scorers(
    data: FlatData,
    train: pd.Index,
    validation: pd.Index,
    params: FlatModelParams | None = None,
) -> FlatScorers:
    """Fit every scorer on ``train`` rows (model: early stopping and calibration on
    ``validation``); see the module docstring."""
    X, y = data.frame.loc[train], data.label.loc[train]
    X_val, y_val = data.frame.loc[validation], data.label.loc[validation]
    model = FlatModel(data.features, params).fit(X, y, validation=(X_val, y_val))
    baseline, rule_map = fit_references(data, train)
    tiers = tier_thresholds_by_share(model.predict_proba(X_val))
    return FlatScorers(model, baseline, rule_map, tiers)


def fit_references(
    data: FlatData, train: pd.Index
) -> tuple[LogisticBaseline, IsotonicRegression | None]:
    """The scorers the model is measured against, fitted on ``train`` rows: the logistic
    baseline, and the rule score's isotonic map to a probability (None without one)."""
    X, y = data.frame.loc[train], data.label.loc[train]
    baseline = LogisticBaseline(data.features).fit(X, y)
    rule_map = None
    if data.rule_score is not None:
        rule_map = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        rule_map.fit(data.rule_score.loc[train].to_numpy(dtype="float64"), y.to_numpy())
    return baseline, rule_map


def score_rows(
    data: FlatData, scorers: FlatScorers, rows: pd.Index
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64] | None]]:
    """``(score, probability)`` of each scorer on labelled ``rows``, in that order."""
    X = data.frame.loc[rows]
    model = scorers.model.predict_proba(X)
    baseline = scorers.baseline.predict_proba(X)
    out: dict[str, tuple[NDArray[np.float64], NDArray[np.float64] | None]] = {
        "model": (model, model),
        "baseline": (baseline, baseline),
    }
    if data.rule_score is not None and scorers.rule_map is not None:
        raw = data.rule_score.loc[rows].to_numpy(dtype="float64")
        out["rule_score"] = (raw, np.asarray(scorers.rule_map.predict(raw), dtype="float64"))
    return out


def measure(y: NDArray[np.float64], scores: Scores, capacity: int) -> dict[str, dict[str, float]]:
    """Every metric of every scorer on the same rows (:func:`classification_metrics` plus
    ``lift_top_decile``)."""
    out = {}
    for name, (score, prob) in scores.items():
        values = classification_metrics(y, score, prob, capacity)
        values["lift_top_decile"] = lift_in_top_share(y, score, 0.1) if len(y) else math.nan
        out[name] = values
    return out


def default_capacity(test_rows: int, capacity: int | None = None) -> tuple[int, str]:
    """Leads worked at capacity and a sentence saying where the number comes from."""
    if capacity is not None:
        if capacity <= 0:
            raise ConfigError(f"capacity must be positive, got {capacity!r}")
        return capacity, f"capacity given: the top {capacity:,} leads"
    k = max(1, round(DEFAULT_CAPACITY_SHARE * test_rows))
    return k, (
        f"capacity by default: the top {DEFAULT_CAPACITY_SHARE:.0%} of the {test_rows:,} test "
        f"leads ({k:,} leads)"
    )


@dataclass(frozen=True)
class MinimumData:
    """The minimum-data verdict (see the module docstring)."""

    trustworthy: bool
    train_positives: int
    min_positives: int
    sentence: str


def minimum_data(train_positives: int, min_positives: int = DEFAULT_MIN_POSITIVES) -> MinimumData:
    """Whether ``train_positives`` won rows are enough, with a sentence saying so."""
    if min_positives < 1:
        raise ConfigError(f"min_positives must be at least 1, got {min_positives!r}")
    if train_positives < min_positives:
        return MinimumData(
            False,
            train_positives,
            min_positives,
            f"Not yet trustworthy: only {train_positives:,} won leads in the training rows, "
            f"fewer than the {min_positives:,} a trustworthy model needs. The figures are for "
            "information; no winner is declared. Collect more outcomes and train again.",
        )
    return MinimumData(
        True,
        train_positives,
        min_positives,
        f"{train_positives:,} won leads in the training rows (at least {min_positives:,} "
        "needed): enough to train a trustworthy model.",
    )


# --------------------------------------------------------------------------- figures


def fast_auc(y: NDArray[np.float64], score: NDArray[np.float64]) -> float:
    """ROC AUC by ranks (ties count one half); NaN without both classes."""
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _bootstrap(
    y: NDArray[np.float64],
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    capacity: int,
    reps: int,
    seed: int,
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of (a minus b) in captured-at-capacity and ROC AUC, over
    resamples of the rows (the same resample for both scorers)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    captured = np.empty(reps)
    auc = np.empty(reps)
    for r in range(reps):
        idx = rng.integers(0, n, n)
        yr = y[idx]
        captured[r] = captured_at_k(yr, a[idx], capacity) - captured_at_k(yr, b[idx], capacity)
        auc[r] = fast_auc(yr, a[idx]) - fast_auc(yr, b[idx])
    out = {}
    for name, values in (("captured", captured), ("roc_auc", auc)):
        finite = values[np.isfinite(values)]
        low, high = np.percentile(finite, [2.5, 97.5]) if len(finite) else (math.nan, math.nan)
        out[name] = (float(low), float(high))
    return out


def _reliability(
    y: NDArray[np.float64], p: NDArray[np.float64], n_bins: int = 10
) -> list[dict[str, Any]]:
    order = np.argsort(p, kind="stable")
    out = []
    for i, chunk in enumerate(np.array_split(order, min(n_bins, max(len(p), 1)))):
        if len(chunk):
            out.append(
                {
                    "bin": i + 1,
                    "leads": len(chunk),
                    "mean_predicted": float(p[chunk].mean()),
                    "observed": float(y[chunk].mean()),
                }
            )
    return out


def drift_table(data: FlatData, train: pd.Index, test: pd.Index) -> list[dict[str, Any]]:
    """How each feature's test values differ from its training values, most shifted first.

    Numeric and boolean columns: the training range, the share of test values outside it
    (a tree model scores all of them like the edge of the range), and ``separation``, the
    ROC AUC of the value alone telling test rows from training rows (``max(auc, 1 - auc)``;
    missing values lowest): near 1.0 the column is a clock, not a lead attribute.
    Categorical columns: the share of test rows whose value never occurs in the training
    rows and ``separation`` as the total-variation distance between the two value
    distributions mapped to 0.5..1.0 (``0.5 + distance / 2``).
    """
    rows = []
    for name, kind in data.features.items():
        before, after = data.frame.loc[train, name], data.frame.loc[test, name]
        row: dict[str, Any] = {"column": name, "kind": kind, "train_min": None, "train_max": None}
        if kind == "categorical":
            seen = set(before.dropna())
            present = after.dropna()
            row["outside_share"] = float((~present.isin(seen)).mean()) if len(present) else 0.0
            p = before.fillna("(missing)").value_counts(normalize=True)
            q = after.fillna("(missing)").value_counts(normalize=True)
            distance = 0.5 * float(p.sub(q, fill_value=0.0).abs().sum())
            row["separation"] = 0.5 + distance / 2
        else:
            x_before = before.to_numpy(dtype="float64", na_value=np.nan)
            x_after = after.to_numpy(dtype="float64", na_value=np.nan)
            present = x_after[~np.isnan(x_after)]
            known = x_before[~np.isnan(x_before)]
            if len(known):
                row["train_min"], row["train_max"] = float(known.min()), float(known.max())
                outside = (present < known.min()) | (present > known.max())
                row["outside_share"] = float(outside.mean()) if len(present) else 0.0
            else:
                row["outside_share"] = 1.0 if len(present) else 0.0
            values = np.concatenate([x_before, x_after])
            is_test = np.concatenate([np.zeros(len(x_before)), np.ones(len(x_after))])
            auc = fast_auc(is_test, np.where(np.isnan(values), -np.inf, values))
            row["separation"] = max(auc, 1 - auc) if not math.isnan(auc) else math.nan
        rows.append(row)
    rows.sort(key=lambda r: (-(r["separation"] if r["separation"] == r["separation"] else 0),
                             r["column"]))  # fmt: skip
    return rows


def clock_notes(drift: list[dict[str, Any]], split: FlatSplit) -> list[str]:
    """A warning naming the columns whose values tell the test rows from the training rows
    almost perfectly (``separation >= CLOCK_SEPARATION``) in a time split; none otherwise."""
    if not split.by_time:
        return []
    clocks = [r["column"] for r in drift if (r["separation"] or 0) >= CLOCK_SEPARATION]
    if not clocks:
        return []
    return [
        f"Warning: columns {clocks} tell the test rows from the training rows almost "
        f"perfectly (drift separation >= {CLOCK_SEPARATION}): they behave like clocks, and a "
        "model can only extrapolate them into the test period. If they describe the period "
        "rather than the lead, list them under exclude in the contract."
    ]


def _json(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def flat_figures(
    data: FlatData,
    split: FlatSplit,
    scores: Scores,
    *,
    tiers: NDArray[np.object_],
    capacity: int,
    capacity_source: str,
    minimum: MinimumData,
    leakage: LeakageReport,
    meta: Mapping[str, Any],
    threshold_auc: float = DEFAULT_THRESHOLD_AUC,
    bootstrap_reps: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Every figure of the flat comparison on ``split.test`` (see the module docstring).

    ``scores`` are each scorer's ``(score, probability)`` on the test rows in
    ``split.test`` order, ``tiers`` the model tiers of the same rows.
    """
    if bootstrap_reps < 100:
        raise ConfigError(f"bootstrap_reps must be at least 100, got {bootstrap_reps!r}")
    y = data.label.loc[split.test].to_numpy(dtype="float64")
    metrics = measure(y, scores, capacity)
    reference = "rule_score" if "rule_score" in scores else "baseline"
    reference_words = "the rule score" if reference == "rule_score" else "the logistic baseline"
    model_score, ref_score = scores["model"][0], scores[reference][0]
    intervals = _bootstrap(y, model_score, ref_score, capacity, bootstrap_reps, seed)
    m, r = metrics["model"], metrics[reference]
    diff = m["captured_at_capacity"] - r["captured_at_capacity"]
    low, high = intervals["captured"]
    auc_low, auc_high = intervals["roc_auc"]
    if not minimum.trustworthy:
        winner = "not yet trustworthy"
    elif low > 0:
        winner = "model"
    elif high < 0:
        winner = reference
    else:
        winner = "neither (the interval includes 0)"
    leader = "the model" if diff >= 0 else reference_words
    sentence = (
        f"Working the top {capacity:,} of {len(y):,} test leads, {leader} would have reached "
        f"{abs(diff):,.1f} more conversions ({m['captured_at_capacity']:,.1f} for the model vs "
        f"{r['captured_at_capacity']:,.1f} for {reference_words}, of {y.sum():,.0f}); 95% "
        f"bootstrap interval of model minus {reference_words}: [{low:,.1f}, {high:,.1f}]. "
        f"ROC AUC {m['roc_auc']:.3f} vs {r['roc_auc']:.3f} (95% interval of the difference: "
        f"[{auc_low:.3f}, {auc_high:.3f}])."
    )
    if not minimum.trustworthy:
        sentence = f"{minimum.sentence} {sentence}"
    elif winner.startswith("neither"):
        sentence += " The difference is not clear at this sample size."
    headline = {
        "winner": winner,
        "reference": reference,
        "sentence": sentence,
        "capacity_leads": capacity,
        "model_captured": m["captured_at_capacity"],
        "reference_captured": r["captured_at_capacity"],
        "difference": diff,
        "ci_low": low,
        "ci_high": high,
        "model_roc_auc": _json(m["roc_auc"]),
        "reference_roc_auc": _json(r["roc_auc"]),
        "roc_auc_ci_low": _json(auc_low),
        "roc_auc_ci_high": _json(auc_high),
        "bootstrap_reps": bootstrap_reps,
    }
    calibration = {
        name: _reliability(y, prob) for name, (_, prob) in scores.items() if prob is not None
    }
    tier_series = pd.Series(tiers)
    by_tier = []
    for tier in TIERS:
        mask = (tier_series == tier).to_numpy()
        n, conv = int(mask.sum()), float(y[mask].sum())
        by_tier.append({"tier": tier, "leads": n, "conversions": conv,
                        "rate": conv / n if n else None})  # fmt: skip
    leakage_dict = leakage.to_dict(threshold_auc)
    drift = drift_table(data, split.train, split.test)
    notes = [*meta.get("notes", []), *clock_notes(drift, split)]
    return {
        "meta": {
            **meta,
            "notes": notes,
            "table": data.table,
            "split": split.description,
            "split_by_time": split.by_time,
            "time": data.time.description,
            "rows": len(y),
            "positives": float(y.sum()),
            "base_rate": float(y.mean()) if len(y) else None,
            "train_rows": len(split.train),
            "validation_rows": len(split.validation),
            "train_base_rate": float(data.label.loc[split.train].mean()),
            "capacity_source": capacity_source,
        },
        "data": {
            "rows_read": data.rows_read,
            "labelled_rows": len(data.frame),
            "open_rows": len(data.open_rows),
            "features": dict(data.features),
            "excluded_columns": [{"column": e.column, "reason": e.reason} for e in data.excluded],
            "excluded_rows": [
                {"reason": e.reason, "count": e.count, "examples": [str(x) for x in e.examples]}
                for e in data.excluded_rows
            ],
            "notes": list(data.notes),
        },
        "minimum_data": {
            "trustworthy": minimum.trustworthy,
            "train_positives": minimum.train_positives,
            "min_positives": minimum.min_positives,
            "sentence": minimum.sentence,
        },
        "headline": headline,
        "metrics": {k: {n: _json(v) for n, v in vals.items()} for k, vals in metrics.items()},
        "calibration": calibration,
        "by_tier": by_tier,
        "drift": [{k: _json(v) for k, v in row.items()} for row in drift],
        "leakage": {
            "table": leakage.format_table(threshold_auc=threshold_auc),
            "rows": leakage.rows,
            "positives": leakage.positives,
            "threshold_auc": threshold_auc,
            "columns": leakage_dict["columns"],
            "suspects": leakage_dict["suspects"],
        },
    }
