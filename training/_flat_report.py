"""The flat-mode comparison report: one self-contained HTML page from the figures dict.

Contract: :func:`render_flat_html` only *formats* what
:func:`training._flat_evaluation.flat_figures` computed, in the house style of
:mod:`training._report`: every number cell carries ``data-key`` (its path in the JSON) and
``data-value`` (the exact JSON value), so a test can check that the page and the JSON agree.
The split sentence and the minimum-data verdict sit at the top, next to the headline.
No plots: the page has no dependencies and opens offline.
"""

from __future__ import annotations

import html
import json
from typing import Any

from leadscore.training._report import _STYLE, _cell, _table, fmt

_SCORER_NAMES = {
    "model": "model (LightGBM)",
    "baseline": "baseline (logistic regression)",
    "rule_score": "rule score (the contract's)",
}
_METRICS = (
    ("ROC AUC", "roc_auc", "num"),
    ("PR AUC", "pr_auc", "num"),
    ("Brier score", "brier", "num"),
    ("log loss", "log_loss", "num"),
    ("expected calibration error", "ece", "num"),
    ("conversions captured at capacity", "captured_at_capacity", "count"),
    ("share of conversions captured", "share_captured_at_capacity", "pct"),
    ("lift in the top decile", "lift_top_decile", "num"),
)


def _attr(value: Any) -> str:
    return html.escape(json.dumps(value), quote=True)


