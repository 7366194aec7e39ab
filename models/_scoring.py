"""Both scorers side by side: the model probability and the rule score for every lead.

Contract: :func:`score_leads` takes lead rows and returns a new frame with one row per
input row, in input order, with columns :data:`SCORE_COLUMNS`. It is :func:`score_columns`
(lead rows as :class:`~features._attributes.LeadColumns`, scores as :class:`LeadScores`)
plus a frame. The MLflow pyfunc and batch scoring call score_leads, the HTTP service calls
score_columns on columns built without pandas: the same code, so a lead gets the same numbers
everywhere, and one lead costs no pandas machinery while a million cost no Python per row.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features._attributes import Coded, LeadColumns, derive_columns, missing_column
from leadscore.features._errors import ModelError
from leadscore.features._spec import FeatureSpec
from leadscore.models._baseline import LogisticBaseline
from leadscore.models._lead_model import LeadModel
from leadscore.models._rules import GRADE_LETTERS, RuleScorer, first_met
from numpy.typing import NDArray

FamilyModel = LeadModel | LogisticBaseline
"""A model of one of the families a bundle can hold: LightGBM or logistic regression."""

SCORE_COLUMNS: tuple[str, ...] = (
    "probability",
    "model_tier",
    "rule_score",
    "rule_grade",
    "reasons",
    "rule_hits",
)
TIERS: tuple[str, ...] = ("A", "B", "C", "D")
# From this many leads on, the rules are scored on a thread of their own beside the model.
OVERLAP_ROWS = 10_000
# The model encodes and predicts this many leads at a time (a 30 MB matrix).
MODEL_CHUNK_ROWS = 65_536


BUNDLE_FORMAT_VERSION = 1
"""The version of the on-disk bundle layout (:meth:`ScoringBundle.save`). ``model_family``
in ``bundle.json`` names the family whose files hold the model (absent: LightGBM, as every
bundle written before the logistic family could be registered); each family's file carries
a ``format_version`` of its own."""
MODEL_FAMILIES: dict[str, type[LeadModel] | type[LogisticBaseline]] = {
    "lightgbm": LeadModel, "logistic": LogisticBaseline}  # fmt: skip


@dataclass
class ScoringBundle:
    """Everything needed to score a lead: both fitted scorers, tier cut-offs, metadata.

    ``lead_model`` is the registered model, of either family (LightGBM or logistic
    regression: both encode, predict, explain and save alike). ``tier_thresholds`` maps
    tiers A, B, C to the minimum probability of that tier (descending); anything below C's
    is D. The feature spec is the model's.

    On disk (:meth:`save`, :meth:`load`) a bundle is a folder of files independent of our
    code layout: ``bundle.json`` (``format_version``, the spec, tiers, metadata),
    ``rules.json`` (the rules YAML and their calibration), and the files of the model's
    family (``model_family`` in ``bundle.json``): ``lightgbm.txt`` and ``lead_model.json``
    for LightGBM, ``logistic_model.json`` for logistic regression.
    """

    lead_model: FamilyModel
    rule_scorer: RuleScorer
    tier_thresholds: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> FeatureSpec:
        """The feature spec the model was trained on."""
        return self.lead_model.spec

    def save(self, directory: Path) -> Path:
        """Write the bundle into ``directory`` (created); returns it."""
        directory.mkdir(parents=True, exist_ok=True)
        self.lead_model.save(directory)
        (directory / "rules.json").write_text(json.dumps(self.rule_scorer.to_dict(), indent=1),
                                              encoding="utf-8")  # fmt: skip
        head = {"format_version": BUNDLE_FORMAT_VERSION, "model_family": self.lead_model.family,
                "spec": self.spec.to_dict(), "tier_thresholds": self.tier_thresholds,
                "metadata": self.metadata}  # fmt: skip
        (directory / "bundle.json").write_text(json.dumps(head, indent=1, default=str),
                                               encoding="utf-8")  # fmt: skip
        return directory

    @classmethod
    def load(cls, directory: Path) -> ScoringBundle:
        """Read a bundle :meth:`save` wrote; a ModelError names the file and an unknown
        ``format_version`` or a missing part."""
        where = f"model bundle {str(directory)!r}"
        try:
            head = json.loads((directory / "bundle.json").read_text(encoding="utf-8"))
            rules = json.loads((directory / "rules.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{where}: cannot read it ({exc})") from None
        version = head.get("format_version")
        if version != BUNDLE_FORMAT_VERSION:
            raise ModelError(
                f"{where}: format_version {version!r} is not one this leadscore reads (it "
                f"reads {BUNDLE_FORMAT_VERSION}); install the leadscore version that wrote "
                "the model, or retrain it"
            )
        family = head.get("model_family", "lightgbm")
        if family not in MODEL_FAMILIES:
            raise ModelError(f"{where}: model_family {family!r} is not one this leadscore "
                             f"reads ({', '.join(MODEL_FAMILIES)})")  # fmt: skip
        spec = FeatureSpec.from_dict(head["spec"], f"{where} (bundle.json spec)")
        return cls(
            lead_model=MODEL_FAMILIES[family].load(directory, spec),
            rule_scorer=RuleScorer.from_dict(rules),
            tier_thresholds={k: float(v) for k, v in head["tier_thresholds"].items()},
            metadata=dict(head.get("metadata", {})),
        )

    def tier(self, probability: NDArray[np.float64]) -> NDArray[np.object_]:
        """Model tier A-D from calibrated probabilities."""
        return np.asarray(TIERS, dtype=object)[self.tier_codes(probability)]

    def tier_codes(self, probability: NDArray[np.float64]) -> NDArray[np.intp]:
        """As :meth:`tier`, as indices into :data:`TIERS`: the best tier whose minimum is met."""
        cuts = self.tier_thresholds
        return first_met(np.asarray(probability, dtype="float64"), [cuts[t] for t in TIERS[:3]])


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


@dataclass(frozen=True)
class LeadScores:
    """Both scores of a batch of leads, column by column (the columns of
    :data:`SCORE_COLUMNS`); text columns as codes into their distinct texts."""

    probability: NDArray[np.float64]
    model_tier: Coded
    rule_score: NDArray[np.float64]
    rule_grade: Coded
    reasons: Coded
    rule_hits: Coded

    def frame(self) -> pd.DataFrame:
        """The scores as a frame with columns :data:`SCORE_COLUMNS`, one row per lead."""
        empty = len(self.probability) == 0  # no leads: reasons and hits are float64, as ever
        return pd.DataFrame(
            {
                "probability": self.probability,
                "model_tier": self.model_tier.array(),
                "rule_score": self.rule_score,
                "rule_grade": self.rule_grade.array(),
                "reasons": [] if empty else self.reasons.array(),
                "rule_hits": [] if empty else self.rule_hits.array(),
            },
            columns=list(SCORE_COLUMNS),
        )


def score_columns(bundle: ScoringBundle, leads: LeadColumns, *, reasons: bool = True,
                  top_reasons: int = 3) -> LeadScores:  # fmt: skip
    """Score lead rows given as columns with both scorers, one score per row, in order."""
    n = leads.n_rows
    spec = bundle.spec
    # Every lead column is optional: an absent attribute or age is unknown, for both scorers
    # (absent engagement counts are zero: the model and the rules say so themselves).
    engagement = set(spec.engagement_names())
    absent = {c: missing_column(n) for c in spec.input_columns()
              if c not in leads and c not in engagement}  # fmt: skip
    rows = leads.with_columns(absent)
    rows = rows.with_columns(derive_columns(rows, spec.derived_features()))
    if n < OVERLAP_ROWS:
        points, hits = bundle.rule_scorer.score_and_format(rows)
        probability, reason_text = _model_scores(bundle.lead_model, rows, reasons, top_reasons)
    else:
        for name in spec.categorical_features():  # coded once for both threads
            if name in rows:
                rows.coded(name)
        # The rule points need no model: they are scored on a second thread while LightGBM
        # predicts, which releases the GIL, so they hide behind the model instead of adding
        # to it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadscore-rules") as pool:
            rules = pool.submit(_rule_scores, bundle.rule_scorer, rows)
            probability, reason_text = _model_scores(bundle.lead_model, rows, reasons,
                                                     top_reasons)  # fmt: skip
            points, hits = rules.result()
    return LeadScores(
        probability=probability,
        model_tier=Coded(bundle.tier_codes(probability), list(TIERS)),
        rule_score=points.astype("float64"),
        rule_grade=Coded(bundle.rule_scorer.grade_codes(points), list(GRADE_LETTERS)),
        reasons=reason_text,
        rule_hits=hits,
    )


def _rule_scores(scorer: RuleScorer, rows: LeadColumns) -> tuple[NDArray[np.float64], Coded]:
    """The rule points and hit texts, the texts' column for a frame already made."""
    points, hits = scorer.score_and_format(rows)
    hits.array()  # made once and kept: LeadScores.frame() takes it as it is
    return points, hits


