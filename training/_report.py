"""The comparison report: one self-contained HTML file (plots embedded) from the figures dict.

Contract: :func:`render_html` only *formats* what :func:`training._compare_job.compare`
computed: the handoff section (:func:`training._handoff_compare.handoff_figures`) first, the
pipeline section (:func:`training._compare.comparison_figures`) second, or a sentence saying
why a section is missing. Every number cell carries ``data-key`` (its path in the JSON) and ``data-value``
(the exact JSON value), so a test can check that the page and the JSON agree. Plots are PNGs
embedded as data URIs: the file opens offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
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
    out = ["<h4>Model reliability per window</h4>",
           "<p class='note'>The same 10 equal-count bins on each window: the comparison rows, "
           "and the windows measured when the model was trained (the latest window before "
           "its test period, scored out of fold; its test period).</p>"]  # fmt: skip
    for window, bins in windows.items():  # names without dots: the data-key is a path
        out += [f"<h5>{html.escape(window)}</h5>",
                _table(bins, f"reliability.{window}",
                       [("bin", "bin", "count"), ("leads", "leads", "count"),
                        ("mean_predicted", "mean predicted", "num"),
                        ("observed", "observed rate", "num")])]  # fmt: skip
    return out


def _drift_section(drift: dict[str, Any], kind: str) -> list[str]:
    """Drift against the rows the model was fitted on: the sentences, then per feature."""
    rows = [{**f, "flags": ", ".join(w for w, on in (("relation changed", f["relation_changed"]),
                                                    ("clock-like", f["clock_like"])) if on)}
            for f in drift.get("features", [])]  # fmt: skip
    return [
        f"<section id='{kind}-drift'><h3>Drift since the model was fitted</h3>",
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


SECTION_TITLES: dict[str, str] = {
    "handoff": "1. The handoff: which new leads to pass to sales",
    "pipeline": "2. Prioritising leads already in the pipeline",
}
_PREFIXED = re.compile(r"data-key=(['\"])")


def render_html(figures: dict[str, Any]) -> str:
    """The self-contained HTML report for a figures dict (see the module docstring): the
    handoff section first, then the pipeline section; each number's ``data-key`` is its
    path from the top of the JSON (``handoff.metrics.model.roc_auc``)."""
    meta = figures["meta"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>leadscore: model vs rules ({html.escape(str(meta.get('contract', '')))})</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Lead scoring: model vs rules</h1>",
        f"<p class='note'>Warehouse {html.escape(str(meta.get('warehouse')))}, contract "
        f"{html.escape(str(meta.get('contract')))}. Generated "
        f"{html.escape(str(meta.get('generated_at')))}.</p>",
        *(f"<p class='note'>{html.escape(n)}</p>" for n in meta.get("notes", [])),
    ]
    for kind, title in SECTION_TITLES.items():
        section = figures.get(kind) or {"missing": "not compared"}
        parts.append(f"<section id='{kind}'><h2>{html.escape(title)}</h2>")
        if "missing" in section:
            parts.append(f"<p class='flag' data-missing='{kind}'>{html.escape(section['missing'])}"
                         "</p>")  # fmt: skip
        else:
            body = "\n".join(_section_body(section, kind))
            parts.append(_PREFIXED.sub(rf"data-key=\g<1>{kind}.", body))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _headline(figures: dict[str, Any], kind: str) -> list[str]:
    """The section's verdict at capacity: each week's picks at the handoff, the period's
    top leads in the pipeline."""
    head, meta = figures["headline"], figures["meta"]
    winner = (f"<p class='headline' data-key='headline.winner' "
              f"data-value='{html.escape(json.dumps(head['winner']))}'>Winner at capacity: "
              f"<b>{html.escape(head['winner'])}</b>. {html.escape(head['sentence'])}</p>")  # fmt: skip
    if "selective_labels" in figures:  # the handoff, each week's picks as sales work them
        fields = [("per_week", "new leads passed per week"), ("weeks", "weeks"),
                  ("leads", "new leads"), ("wins", "won"), ("model_wins", "model's picks won"),
                  ("rules_wins", "rules' picks won"), ("ceiling_wins", "ceiling's picks won"),
                  ("difference", "difference"), ("ci_low", "95% interval low"),
                  ("ci_high", "95% interval high")]  # fmt: skip
        fields = [f for f in fields if f[0] != "ceiling_wins" or head.get("ceiling_wins") is not None]
        sel = figures["selective_labels"]
        columns = [("scorer", "scorer", "text"), ("picked", "picked", "count"),
                   ("wins", "wins", "count"), ("never_worked", "never worked", "count"),
                   ("worked_share", "worked share", "pct"),
                   ("conversion_among_worked", "conversion among worked", "pct"),
                   ("wins_minus_reference", "wins minus rules", "count"),
                   ("ci_low", "95% interval low", "count"),
                   ("ci_high", "95% interval high", "count")]  # fmt: skip
        extra = [
            "<h3>Selective labels: only leads sales worked can close</h3>",
            "<p class='note'>Never worked: picked, but sales never touched the lead; its outcome "
            "is unknown, not a loss.</p>",
            _table(sel["scorers"], "selective_labels.scorers", columns),
            _table(sel["all_leads"], "selective_labels.all_leads", columns[:6]),
            *(f"<p class='flag'>{html.escape(n)}</p>" for n in sel["notes"]),
        ]
    else:
        fields = [("capacity_per_week", "capacity per week"), ("capacity_leads", "leads worked"),
                  ("model_captured", "model captured"), ("rules_captured", "rules captured"),
                  ("difference", "difference"), ("ci_low", "95% interval low"),
                  ("ci_high", "95% interval high")]  # fmt: skip
        extra = []
    table = ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for _, h in fields) + "</tr><tr>"
             + "".join(_cell(head[f], f"headline.{f}", "count") for f, _ in fields)
             + "</tr></table>")  # fmt: skip
    return [
        f"<section id='{kind}-headline'><h3>Headline</h3>", winner, table,
        f"<p class='note'>Capacity: {html.escape(str(meta.get('capacity_source', '')))}. "
        f"Leads: {meta['rows']:,}; conversions: {meta['positives']:,.0f}.</p>", *extra,
        "</section>",
    ]  # fmt: skip


def _sales_actions(actions: dict[str, Any] | None) -> list[str]:
    if not actions:
        return []
    return [
        "<section><h3>The model's top features, and which read sales' own work</h3>",
        f"<p class='flag'>{html.escape(actions['sentence'])}</p>",
        _table(actions["top_features"], "sales_actions.top_features",
               [("feature", "feature", "text"), ("importance_share", "share of importance", "pct"),
                ("reads", "reads", "text")]),
        "</section>",
    ]  # fmt: skip


def _section_body(figures: dict[str, Any], kind: str) -> list[str]:
    """One decision's comparison, its keys relative to the section (see render_html)."""
    meta, metrics = figures["meta"], figures["metrics"]
    plots = _plots(figures)
    scorers = [s for s in ("model", "rules", "ceiling") if s in metrics]
    metric_rows = []
    for label, field, kind_ in (
        ("ROC AUC", "roc_auc", "num"), ("PR AUC", "pr_auc", "num"), ("Brier score", "brier", "num"),
        ("log loss", "log_loss", "num"), ("expected calibration error", "ece", "num"),
        ("conversions captured at capacity", "captured_at_capacity", "count"),
        ("share of conversions captured", "share_captured_at_capacity", "pct"),
        ("lift in the top decile", "lift_top_decile", "num"),
    ):  # fmt: skip
        metric_rows.append(f"<tr><th>{label}</th>" + "".join(
            _cell(metrics[s][field], f"metrics.{s}.{field}", kind_) if field in metrics[s]
            else "<td>—</td>" for s in scorers) + "</tr>")  # fmt: skip
    sources = figures["by_source"]
    flagged = [s["lead_source"] for s in sources if s["flag"]]
    thresholds = figures["thresholds"]
    never = "rule_never_worked" in thresholds
    when = ("new leads created in the test period, each at its own handoff"
            if kind == "handoff" else f"open leads as of {meta.get('snapshot')}")
    speed = figures.get("speed_to_lead")
    return [
        f"<p class='note'>Model {html.escape(str(meta.get('model_uri')))} (version "
        f"{html.escape(str(meta.get('model_version')))}, family "
        f"{html.escape(str(meta.get('model_family', 'lightgbm')))}). Rows: "
        f"{html.escape(when)}; outcomes over the next {meta['horizon_days']} days; measured "
        f"against {html.escape(str(meta.get('reference')))}.</p>",
        *(f"<p class='note'>{html.escape(n)}</p>" for n in meta.get("notes", [])),
        *_headline(figures, kind),
        f"<section id='{kind}-metrics'><h3>Every scorer on the same leads</h3>",
        "<table><tr><th></th>" + "".join(f"<th>{s}</th>" for s in scorers) + "</tr>"
        + "".join(metric_rows) + "</table>",
        "<p class='note'>The rules' Brier, log loss and calibration use the rule score mapped to a "
        "probability by isotonic regression fitted on the training window only.</p></section>",
        f"<section id='{kind}-curves'><h3>ROC, precision-recall and gains</h3>",
        plots["roc"], plots["pr"], plots["gains"], "</section>",
        f"<section id='{kind}-calibration'><h3>Calibration</h3>", plots["calibration"],
        "<h4>Model</h4>",
        _table(figures["calibration"]["model"], "calibration.model",
               [("bin", "bin", "count"), ("leads", "leads", "count"),
                ("mean_predicted", "mean predicted", "num"), ("observed", "observed rate", "num")]),
        *([] if "rules" not in figures["calibration"] else [
            "<h4>Rules (isotonic map from the training window)</h4>",
            _table(figures["calibration"]["rules"], "calibration.rules",
                   [("bin", "bin", "count"), ("leads", "leads", "count"),
                    ("mean_predicted", "mean predicted", "num"),
                    ("observed", "observed rate", "num")])]),
        *_reliability_windows(figures.get("reliability", {})),
        "</section>",
        f"<section id='{kind}-grades'><h3>Conversion by rule grade and by model tier</h3>",
        "<p class='note'>Model tiers are cut so each holds as many validation leads as the same rule grade.</p>",
        _table(figures["by_grade"], "by_grade",
               [("grade", "rule grade", "text"), ("leads", "leads", "count"),
                ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
        _table(figures["by_tier"], "by_tier",
               [("tier", "model tier", "text"), ("leads", "leads", "count"),
                ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
        "</section>",
        f"<section id='{kind}-thresholds'><h3>The MQL threshold against the model's</h3>",
        "<table><tr><th></th><th>threshold</th><th>leads passed</th><th>conversions among them</th>"
        + ("<th>never worked</th>" if never else "") + "</tr>"
        "<tr><th>rules (MQL threshold)</th>"
        + _cell(thresholds["mql_threshold"], "thresholds.mql_threshold", "count")
        + _cell(thresholds["rule_leads"], "thresholds.rule_leads", "count")
        + _cell(thresholds["rule_conversions"], "thresholds.rule_conversions", "count")
        + (_cell(thresholds["rule_never_worked"], "thresholds.rule_never_worked", "count")
           if never else "")
        + "</tr><tr><th>model (same number of leads)</th>"
        + _cell(thresholds["model_threshold"], "thresholds.model_threshold", "num")
        + _cell(thresholds["model_leads"], "thresholds.model_leads", "count")
        + _cell(thresholds["model_conversions"], "thresholds.model_conversions", "count")
        + (_cell(thresholds["model_never_worked"], "thresholds.model_never_worked", "count")
           if never else "")
        + "</tr></table></section>",
        f"<section id='{kind}-quadrant'><h3>Where they disagree</h3>",
        "<p class='note'>High = among that scorer's top leads at capacity.</p>",
        _table(figures["quadrant"], "quadrant",
               [("quadrant", "quadrant", "text"), ("leads", "leads", "count"),
                ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
        "<h4>The 20 largest disagreements</h4>",
        _table(figures["top_disagreements"], "top_disagreements",
               [("contact_id", "contact", "text"), ("kind", "", "text"),
                ("probability", "probability", "num"), ("model_tier", "tier", "text"),
                ("rule_score", "rule points", "count"), ("rule_grade", "grade", "text"),
                ("converted", "converted", "count"), ("model_reasons", "model reasons", "text"),
                ("rule_hits", "rules fired", "text")]),
        "</section>",
        *_sales_actions(figures.get("sales_actions")),
        f"<section id='{kind}-sources'><h3>Lead sources</h3>",
        f"<p>Flagged as high volume, low conversion (borrowed interest?): "
        f"<span class='flag'>{html.escape(', '.join(flagged) or 'none')}</span>.</p>",
        _table(sources, "by_source",
               [("lead_source", "lead source", "text"), ("leads", "leads", "count"),
                ("share", "share of leads", "pct"), ("conversions", "conversions", "count"),
                ("rate", "conversion rate", "pct"), ("flag", "flag", "text")]),
        "</section>",
        *([] if speed is None else [
            f"<section id='{kind}-speed'><h3>Speed to lead</h3>",
            _table(speed, "speed_to_lead",
                   [("bucket", "hours to first sales touch", "text"), ("leads", "leads", "count"),
                    ("conversions", "conversions", "count"), ("rate", "conversion rate", "pct")]),
            "</section>"]),
        *_drift_section(figures.get("drift", {}), kind),
    ]  # fmt: skip