def render_flat_html(figures: dict[str, Any]) -> str:
    """The self-contained HTML page for a flat figures dict (see the module docstring)."""
    meta, head, metrics = figures["meta"], figures["headline"], figures["metrics"]
    minimum, data, leakage = figures["minimum_data"], figures["data"], figures["leakage"]
    scorers = list(metrics)
    metric_rows = "".join(
        f"<tr><th>{label}</th>"
        + "".join(_cell(metrics[s].get(key), f"metrics.{s}.{key}", kind) for s in scorers)
        + "</tr>"
        for label, key, kind in _METRICS
    )
    reference = _SCORER_NAMES[head["reference"]]
    verdict_class = "headline" if minimum["trustworthy"] else "headline flag"
    calibration = "".join(
        f"<h3>{html.escape(_SCORER_NAMES[name])}</h3>"
        + _table(
            bins,
            f"calibration.{name}",
            [
                ("bin", "bin", "count"),
                ("leads", "leads", "count"),
                ("mean_predicted", "mean predicted", "num"),
                ("observed", "observed rate", "num"),
            ],
        )
        for name, bins in figures["calibration"].items()
    )
    excluded = (
        "".join(
            f"<li><b>{html.escape(e['column'])}</b>: {html.escape(e['reason'])}</li>"
            for e in data["excluded_columns"]
        )
        or "<li>none</li>"
    )
    excluded_rows = (
        "".join(
            f"<li>{e['count']:,} rows: {html.escape(e['reason'])}</li>"
            for e in data["excluded_rows"]
        )
        or "<li>none</li>"
    )
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in meta.get("notes", []))
    data_notes = "".join(f"<li>{html.escape(n)}</li>" for n in data["notes"])
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>leadscore (flat): model vs {html.escape(reference)}, "
        f"{html.escape(str(meta.get('table', '')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Lead scoring on {html.escape(str(meta.get('table')))}: model vs "
        f"{html.escape(reference)}</h1>",
        f"<p class='note'>Model {html.escape(str(meta.get('model_uri')))} (version "
        f"{html.escape(str(meta.get('model_version')))}); contract "
        f"{html.escape(str(meta.get('contract')))}. Generated "
        f"{html.escape(str(meta.get('generated_at')))}.</p>",
        notes,
        "<section id='split'><h2>How the rows were split</h2>",
        f"<p class='headline' data-key='meta.split' data-value='{_attr(meta['split'])}'>"
        f"{html.escape(meta['split'])}.</p>",
        "<table><tr><th>test leads</th><th>test conversions</th><th>test won rate</th>"
        "<th>training rows</th><th>training won rate</th></tr><tr>"
        + _cell(meta["rows"], "meta.rows", "count")
        + _cell(meta["positives"], "meta.positives", "count")
        + _cell(meta["base_rate"], "meta.base_rate", "pct")
        + _cell(meta["train_rows"], "meta.train_rows", "count")
        + _cell(meta["train_base_rate"], "meta.train_base_rate", "pct")
        + "</tr></table></section>",
        "<section id='headline'><h2>Headline</h2>",
        f"<p class='{verdict_class}' data-key='minimum_data.trustworthy' "
        f"data-value='{_attr(minimum['trustworthy'])}'>{html.escape(minimum['sentence'])}</p>",
        f"<p class='headline' data-key='headline.winner' data-value='{_attr(head['winner'])}'>"
        f"Winner at capacity: <b>{html.escape(head['winner'])}</b>. "
        f"{html.escape(head['sentence'])}</p>",
        f"<table><tr><th>leads worked</th><th>model captured</th><th>{html.escape(reference)} "
        "captured</th><th>difference</th><th>95% interval low</th><th>95% interval high</th>"
        "<th>ROC AUC difference, 95% interval</th></tr><tr>"
        + _cell(head["capacity_leads"], "headline.capacity_leads", "count")
        + _cell(head["model_captured"], "headline.model_captured", "count")
        + _cell(head["reference_captured"], "headline.reference_captured", "count")
        + _cell(head["difference"], "headline.difference", "count")
        + _cell(head["ci_low"], "headline.ci_low", "count")
        + _cell(head["ci_high"], "headline.ci_high", "count")
        + f"<td>[{fmt(head['roc_auc_ci_low'])}, {fmt(head['roc_auc_ci_high'])}]</td>"
        + "</tr></table>",
        f"<p class='note'>{html.escape(meta['capacity_source'])}.</p></section>",
        "<section id='metrics'><h2>Every scorer on the same test leads</h2>",
        "<table><tr><th></th>"
        + "".join(f"<th>{html.escape(_SCORER_NAMES[s])}</th>" for s in scorers)
        + "</tr>" + metric_rows + "</table>",
        "<p class='note'>All scorers were fitted on the same training rows.",
        " The rule score's ranking metrics use the score itself; its Brier score, log loss and "
        "calibration use it mapped to a probability by isotonic regression fitted on the "
        "training rows." if "rule_score" in metrics else "",
        "</p></section>",
        "<section id='calibration'><h2>Calibration (10 equal-count bins)</h2>",
        calibration, "</section>",
        "<section id='tiers'><h2>Conversion by model tier</h2>",
        "<p class='note'>Tiers A, B, C hold the top 10%, next 20% and next 30% of the "
        "validation rows by probability; D the rest.</p>",
        _table(figures["by_tier"], "by_tier",
               [("tier", "model tier", "text"), ("leads", "leads", "count"),
                ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
        "</section>",
        "<section id='drift'><h2>Drift: test rows against training rows</h2>",
        "<p class='note'>Separation: how well the column alone tells test rows from training "
        "rows (ROC AUC, 0.5 = same distribution, 1.0 = the column is a clock). Outside: share "
        "of test values outside the training range (numbers) or never seen in training "
        "(categories); a tree model scores them like the edge of what it saw.</p>",
        _table(figures["drift"], "drift",
               [("column", "column", "text"), ("kind", "kind", "text"),
                ("separation", "separation", "num"), ("outside_share", "outside", "pct"),
                ("train_min", "training min", "num"), ("train_max", "training max", "num")]),
        "</section>",
        "<section id='leakage'><h2>Leakage guard (training rows)</h2>",
        f"<pre>{html.escape(leakage['table'])}</pre></section>",
        "<section id='data'><h2>What was read and left out</h2>",
        f"<p>{data['rows_read']:,} rows read, {data['labelled_rows']:,} labelled, "
        f"{data['open_rows']:,} open (not decided yet).</p>",
        f"<h3>Columns left out</h3><ul>{excluded}</ul>",
        f"<h3>Rows left out of training</h3><ul>{excluded_rows}</ul>",
        f"<ul>{data_notes}</ul>" if data_notes else "",
        "</section></body></html>",
    ]  # fmt: skip
    return "\n".join(parts)
