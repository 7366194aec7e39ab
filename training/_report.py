"""The comparison report: one self-contained HTML file (plots embedded) from the figures dict.

Contract: :func:`render_html` only *formats* what :func:`training._compare.comparison_figures`
computed. Every number cell carries ``data-key`` (its path in the JSON) and ``data-value``
(the exact JSON value), so a test can check that the page and the JSON agree. Plots are PNGs
embedded as data URIs: the file opens offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:right;vertical-align:top}
th{background:#f5f5f5}td.text{text-align:left;max-width:28em}
.headline{font-size:1.15em;background:#f3f8ff;border-left:4px solid #2b6cb0;padding:.8em 1em}
.flag{color:#b7791f;font-weight:600}.note{color:#666;font-size:.9em}
img{max-width:100%;border:1px solid #eee}
"""


def fmt(value: Any, kind: str = "num") -> str:
    """How a value is displayed: counts with thousands separators, rates as percentages,
    other floats with four decimals; missing values as an em dash."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if kind == "pct":
        return f"{float(value):.2%}"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (kind == "count" and float(value).is_integer()):
        return f"{int(value):,}"
    if kind == "count":
        return f"{float(value):,.1f}"
    return f"{float(value):.4f}"


def _cell(value: Any, key: str, kind: str = "num") -> str:
    raw = json.dumps(value)
    return (
        f'<td data-key="{html.escape(key)}" data-value="{html.escape(raw)}">{fmt(value, kind)}</td>'
    )


def _text(value: Any) -> str:
    return f'<td class="text">{html.escape(str(value))}</td>'


def _table(rows: list[dict[str, Any]], key: str, columns: list[tuple[str, str, str]]) -> str:
    """columns: (field, header, kind) with kind in text|num|count|pct."""
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for field, _, kind in columns:
            if kind == "text":
                cells.append(_text(row.get(field, "")))
            else:
                cells.append(_cell(row.get(field), f"{key}.{i}.{field}", kind))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{encoded}">'


def _plots(figures: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    colors = {"model": "#2b6cb0", "rules": "#c05621"}
    curves = figures["curves"]
    specs = (
        ("roc", "ROC curve", "false positive rate", "true positive rate"),
        ("pr", "Precision-recall curve", "recall", "precision"),
        ("gains", "Gains: share of conversions captured vs share of leads worked",
         "share of leads worked (best first)", "share of conversions captured"),
    )  # fmt: skip
    for name, title, xlabel, ylabel in specs:
        fig, ax = plt.subplots(figsize=(5.2, 4))
        for scorer, curve in curves.get(name, {}).items():
            ax.plot(curve["x"], curve["y"], label=scorer, color=colors.get(scorer))
        if name in ("roc", "gains"):
            ax.plot([0, 1], [0, 1], color="#aaa", linestyle=":", label="random")
        if name == "gains":
            share = figures["headline"]["capacity_leads"] / max(figures["meta"]["rows"], 1)
            ax.axvline(share, color="#555", linestyle="--", label="capacity")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.legend()
        out[name] = _png(fig)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.2, 4))
    top = 0.0
    for scorer, bins in figures["calibration"].items():
        xs = [b["mean_predicted"] for b in bins]
        ys = [b["observed"] for b in bins]
        top = max(top, *xs, *ys)
        ax.plot(xs, ys, marker="o", label=scorer, color=colors.get(scorer))
    for window, bins in figures.get("reliability", {}).items():
        if window == "comparison rows" or not bins:
            continue  # the model's line above is these rows
        xs = [b["mean_predicted"] for b in bins]
        ys = [b["observed"] for b in bins]
        top = max(top, *xs, *ys)
        ax.plot(xs, ys, marker=".", linestyle="--", label=f"model, {window}")
    ax.plot([0, top or 1], [0, top or 1], color="#aaa", linestyle=":", label="perfect")
    ax.set(title="Reliability (10 equal-count bins)", xlabel="predicted probability",
           ylabel="observed conversion rate")  # fmt: skip
    ax.legend()
    out["calibration"] = _png(fig)
    plt.close(fig)
    return out


def _reliability_windows(windows: dict[str, Any]) -> list[str]:
    """The model's reliability table per window (the comparison rows, then the windows
    measured at training)."""
    out = ["<h3>Model reliability per window</h3>",
           "<p class='note'>The same 10 equal-count bins on each window: the comparison rows, "
           "and the windows measured when the model was trained (the latest window before "
           "its test period, scored out of fold; its test period).</p>"]  # fmt: skip
    for window, bins in windows.items():  # names without dots: the data-key is a path
        out += [f"<h4>{html.escape(window)}</h4>",
                _table(bins, f"reliability.{window}",
                       [("bin", "bin", "count"), ("leads", "leads", "count"),
                        ("mean_predicted", "mean predicted", "num"),
                        ("observed", "observed rate", "num")])]  # fmt: skip
    return out


def _drift_section(drift: dict[str, Any]) -> list[str]:
    """Drift against the rows the model was fitted on: the sentences, then per feature."""
    rows = [{**f, "flags": ", ".join(w for w, on in (("relation changed", f["relation_changed"]),
                                                    ("clock-like", f["clock_like"])) if on)}
            for f in drift.get("features", [])]  # fmt: skip
    return [
        "<section id='drift'><h2>Drift since the model was fitted</h2>",
        *(f"<p>{html.escape(s)}</p>" for s in drift.get("sentences", [])),
        "<p class='note'>PSI: population stability index of each feature's bins (0.10 moderate, "
        "0.25 major). Outside: share of these rows outside the training range (numbers) or "
        "holding a value never seen in training (categories). ROC AUC of the feature alone, on "
        "the training rows and on these.</p>",
        _table(rows, "drift.features",
               [("feature", "feature", "text"), ("kind", "kind", "text"), ("psi", "PSI", "num"),
                ("outside", "outside", "pct"), ("auc_then", "ROC AUC then", "num"),
                ("auc_now", "ROC AUC now", "num"), ("flags", "", "text")]),
        "</section>",
    ]  # fmt: skip


def render_html(figures: dict[str, Any]) -> str:
    """The self-contained HTML report for a figures dict (see the module docstring)."""
    meta, head, metrics = figures["meta"], figures["headline"], figures["metrics"]
    plots = _plots(figures)
    metric_rows = []
    for label, field, kind in (
        ("ROC AUC", "roc_auc", "num"), ("PR AUC", "pr_auc", "num"), ("Brier score", "brier", "num"),
        ("log loss", "log_loss", "num"), ("expected calibration error", "ece", "num"),
        ("conversions captured at capacity", "captured_at_capacity", "count"),
        ("share of conversions captured", "share_captured_at_capacity", "pct"),
        ("lift in the top decile", "lift_top_decile", "num"),
    ):  # fmt: skip
        metric_rows.append(
            f"<tr><th>{label}</th>{_cell(metrics['model'].get(field), f'metrics.model.{field}', kind)}"
            f"{_cell(metrics['rules'].get(field), f'metrics.rules.{field}', kind)}</tr>"
        )
    sources = figures["by_source"]
    flagged = [s["lead_source"] for s in sources if s["flag"]]
    thresholds = figures["thresholds"]
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in meta.get("notes", []))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>leadscore: model vs rules, {html.escape(str(meta.get('snapshot', '')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Lead scoring: model vs rules</h1>",
        f"<p class='note'>Model {html.escape(str(meta.get('model_uri')))} (version "
        f"{html.escape(str(meta.get('model_version')))}, family "
        f"{html.escape(str(meta.get('model_family', 'lightgbm')))}), warehouse "
        f"{html.escape(str(meta.get('warehouse')))}. Comparison quarter: open leads as of "
        f"{html.escape(str(meta.get('snapshot')))}, outcomes over the next "
        f"{meta['horizon_days']} days. Generated {html.escape(str(meta.get('generated_at')))}.</p>",
        notes,
        "<section id='headline'><h2>Headline</h2>",
        f"<p class='headline' data-key='headline.winner' data-value='{html.escape(json.dumps(head['winner']))}'>"
        f"Winner at capacity: <b>{html.escape(head['winner'])}</b>. {html.escape(head['sentence'])}</p>",
        "<table><tr><th>capacity per week</th><th>leads worked</th><th>model captured</th>"
        "<th>rules captured</th><th>difference</th><th>95% interval low</th><th>95% interval high</th></tr><tr>"
        + _cell(head["capacity_per_week"], "headline.capacity_per_week", "count")
        + _cell(head["capacity_leads"], "headline.capacity_leads", "count")
        + _cell(head["model_captured"], "headline.model_captured", "count")
        + _cell(head["rules_captured"], "headline.rules_captured", "count")
        + _cell(head["difference"], "headline.difference", "count")
        + _cell(head["ci_low"], "headline.ci_low", "count")
        + _cell(head["ci_high"], "headline.ci_high", "count")
        + "</tr></table>",
        f"<p class='note'>Capacity: {html.escape(str(meta.get('capacity_source', '')))}. "
        f"Leads: {meta['rows']:,}; conversions: {meta['positives']:,.0f}.</p></section>",
        "<section id='metrics'><h2>Both scorers on the same leads</h2>",
        "<table><tr><th></th><th>model</th><th>rules</th></tr>" + "".join(metric_rows) + "</table>",
        "<p class='note'>The rules' Brier, log loss and calibration use the rule score mapped to a "
        "probability by isotonic regression fitted on the training window only.</p></section>",
        "<section id='curves'><h2>ROC, precision-recall and gains</h2>",
        plots["roc"], plots["pr"], plots["gains"], "</section>",
        "<section id='calibration'><h2>Calibration</h2>", plots["calibration"],
        "<h3>Model</h3>",
        _table(figures["calibration"]["model"], "calibration.model",
               [("bin", "bin", "count"), ("leads", "leads", "count"),
                ("mean_predicted", "mean predicted", "num"), ("observed", "observed rate", "num")]),
        *([] if "rules" not in figures["calibration"] else [
            "<h3>Rules (isotonic map from the training window)</h3>",
            _table(figures["calibration"]["rules"], "calibration.rules",
                   [("bin", "bin", "count"), ("leads", "leads", "count"),
                    ("mean_predicted", "mean predicted", "num"),
                    ("observed", "observed rate", "num")])]),
        *_reliability_windows(figures.get("reliability", {})),
        "</section>",
        "<section id='grades'><h2>Conversion by rule grade and by model tier</h2>",
        "<p class='note'>Model tiers are cut so each holds as many validation leads as the same rule grade.</p>",
        _table(figures["by_grade"], "by_grade",
               [("grade", "rule grade", "text"), ("leads", "leads", "count"),
                ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
        _table(figures["by_tier"], "by_tier",
               [("tier", "model tier", "text"), ("leads", "leads", "count"),
                ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
        "</section>",
        "<section id='quadrant'><h2>Where they disagree</h2>",
        "<p class='note'>High = among that scorer's top leads at capacity.</p>",
        _table(figures["quadrant"], "quadrant",
               [("quadrant", "quadrant", "text"), ("leads", "leads", "count"),
                ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
        "<h3>The 20 largest disagreements</h3>",
        _table(figures["top_disagreements"], "top_disagreements",
               [("contact_id", "contact", "text"), ("kind", "", "text"),
                ("probability", "probability", "num"), ("model_tier", "tier", "text"),
                ("rule_score", "rule points", "count"), ("rule_grade", "grade", "text"),
                ("converted", "converted", "count"), ("model_reasons", "model reasons", "text"),
                ("rule_hits", "rules fired", "text")]),
        "</section>",
        "<section id='sources'><h2>Lead sources</h2>",
        f"<p>Flagged as high volume, low conversion (borrowed interest?): "
        f"<span class='flag'>{html.escape(', '.join(flagged) or 'none')}</span>. "
        "<span class='note'>(The data contract has no campaign column, so sources stand in for "
        "campaigns.)</span></p>",
        _table(sources, "by_source",
               [("lead_source", "lead source", "text"), ("leads", "leads", "count"),
                ("share", "share of leads", "pct"), ("conversions", "conversions", "count"),
                ("rate", "conversion rate", "pct"), ("flag", "flag", "text")]),
        "</section>",
        "<section id='speed'><h2>Speed to lead</h2>",
        _table(figures["speed_to_lead"], "speed_to_lead",
               [("bucket", "hours to first sales touch", "text"), ("leads", "leads", "count"),
                ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
        "</section>",
        "<section id='thresholds'><h2>Thresholds</h2>",
        "<table><tr><th></th><th>threshold</th><th>leads passed</th><th>conversions among them</th></tr>"
        "<tr><th>rules (MQL threshold)</th>"
        + _cell(thresholds["mql_threshold"], "thresholds.mql_threshold", "count")
        + _cell(thresholds["rule_leads"], "thresholds.rule_leads", "count")
        + _cell(thresholds["rule_conversions"], "thresholds.rule_conversions", "count")
        + "</tr><tr><th>model (same number of leads)</th>"
        + _cell(thresholds["model_threshold"], "thresholds.model_threshold", "num")
        + _cell(thresholds["model_leads"], "thresholds.model_leads", "count")
        + _cell(thresholds["model_conversions"], "thresholds.model_conversions", "count")
        + "</tr></table></section>",
        *_drift_section(figures.get("drift", {})),
        "</body></html>",
    ]
    return "\n".join(parts)
