"""The model-vs-rules comparison: every figure of the report, computed once, as data.

Contract: :func:`comparison_figures` takes a fitted :class:`~models.ScoringBundle` and a
labelled lead frame for ONE snapshot (the comparison quarter) and returns a JSON-ready dict
(:data:`SECTIONS` are its keys). Both scorers are measured on exactly the same rows. The
rule score is turned into a probability with the isotonic map fitted on the *training*
window only (inside the bundle), so calibration is compared on the same scale. The headline
states who is ahead at capacity (bootstrap interval) and in ranking (ROC AUC, DeLong
interval), each sentence with the interval it reads (:mod:`training._intervals`). ``drift``
measures these rows against the profile of the rows the model was fitted on (kept in its
bundle; :mod:`training._drift`); ``reliability`` is the model's reliability table per window:
these rows, then the windows measured when it was trained. The HTML report
(:mod:`training._report`) only formats these numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import FeatureSpec, derive_attributes
from leadscore.features._definitions import TREND_FEATURE, HoursToFirst
from leadscore.models import ExistingScore, ScoringBundle
from leadscore.models._scoring import TIERS
from leadscore.training._drift import drift
from leadscore.training._intervals import auc_difference
from leadscore.training._metrics import (
    captured_at_k,
    classification_metrics,
    lift_in_top_share,
    reliability_bins,
)
from numpy.typing import NDArray
from sklearn.metrics import precision_recall_curve, roc_curve

SECTIONS: tuple[str, ...] = (
    "meta",
    "headline",
    "metrics",
    "curves",
    "calibration",
    "by_grade",
    "by_tier",
    "quadrant",
    "top_disagreements",
    "by_source",
    "speed_to_lead",
    "thresholds",
    "drift",
    "reliability",
    "sales_actions",
)
SPEED_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("under 1 hour", 0.0, 1.0),
    ("1-4 hours", 1.0, 4.0),
    ("4-24 hours", 4.0, 24.0),
    ("1-3 days", 24.0, 72.0),
    ("3-7 days", 72.0, 168.0),
    ("over 7 days", 168.0, math.inf),
)


def _thin(x: NDArray[np.float64], y: NDArray[np.float64], n: int = 200) -> dict[str, list[float]]:
    """At most ``n`` points of a curve, keeping the first and last."""
    idx = np.unique(np.linspace(0, len(x) - 1, min(n, len(x))).round().astype(int))
    return {"x": [float(v) for v in x[idx]], "y": [float(v) for v in y[idx]]}


def _gains(y: NDArray[np.float64], score: NDArray[np.float64]) -> dict[str, list[float]]:
    order = np.argsort(-score, kind="stable")
    captured = np.concatenate([[0.0], np.cumsum(y[order]) / max(y.sum(), 1.0)])
    worked = np.arange(len(y) + 1) / max(len(y), 1)
    return _thin(worked, captured)


def _rate_table(
    keys: pd.Series, y: NDArray[np.float64], order: list[str], name: str
) -> list[dict[str, Any]]:
    rows = []
    for key in order:
        mask = (keys == key).to_numpy()
        n = int(mask.sum())
        conv = float(y[mask].sum())
        rows.append({name: key, "leads": n, "conversions": conv, "rate": conv / n if n else None})
    return rows


def _bootstrap_difference(
    y: NDArray[np.float64],
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    k: int,
    reps: int,
    seed: int,
) -> tuple[float, float]:
    """95% percentile interval of captured_at_k(a) - captured_at_k(b) over row resamples."""
    rng = np.random.default_rng(seed)
    n = len(y)
    diffs = np.empty(reps)
    for r in range(reps):
        idx = rng.integers(0, n, n)
        diffs[r] = captured_at_k(y[idx], a[idx], k) - captured_at_k(y[idx], b[idx], k)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def reference_scores(
    bundle: ScoringBundle, rows: pd.DataFrame
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, str, str]:
    """The scorer the model is measured against, on ``rows`` (derived attributes): the
    rules, or the team's existing score when the rules read none of the data's features.
    Returns its scores, its probability on the training window's isotonic map (None for an
    existing score), the sentence naming it, and its short name."""
    rules = bundle.rule_scorer
    spec = bundle.spec
    if rules.has_rules or spec.existing_score is None:
        name = "the rules" if rules.has_rules else "the rules (a coin here)"  # every lead: 0
        return (rules.score(rows).astype("float64"), rules.predict_proba(rows), "the rules",
                name)  # fmt: skip
    existing = ExistingScore(spec.existing_score).fit(rows)
    reference = f"the team's existing score ({existing.coverage_:.0%} of leads have one)"
    return existing.score(rows), None, reference, "the existing score"


def comparison_figures(
    bundle: ScoringBundle,
    frame: pd.DataFrame,
    *,
    capacity_per_week: float | None,
    horizon_days: int,
    meta: dict[str, Any],
    bootstrap_reps: int = 500,
    seed: int = 0,
    capacity: int | None = None,
    worked: NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """Every figure of the comparison (see the module docstring). ``capacity`` (leads worked
    in the period) defaults to ``capacity_per_week`` over the horizon. The reference is the
    rules, or the team's existing score when the rules read none of the data's features.
    ``worked`` (per row: did sales ever work the lead?) adds the never-worked counts to the
    thresholds."""
    rows = derive_attributes(frame.reset_index(drop=True))
    y = rows["label"].to_numpy(dtype="float64")
    prob = bundle.lead_model.predict_proba(rows)
    rules = bundle.rule_scorer
    points, rule_prob, reference, ref_name = reference_scores(bundle, rows)
    grades = rules.grade(points)
    tiers = bundle.tier(prob)
    if capacity is None:
        assert capacity_per_week is not None
        capacity = max(1, round(capacity_per_week * horizon_days / 7))

    metrics = {
        "model": classification_metrics(y, prob, prob, capacity),
        "rules": classification_metrics(y, points, rule_prob, capacity),
    }
    for name, score in (("model", prob), ("rules", points)):
        metrics[name]["lift_top_decile"] = lift_in_top_share(y, score, 0.1)

    # -- headline: who wins at capacity, with a bootstrap interval --------------------------
    diff = metrics["model"]["captured_at_capacity"] - metrics["rules"]["captured_at_capacity"]
    low, high = _bootstrap_difference(y, prob, points, capacity, bootstrap_reps, seed)
    if low > 0:
        winner = "model"
    elif high < 0:
        winner = "rules"
    else:
        winner = "neither (the interval includes 0)"
    pace = (f"{capacity_per_week:,.0f} a week" if capacity_per_week else "the default share")
    at_capacity = (f"{metrics['model']['captured_at_capacity']:,.1f} conversions for the model "
                   f"vs {metrics['rules']['captured_at_capacity']:,.1f} for the rules, of "
                   f"{y.sum():,.0f}; difference {diff:+,.1f}, 95% bootstrap interval "
                   f"[{low:+,.1f}, {high:+,.1f}]")  # fmt: skip
    if winner == "neither (the interval includes 0)":
        sentence = (f"Working the top {capacity:,} leads ({pace}), neither the model nor the "
                    f"rules is clearly ahead: {at_capacity}, which includes 0.")  # fmt: skip
    else:
        behind = "rules" if winner == "model" else "model"
        sentence = (f"Working the top {capacity:,} leads ({pace}), the {winner} reached "
                    f"{abs(diff):,.1f} more conversions than the {behind}: {at_capacity}, "
                    "which excludes 0.")  # fmt: skip
    ranking = auc_difference([(y, prob, points)], "the model", ref_name, "these leads")
    sentence += " " + ranking.sentence()
    headline = {
        "winner": winner,
        "capacity_per_week": capacity_per_week,
        "capacity_leads": capacity,
        "model_captured": metrics["model"]["captured_at_capacity"],
        "rules_captured": metrics["rules"]["captured_at_capacity"],
        "difference": diff,
        "ci_low": low,
        "ci_high": high,
        "bootstrap_reps": bootstrap_reps,
        "roc_auc_difference": ranking.to_dict(),
        "sentence": sentence,
    }

    # -- curves ------------------------------------------------------------------------------
    curves: dict[str, dict[str, Any]] = {"roc": {}, "pr": {}, "gains": {}}
    if 0 < y.sum() < len(y):
        for name, score in (("model", prob), ("rules", points)):
            fpr, tpr, _ = roc_curve(y, score)
            curves["roc"][name] = _thin(fpr, tpr)
            precision, recall, _ = precision_recall_curve(y, score)
            curves["pr"][name] = _thin(recall[::-1], precision[::-1])
            curves["gains"][name] = _gains(y, score)

    calibration = {"model": reliability_bins(y, prob)}
    if rule_prob is not None:
        calibration["rules"] = reliability_bins(y, rule_prob)

    # -- the disagreement quadrant: "high" = in each scorer's top `capacity` ------------------
    def top_set(score: NDArray[np.float64]) -> NDArray[np.bool_]:
        order = np.lexsort((np.arange(len(score)), -score))  # ties broken by row order
        mask = np.zeros(len(score), dtype=bool)
        mask[order[:capacity]] = True
        return mask

    model_high, rules_high = top_set(prob), top_set(points)
    quadrant_masks = {
        "both high": model_high & rules_high,
        "model only high": model_high & ~rules_high,
        "rules only high": ~model_high & rules_high,
        "both low": ~model_high & ~rules_high,
    }
    quadrant = []
    for name, mask in quadrant_masks.items():
        n = int(mask.sum())
        conv = float(y[mask].sum())
        quadrant.append(
            {"quadrant": name, "leads": n, "conversions": conv, "rate": conv / n if n else None}
        )

    # top disagreements: largest gap between the two rank percentiles
    rank_model = pd.Series(prob).rank(pct=True).to_numpy()
    rank_rules = pd.Series(points).rank(pct=True).to_numpy()
    gap = rank_model - rank_rules
    pick = np.argsort(-np.abs(gap), kind="stable")[:20]
    explained = bundle.lead_model.explain(rows.iloc[pick], top_n=3)
    hits = rules.explain(rows.iloc[pick])
    top_disagreements = []
    for j, i in enumerate(pick):
        top_disagreements.append(
            {
                "contact_id": str(rows["contact_id"].iloc[i]),
                "kind": "model higher" if gap[i] > 0 else "rules higher",
                "probability": float(prob[i]),
                "model_tier": str(tiers[i]),
                "rule_score": float(points[i]),
                "rule_grade": str(grades[i]),
                "converted": int(y[i]),
                "model_reasons": "; ".join(r.text for r in explained[j]),
                "rule_hits": rules.format_hits(hits[j]),
            }
        )

    # -- lead sources: flag high volume, low conversion (borrowed interest) -------------------
    overall = float(y.mean()) if len(y) else 0.0
    by_source = []
    sources = (rows["lead_source"] if "lead_source" in rows else pd.Series(
        [None] * len(rows), dtype=object)).astype("object").fillna("(missing)")  # fmt: skip
    counts = sources.value_counts() if "lead_source" in rows else pd.Series(dtype=int)
    for source, n in counts.items():
        mask = (sources == source).to_numpy()
        conv = float(y[mask].sum())
        share = int(n) / len(y)
        rate = conv / int(n)
        # at least half an average source's volume, converting at under half the overall rate
        flag = share >= 0.5 / max(len(counts), 1) and rate < 0.5 * overall
        by_source.append(
            {"lead_source": str(source), "leads": int(n), "share": share, "conversions": conv,
             "rate": rate, "flag": "high volume, low conversion" if flag else ""}
        )  # fmt: skip

    # -- speed to lead -------------------------------------------------------------------------
    speed: list[dict[str, Any]] = []
    if "hours_to_first_touch" not in rows:
        return _figures(meta, y, overall, horizon_days, headline, metrics, curves, calibration,
                        grades, tiers, quadrant, top_disagreements, by_source, speed,
                        _thresholds(rules, points, prob, y, worked), reference,
                        *_drift_and_windows(bundle, rows, y, prob), sales_actions(bundle))  # fmt: skip
    hours = rows["hours_to_first_touch"].to_numpy(dtype="float64", na_value=np.nan)
    for label, lo, hi in SPEED_BUCKETS:
        mask = (hours >= lo) & (hours < hi)
        n = int(mask.sum())
        conv = float(y[mask].sum())
        speed.append(
            {"bucket": label, "leads": n, "conversions": conv, "rate": conv / n if n else None}
        )
    never = np.isnan(hours)
    speed.append(
        {"bucket": "not touched yet", "leads": int(never.sum()), "conversions": float(y[never].sum()),
         "rate": float(y[never].mean()) if never.any() else None}
    )  # fmt: skip

    return _figures(meta, y, overall, horizon_days, headline, metrics, curves, calibration,
                    grades, tiers, quadrant, top_disagreements, by_source, speed,
                    _thresholds(rules, points, prob, y, worked), reference,
                    *_drift_and_windows(bundle, rows, y, prob), sales_actions(bundle))  # fmt: skip


def _thresholds(rules: Any, points: NDArray[np.float64], prob: NDArray[np.float64],
                y: NDArray[np.float64], worked: NDArray[np.bool_] | None = None,
                ) -> dict[str, Any]:  # fmt: skip
    """The MQL line, and the model line passing the same number of leads (the model's
    ``n`` highest, ties broken by row order); with ``worked``, how many of each side's
    leads sales never worked (their outcome is unknown, not a loss)."""
    mql = float(rules.rules_.mql_threshold)
    passed = points >= mql
    n_pass = int(passed.sum())
    order = np.lexsort((np.arange(len(prob)), -prob))
    model_passed = np.zeros(len(prob), dtype=bool)
    model_passed[order[:n_pass]] = True
    out: dict[str, Any] = {
        "mql_threshold": mql,
        "rule_leads": n_pass,
        "rule_conversions": float(y[passed].sum()),
        "model_threshold": float(prob[order[n_pass - 1]]) if n_pass else None,
        "model_leads": n_pass,
        "model_conversions": float(y[model_passed].sum()),
    }
    if worked is not None:
        out["rule_never_worked"] = int((passed & ~worked).sum())
        out["model_never_worked"] = int((model_passed & ~worked).sum())
    return out


SALES_ONLY = "sales' own actions"
SALES_MIXED = "all activity, sales' actions included"


def sales_action_kinds(spec: FeatureSpec) -> dict[str, str]:
    """Which model features read sales' own work: :data:`SALES_ONLY` for features of
    sales-owned event types only (and speed to lead), :data:`SALES_MIXED` for all-activity
    features (and the activity trend) at a decision that lets sales' events in."""
    owned = set(spec.events.sales_owned) if spec.events is not None else set()
    if not owned:
        return {}
    kinds: dict[str, str] = {}
    for feature in spec.engagement():
        types = ((feature.event_type,) if isinstance(feature, HoursToFirst)
                 else getattr(feature, "event_types", ()))  # fmt: skip
        if types and set(types) <= owned:
            kinds[feature.name] = SALES_ONLY
        elif not types and not spec.excluded_event_types():
            kinds[feature.name] = SALES_MIXED
    if TREND_FEATURE in spec.model_features() and not spec.excluded_event_types():
        kinds[TREND_FEATURE] = SALES_MIXED
    return kinds


