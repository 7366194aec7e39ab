"""The handoff comparison: the MQL decision as it is really made, scorer against scorer.

Contract of :func:`handoff_figures`: one labelled row per lead at its own handoff time (the
test rows of a model trained at the ``handoff`` decision: leads created in the test period,
each at ``created_at`` + the handoff delay, never at a quarter start), the fitted bundle, a
``worked`` flag per row (the lead has an event of a sales-owned type) and the weekly
capacity. It scores the rows with the model and the rules (and the synthetic generator's
own handoff ceiling when given), and returns JSON-ready figures: ``meta``, ``metrics``
(ROC AUC per scorer), ``at_capacity`` (each week's top K per scorer, with the wins' bootstrap
interval against the rules) and ``selective_labels``
(:func:`training._selective_labels.selective_label_figures`). :func:`handoff_compare` runs
it on a warehouse for a registered handoff model and writes the HTML page and its JSON twin
(``report`` with suffix ``.json``); :func:`render_handoff_html` only formats the figures,
every number cell carrying ``data-key``/``data-value`` like the main report.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import ConfigError, Warehouse, derive_attributes
from leadscore.features._schema import TRUTH
from leadscore.models import ScoringBundle
from leadscore.training._fitting import evaluation_rows
from leadscore.training._registry import load_bundle
from leadscore.training._report import _STYLE, _cell, _table
from leadscore.training._selective_labels import selective_label_figures
from sklearn.metrics import roc_auc_score

log = logging.getLogger(__name__)


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
    ceiling: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
    bootstrap_reps: int = 500,
) -> dict[str, Any]:
    """Every figure of the handoff comparison (see the module contract)."""
    if bundle.spec.decision != "handoff":
        raise ConfigError(f"the handoff comparison needs a model trained at the handoff "
                          f"decision, got one trained at {bundle.spec.decision!r}")  # fmt: skip
    frame = derive_attributes(rows.reset_index(drop=True))
    scores = {"model": np.asarray(bundle.lead_model.predict_proba(frame), dtype="float64"),
              "rules": np.asarray(bundle.rule_scorer.score(frame), dtype="float64")}  # fmt: skip
    if ceiling is not None:
        scores["ceiling"] = np.asarray(ceiling, dtype="float64")
    y = frame["label"].to_numpy().astype(int)
    both = 0 < y.sum() < len(y)
    metrics = {name: {"roc_auc": float(roc_auc_score(y, s)) if both else float("nan")}
               for name, s in scores.items()}  # fmt: skip
    selective = selective_label_figures(
        frame, scores, worked, per_week=per_week, reference="rules",
        has_sales_activity=has_sales_activity, bootstrap_reps=bootstrap_reps,
    )  # fmt: skip
    picks = {r["scorer"]: r for r in selective["scorers"]}
    model, rules = picks["model"], picks["rules"]
    if model["ci_low"] > 0:
        winner = "model"
    elif model["ci_high"] < 0:
        winner = "rules"
    else:
        winner = "neither (the interval includes 0)"
    sentence = (
        f"Passing each week's top {per_week:,} new leads at their handoff "
        f"({selective['weeks']} weeks, {len(frame):,} leads, {int(y.sum()):,} won within the "
        f"horizon): the model's picks won {model['wins']:,}, the rules' {rules['wins']:,} "
        f"(difference {model['wins_minus_reference']:+,}, 95% bootstrap interval over weeks "
        f"[{model['ci_low']:+,.0f}, {model['ci_high']:+,.0f}])"
    )
    if "ceiling" in picks:
        sentence += f"; the generator's own ceiling would have won {picks['ceiling']['wins']:,}"
    at_capacity = {
        "winner": winner,
        "per_week": per_week,
        "weeks": selective["weeks"],
        "leads": len(frame),
        "wins": int(y.sum()),
        "sentence": sentence + ".",
    }
    return {
        "meta": {**(meta or {}), "rows": len(frame), "positives": int(y.sum())},
        "metrics": metrics,
        "at_capacity": at_capacity,
        "selective_labels": selective,
    }


def render_handoff_section(figures: dict[str, Any]) -> str:
    """The handoff comparison as one HTML ``<section>`` (numbers keyed to the JSON)."""
    head, sel = figures["at_capacity"], figures["selective_labels"]
    metric_rows = "".join(
        f"<tr><th>{html.escape(name)}</th>{_cell(m['roc_auc'], f'metrics.{name}.roc_auc')}</tr>"
        for name, m in figures["metrics"].items()
    )
    notes = "".join(f"<p class='flag'>{html.escape(n)}</p>" for n in sel["notes"])
    columns = [("scorer", "scorer", "text"), ("picked", "picked", "count"),
               ("wins", "wins", "count"), ("never_worked", "never worked", "count"),
               ("worked_share", "worked share", "pct"),
               ("conversion_among_worked", "conversion among worked", "pct"),
               ("wins_minus_reference", "wins minus rules", "count"),
               ("ci_low", "95% interval low", "count"),
               ("ci_high", "95% interval high", "count")]  # fmt: skip
    return "".join([
        "<section id='handoff'><h2>The handoff: which new leads to pass to sales</h2>",
        f"<p class='headline' data-key='at_capacity.winner' "
        f"data-value='{html.escape(json.dumps(head['winner']))}'>Winner at capacity: "
        f"<b>{html.escape(head['winner'])}</b>. {html.escape(head['sentence'])}</p>",
        "<table><tr><th>per week</th><th>weeks</th><th>leads</th><th>wins</th></tr><tr>",
        _cell(head["per_week"], "at_capacity.per_week", "count"),
        _cell(head["weeks"], "at_capacity.weeks", "count"),
        _cell(head["leads"], "at_capacity.leads", "count"),
        _cell(head["wins"], "at_capacity.wins", "count"), "</tr></table>",
        "<table><tr><th></th><th>ROC AUC</th></tr>", metric_rows, "</table>",
        "<h3>Selective labels: only leads sales worked can close</h3>",
        _table(sel["scorers"], "selective_labels.scorers", columns),
        _table(sel["all_leads"], "selective_labels.all_leads", columns[:6]),
        notes, "</section>",
    ])  # fmt: skip


def render_handoff_html(figures: dict[str, Any]) -> str:
    """A self-contained page holding :func:`render_handoff_section`."""
    meta = figures["meta"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>leadscore: the handoff"
        f"</title><style>{_STYLE}</style></head><body><h1>Lead scoring at the handoff</h1>"
        f"<p class='note'>Model {html.escape(str(meta.get('model_uri', '')))}, test period from "
        f"{html.escape(str(meta.get('period', '')))}.</p>"
        f"{render_handoff_section(figures)}</body></html>"
    )


@dataclass(frozen=True)
class HandoffCompareConfig:
    """Which handoff model, which warehouse, at which capacity, and where the page goes."""

    warehouse: str
    report: Path
    model_uri: str
    as_of: datetime | None = None
    capacity_per_week: float | None = None
    bootstrap_reps: int = 500


@dataclass(frozen=True)
class HandoffCompareResult:
    figures: dict[str, Any]
    html_path: Path
    json_path: Path


def handoff_compare(
    config: HandoffCompareConfig, *, progress: Callable[[str], None] | None = None
) -> HandoffCompareResult:
    """Run the handoff comparison on ``config.warehouse`` (see the module contract)."""
    say = progress or (lambda msg: log.info("%s", msg))
    bundle = load_bundle(config.model_uri)
    spec = bundle.spec
    if spec.decision != "handoff":
        raise ConfigError(f"the handoff comparison needs a model trained at the handoff "
                          f"decision; {config.model_uri} was trained at {spec.decision!r}")  # fmt: skip
    horizon = int(bundle.metadata.get("horizon_days", spec.horizon_days))
    with Warehouse(config.warehouse, read_only=True) as wh:
        say("building the handoff rows of the test period")
        judged = evaluation_rows(wh, spec, as_of=config.as_of, horizon_days=horizon,
                                 capacity_per_week=config.capacity_per_week)  # fmt: skip
        rows = judged.rows
        worked, active = worked_flags(wh, rows["contact_id"], spec.excluded_event_types(),
                                      config.as_of)  # fmt: skip
        ceiling = None
        if wh.has_table(TRUTH):
            from leadscore.features._generator import handoff_ceiling_scores

            truth = wh.query(f"SELECT * FROM {TRUTH}")
            contacts = wh.query("SELECT contact_id, created_at FROM contacts")
            ceiling = handoff_ceiling_scores(rows, truth, contacts, horizon)
    per_week = max(1, round(judged.capacity.per_week or 0.0))
    meta = {"model_uri": config.model_uri, "warehouse": config.warehouse,
            "period": judged.period, "horizon_days": horizon,
            "capacity_source": judged.capacity.source}  # fmt: skip
    figures = handoff_figures(bundle, rows, worked, per_week=per_week, has_sales_activity=active,
                              ceiling=ceiling, meta=meta, bootstrap_reps=config.bootstrap_reps)  # fmt: skip
    html_path = config.report
    json_path = html_path.with_suffix(".json")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_handoff_html(figures), encoding="utf-8")
    json_path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return HandoffCompareResult(figures, html_path, json_path)