def _model_scores(model: FamilyModel, rows: LeadColumns, reasons: bool,
                  top_reasons: int) -> tuple[NDArray[np.float64], Coded]:  # fmt: skip
    """The model's probability and reasons (joined with "; ", or "" without reasons).

    Rows are encoded and predicted :data:`MODEL_CHUNK_ROWS` at a time: a matrix of a few
    megabytes, reused, rather than hundreds of fresh ones for a million leads (fresh memory
    costs the kernel more than LightGBM's calls cost: each row is predicted on its own).
    """
    n = rows.n_rows
    probability = np.empty(n, dtype="float64")
    texts: list[str] = []
    for start in range(0, n, MODEL_CHUNK_ROWS):
        stop = min(start + MODEL_CHUNK_ROWS, n)
        matrix = model.encode(rows if (start, stop) == (0, n) else rows.rows(start, stop))
        probability[start:stop] = model.predict_proba_encoded(matrix)  # same matrix for both
        if reasons:
            explained = model.explain_encoded(matrix, top_n=top_reasons)
            texts += ["; ".join(r.text for r in rs) for rs in explained]
    if not (reasons and n):
        return probability, Coded(np.zeros(n, dtype=np.intp), [""])
    return probability, Coded(np.arange(n, dtype=np.intp), texts)


def score_leads(bundle: ScoringBundle, leads: pd.DataFrame, *, reasons: bool = True,
                top_reasons: int = 3) -> pd.DataFrame:  # fmt: skip
    """Score lead rows with both scorers (see module docstring)."""
    scores = score_columns(bundle, LeadColumns.of(leads), reasons=reasons, top_reasons=top_reasons)
    return scores.frame()