def sales_actions(bundle: ScoringBundle, top_n: int = 10) -> dict[str, Any]:
    """The model's ``top_n`` features by importance (LightGBM: total gain; logistic:
    |coefficient| x spread), each with its share of the total and whether it reads sales'
    own actions (:func:`sales_action_kinds`), and a sentence naming those that do."""
    importance = bundle.lead_model.feature_importance()
    total = float(importance.sum())
    kinds = sales_action_kinds(bundle.spec)
    top = [{"feature": str(name), "importance_share": float(value / total) if total else 0.0,
            "reads": kinds.get(str(name), "marketing's events or the contact's attributes")}
           for name, value in importance.head(top_n).items()]  # fmt: skip
    own = [str(r["feature"]) for r in top if r["reads"] == SALES_ONLY]
    mixed = [str(r["feature"]) for r in top if r["reads"] == SALES_MIXED]
    if own or mixed:
        sentence = (f"Of the model's top {len(top)} features, {len(own)} read sales' own actions"
                    + (f" ({', '.join(own)})" if own else "")
                    + f" and {len(mixed)} count all activity, sales' included"
                    + (f" ({', '.join(mixed)})" if mixed else "")
                    + ". At this decision they say whom sales already chose to work, not whom "
                    "to call next; the handoff view scores without them.")  # fmt: skip
    else:
        sentence = f"None of the model's top {len(top)} features reads sales' own actions."
    return {"top_features": top, "sales_only": own, "sales_mixed": mixed, "sentence": sentence}


