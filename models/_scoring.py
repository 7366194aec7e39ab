"""Both scorers side by side: the model probability and the rule score for every lead.

Contract: :func:`score_leads` takes lead rows and returns a new frame with one row per
input row, in input order, with columns :data:`SCORE_COLUMNS`. The MLflow pyfunc, batch
scoring and the HTTP service all call it, so a lead gets the same numbers everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features import derive_attributes
from features._definitions import AGE_FEATURE
from features._point_in_time import LEAD_ATTRIBUTE_COLUMNS
from models._lead_model import LeadModel
from models._rules import RuleScorer

SCORE_COLUMNS: tuple[str, ...] = (
    "probability",
    "model_tier",
    "rule_score",
    "rule_grade",
    "reasons",
    "rule_hits",
)
TIERS: tuple[str, ...] = ("A", "B", "C", "D")


@dataclass
class ScoringBundle:
    """Everything needed to score a lead: both fitted scorers, tier cut-offs, metadata.

    ``tier_thresholds`` maps tiers A, B, C to the minimum probability of that tier
    (descending); anything below C's is D.
    """

    lead_model: LeadModel
    rule_scorer: RuleScorer
    tier_thresholds: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)

    def tier(self, probability: NDArray[np.float64]) -> NDArray[np.object_]:
        """Model tier A-D from calibrated probabilities."""
        out = np.full(len(probability), "D", dtype=object)
        for tier in ("C", "B", "A"):
            out[probability >= self.tier_thresholds[tier]] = tier
        return out


def tier_thresholds_matching_grades(
    probability: NDArray[np.float64], grades: NDArray[np.object_]
) -> dict[str, float]:
    """Probability cut-offs so that model tiers A, B, C hold as many leads as rule grades
    A, B, C do on the same rows: the two tierings then compare at equal volume."""
    order = np.sort(probability)[::-1]
    thresholds: dict[str, float] = {}
    cumulative = 0
    for tier in ("A", "B", "C"):
        cumulative = min(cumulative + int((grades == tier).sum()), len(order))
        if cumulative == 0:
            thresholds[tier] = float("inf")
            continue
        cut = order[cumulative - 1]
        if cumulative < len(order) and order[cumulative] == cut:
            # A tie group straddles the cut (stale leads often share one probability):
            # keep the whole group in the lower tier rather than swell this one.
            above = order[:cumulative][order[:cumulative] > cut]
            cut = above.min() if above.size else cut
        thresholds[tier] = float(cut)
    # keep them non-increasing even with ties
    thresholds["B"] = min(thresholds["B"], thresholds["A"])
    thresholds["C"] = min(thresholds["C"], thresholds["B"])
    return thresholds


def score_leads(bundle: ScoringBundle, leads: pd.DataFrame, *, reasons: bool = True,
                top_reasons: int = 3) -> pd.DataFrame:  # fmt: skip
    """Score lead rows with both scorers (see module docstring)."""
    rows = leads.reset_index(drop=True)
    # Every lead column is optional: an absent attribute or age is unknown, for both scorers.
    absent = [c for c in (*LEAD_ATTRIBUTE_COLUMNS, AGE_FEATURE) if c not in rows.columns]
    if absent:
        rows = rows.assign(**dict.fromkeys(absent, None))
    rows = derive_attributes(rows)
    matrix = bundle.lead_model.encode(rows)  # once, for the probability and the reasons
    probability = bundle.lead_model.predict_proba_encoded(matrix)
    points, hits = bundle.rule_scorer.score_and_explain(rows)
    if reasons and len(rows):
        explained = bundle.lead_model.explain_encoded(matrix, top_n=top_reasons)
        reason_text = ["; ".join(r.text for r in rs) for rs in explained]
    else:
        reason_text = [""] * len(rows)
    return pd.DataFrame(
        {
            "probability": probability,
            "model_tier": bundle.tier(probability),
            "rule_score": points.astype("float64"),
            "rule_grade": bundle.rule_scorer.grade(points),
            "reasons": reason_text,
            "rule_hits": [RuleScorer.format_hits(h) for h in hits],
        },
        columns=list(SCORE_COLUMNS),
    )
