"""Selective labels at the handoff: whom each scorer would have passed to sales, and whether
sales ever worked them.

Contract: :func:`selective_label_figures` takes one row per lead at its own handoff time
(``contact_id``, ``as_of`` = the handoff, ``label``), each scorer's scores on those rows, a
boolean ``worked`` per row (the lead has at least one sales-owned event in the data), and the
weekly capacity ``per_week``. Leads are grouped by the calendar week (Monday 00:00) of their
handoff; in each week each scorer picks its ``per_week`` highest-scored leads (all of them in
a week with fewer; ties broken by ``contact_id``, lowest first). For each scorer it returns
the picks, their wins, how many were never worked (their outcome is unknown, not a loss),
the conversion among the worked picks, and a bootstrap interval (weeks resampled) of each
scorer's wins minus the reference's. Plain-words ``notes`` say when the reference's picks
were worked more than another scorer's (sales' routing favours it), and, when the data has
no sales activity at all, that the comparison cannot separate lead quality from follow-up.
The figures are JSON-ready (only str, int, float, bool, None, lists and dicts); the input
frame is never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import ConfigError

WORKED_MORE_MARGIN = 0.05  # a gap in worked share above this is called out in the notes


def handoff_weeks(as_of: pd.Series) -> np.ndarray:
    """The Monday 00:00 starting the week of each handoff time (datetime64[ns])."""
    times = pd.to_datetime(as_of)
    days = times.dt.normalize()
    return (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).to_numpy()


def weekly_top_k(frame: pd.DataFrame, score: np.ndarray, per_week: int) -> np.ndarray:
    """Boolean mask of the rows each week's top ``per_week`` picks (see module contract)."""
    order = pd.DataFrame(
        {"week": handoff_weeks(frame["as_of"]), "score": -np.asarray(score, dtype="float64"),
         "contact_id": frame["contact_id"].to_numpy(), "row": np.arange(len(frame))}
    ).sort_values(["week", "score", "contact_id"], kind="mergesort")  # fmt: skip
    rank = order.groupby("week", sort=False).cumcount().to_numpy()
    picked = np.zeros(len(frame), dtype=bool)
    picked[order["row"].to_numpy()[rank < per_week]] = True
    return picked


def _summary(label: np.ndarray, worked: np.ndarray, picked: np.ndarray) -> dict[str, Any]:
    n_worked = int((picked & worked).sum())
    wins_worked = int((picked & worked & label).sum())
    return {
        "picked": int(picked.sum()),
        "wins": int((picked & label).sum()),
        "never_worked": int((picked & ~worked).sum()),
        "worked": n_worked,
        "worked_share": float(n_worked / picked.sum()) if picked.any() else float("nan"),
        "wins_among_worked": wins_worked,
        "conversion_among_worked": float(wins_worked / n_worked) if n_worked else float("nan"),
    }


def selective_label_figures(
    frame: pd.DataFrame,
    scores: Mapping[str, np.ndarray],
    worked: np.ndarray,
    *,
    per_week: int,
    reference: str = "rules",
    has_sales_activity: bool | None = None,
    bootstrap_reps: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """The selective-labels figures (see the module contract). ``has_sales_activity``
    defaults to whether any lead was worked."""
    if isinstance(per_week, bool) or not isinstance(per_week, int) or per_week <= 0:
        raise ConfigError(f"per_week must be a positive integer, got {per_week!r}")
    if reference not in scores:
        raise ConfigError(f"reference must be one of the scorers {sorted(scores)}, got "
                          f"{reference!r}")  # fmt: skip
    worked = np.asarray(worked, dtype=bool)
    for name, score in {**scores, "worked": worked}.items():
        if len(score) != len(frame):
            raise ConfigError(f"{name} must have one value per row ({len(frame)}), got "
                              f"{len(score)}")  # fmt: skip
    label = frame["label"].to_numpy().astype(bool)
    weeks = handoff_weeks(frame["as_of"])
    week_ids, week_index = np.unique(weeks, return_inverse=True)
    picks = {name: weekly_top_k(frame, score, per_week) for name, score in scores.items()}
    scorers = [
        {"scorer": name, **_summary(label, worked, picked)} for name, picked in picks.items()
    ]
    everyone = {"scorer": "all leads", **_summary(label, worked, np.ones(len(frame), bool))}

    # bootstrap over weeks: wins of each scorer minus the reference's
    rng = np.random.default_rng(seed)
    n_weeks = len(week_ids)
    wins_by_week = {name: np.bincount(week_index, weights=(p & label).astype(float),
                                      minlength=n_weeks) for name, p in picks.items()}  # fmt: skip
    draws = rng.integers(0, n_weeks, (bootstrap_reps, n_weeks)) if n_weeks else None
    for row in scorers:
        diff = wins_by_week[row["scorer"]] - wins_by_week[reference]
        row["wins_minus_reference"] = int(diff.sum())
        if draws is None or row["scorer"] == reference:
            row["ci_low"] = row["ci_high"] = 0.0 if draws is not None else float("nan")
        else:
            sums = diff[draws].sum(axis=1)
            row["ci_low"], row["ci_high"] = (float(v) for v in np.percentile(sums, [2.5, 97.5]))

    active = bool(worked.any()) if has_sales_activity is None else has_sales_activity
    notes = []
    if not active:
        notes.append("The data has no sales activity (no event of a sales-owned type), so this "
                     "comparison cannot separate lead quality from follow-up: a lead may have "
                     "converted because sales worked it, not because it was better.")  # fmt: skip
    else:
        ref = next(r for r in scorers if r["scorer"] == reference)
        for row in scorers:
            if row["scorer"] == reference or not row["picked"]:
                continue
            if ref["worked_share"] > row["worked_share"] + WORKED_MORE_MARGIN:
                notes.append(
                    f"Sales worked {ref['worked_share']:.0%} of the {reference}' picks but only "
                    f"{row['worked_share']:.0%} of the {row['scorer']}'s: leads only close when "
                    f"sales work them, and today's routing follows the {reference}, so the "
                    f"{row['scorer']}'s wins are understated. Compare the conversion among "
                    f"worked picks ({row['conversion_among_worked']:.1%} vs "
                    f"{ref['conversion_among_worked']:.1%}); the "
                    f"{row['never_worked']:,} never-worked picks are unknown, not losses."
                )
    return {
        "per_week": per_week,
        "weeks": n_weeks,
        "reference": reference,
        "has_sales_activity": active,
        "scorers": scorers,
        "all_leads": [everyone],
        "bootstrap_reps": bootstrap_reps,
        "notes": notes,
    }