def _drift_and_windows(bundle: ScoringBundle, rows: pd.DataFrame, y: NDArray[np.float64],
                       prob: NDArray[np.float64]) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """Drift of these rows against the rows the model was fitted on (when its bundle keeps
    their profile), and the model's reliability table per window: these rows, then the
    windows measured when it was trained."""
    profile = bundle.metadata.get("drift_reference")
    if profile:
        report = drift(profile, rows, bundle.spec, reference_name="rows the model was fitted on",
                       latest_name="comparison rows").to_dict()  # fmt: skip
    else:
        report = {"features": [], "sentences": [
            "This model's bundle keeps no profile of its training rows: no drift figures."]}
    windows = {"comparison rows": reliability_bins(y, prob),
               **bundle.metadata.get("reliability", {})}  # fmt: skip
    return report, windows


def _figures(meta: dict[str, Any], y: NDArray[np.float64], overall: float, horizon_days: int,
             headline: dict[str, Any], metrics: dict[str, Any], curves: dict[str, Any],
             calibration: dict[str, Any], grades: Any, tiers: Any, quadrant: list[Any],
             top_disagreements: list[Any], by_source: list[Any], speed: list[Any],
             thresholds: dict[str, Any], reference: str, drifted: dict[str, Any],
             windows: dict[str, Any], actions: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "meta": {
            **meta,
            "rows": len(y),
            "positives": float(y.sum()),
            "base_rate": overall,
            "horizon_days": horizon_days,
            "reference": reference,
        },
        "headline": headline,
        "metrics": metrics,
        "curves": curves,
        "calibration": calibration,
        "by_grade": _rate_table(pd.Series(grades), y, list(TIERS), "grade"),
        "by_tier": _rate_table(pd.Series(tiers), y, list(TIERS), "tier"),
        "quadrant": quadrant,
        "top_disagreements": top_disagreements,
        "by_source": by_source,
        "speed_to_lead": speed,
        "thresholds": thresholds,
        "drift": drifted,
        "reliability": windows,
        "sales_actions": actions,
    }
