"""The handoff section of the comparison: the MQL decision as it is really made.

Contract of :func:`handoff_figures`: one labelled row per lead at its own handoff time (the
test rows of a model trained at the ``handoff`` decision: leads created in the test period,
each at ``created_at`` + the handoff delay, never at a quarter start), the fitted bundle, a
``worked`` flag per row (the lead has an event of a sales-owned type) and the weekly
capacity. It returns every figure of :func:`training._compare.comparison_figures` on those
rows (both scorers, calibration, conversion by rule grade and model tier, the MQL threshold
against the model threshold passing the same volume with each side's never-worked leads,
disagreements, sources, drift), with the headline and the capacity figures replaced by the
decision as sales make it: each week's top ``per_week`` new leads per scorer, the wins'
bootstrap interval over weeks against the reference (the rules, or the team's existing
score), and ``selective_labels`` (:func:`training._selective_labels.selective_label_figures`).
With the synthetic generator's own handoff propensity (``ceiling``) the ceiling is scored
the same way. Everything is JSON-ready.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import ConfigError, Warehouse, derive_attributes
from leadscore.models import ScoringBundle
from leadscore.training._compare import comparison_figures, reference_scores
from leadscore.training._intervals import auc_difference
from leadscore.training._selective_labels import selective_label_figures
from sklearn.metrics import roc_auc_score


def worked_flags(wh: Warehouse, contact_ids: pd.Series, sales_owned: tuple[str, ...],
                 until: datetime | None) -> tuple[np.ndarray, bool]:  # fmt: skip
    """Per contact: has it any event of a sales-owned type (before ``until``)? And has the
    data any such event at all?"""
    if not sales_owned or not wh.has_table("events"):
        return np.zeros(len(contact_ids), dtype=bool), False
    types = ", ".join("'" + t.replace("'", "''") + "'" for t in sales_owned)
    cutoff = "" if until is None else " AND occurred_at < CAST(? AS TIMESTAMP)"
    ids = wh.query(f"SELECT DISTINCT contact_id FROM events WHERE event_type IN ({types})"
                   f"{cutoff}", None if until is None else [until])["contact_id"]  # fmt: skip
    return contact_ids.isin(ids).to_numpy(), bool(len(ids))


def handoff_figures(
    bundle: ScoringBundle,
    rows: pd.DataFrame,
    worked: np.ndarray,
    *,
    per_week: int,
    has_sales_activity: bool,
    horizon_days: int,
    ceiling: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
    bootstrap_reps: int = 500,
) -> dict[str, Any]:
    """Every figure of the handoff section (see the module contract)."""
    if bundle.spec.decision != "handoff":
        raise ConfigError(f"the handoff comparison needs a model trained at the handoff "
                          f"decision, got one trained at {bundle.spec.decision!r}")  # fmt: skip
    frame = derive_attributes(rows.reset_index(drop=True))
    worked = np.asarray(worked, dtype=bool)
    points, _, _, ref_name = reference_scores(bundle, frame)
    scores = {"model": np.asarray(bundle.lead_model.predict_proba(frame), dtype="float64"),
              "rules": np.asarray(points, dtype="float64")}  # fmt: skip
    if ceiling is not None:
        scores["ceiling"] = np.asarray(ceiling, dtype="float64")
    selective = selective_label_figures(
        frame, scores, worked, per_week=per_week, reference="rules",
        has_sales_activity=has_sales_activity, bootstrap_reps=bootstrap_reps,
    )  # fmt: skip
    picks = {r["scorer"]: r for r in selective["scorers"]}
    model, rules = picks["model"], picks["rules"]
    section = comparison_figures(
        bundle, frame, capacity_per_week=per_week, horizon_days=horizon_days,
        meta=meta or {}, bootstrap_reps=bootstrap_reps, capacity=max(1, model["picked"]),
        worked=worked,
    )  # fmt: skip
    y = frame["label"].to_numpy().astype(int)
    positives = int(y.sum())
    for name, row in picks.items():  # capacity figures: each week's picks, as sales work them
        m = section["metrics"].setdefault(name, {})
        if name == "ceiling":
            m["roc_auc"] = (float(roc_auc_score(y, scores["ceiling"])) if 0 < positives < len(y)
                            else float("nan"))  # fmt: skip
        m["captured_at_capacity"] = float(row["wins"])
        m["share_captured_at_capacity"] = row["wins"] / positives if positives else float("nan")
    if model["ci_low"] > 0:
        winner = "model"
    elif model["ci_high"] < 0:
        winner = "rules"
    else:
        winner = "neither (the interval includes 0)"
    verdict = {"model": "the model's picks won more", "rules": f"{ref_name}' picks won more"}
    sentence = (
        f"Passing each week's top {per_week:,} new leads at their handoff "
        f"({selective['weeks']} weeks, {len(frame):,} leads, {positives:,} won within "
        f"{horizon_days} days): the model's picks won {model['wins']:,}, {ref_name}' "
        f"{rules['wins']:,} (difference {model['wins_minus_reference']:+,}, 95% bootstrap "
        f"interval over weeks [{model['ci_low']:+,.0f}, {model['ci_high']:+,.0f}]"
        + (", which includes 0: neither is clearly ahead)" if winner not in verdict
           else f": {verdict[winner]})")
    )  # fmt: skip
    if "ceiling" in picks:
        sentence += (f"; the generator's own propensity (the ceiling) would have won "
                     f"{picks['ceiling']['wins']:,}")  # fmt: skip
    ranking = auc_difference([(y.astype("float64"), scores["model"], scores["rules"])],
                             "the model", ref_name, "these new leads")  # fmt: skip
    section["headline"] = {
        "winner": winner,
        "per_week": per_week,
        "weeks": selective["weeks"],
        "leads": len(frame),
        "wins": positives,
        "capacity_leads": model["picked"],
        "model_wins": model["wins"],
        "rules_wins": rules["wins"],
        "ceiling_wins": picks["ceiling"]["wins"] if "ceiling" in picks else None,
        "difference": model["wins_minus_reference"],
        "ci_low": model["ci_low"],
        "ci_high": model["ci_high"],
        "bootstrap_reps": bootstrap_reps,
        "roc_auc_difference": ranking.to_dict(),
        "sentence": sentence + ". " + ranking.sentence(),
    }
    section["selective_labels"] = selective
    section.pop("speed_to_lead", None)  # no sales touch is known at the handoff
    return section
