"""LeadModel on small narrated data: calibration, unseen categories, reasons, errors."""

from __future__ import annotations

import copy

import leadscore.models._rules
import leadscore.models._scoring
import numpy as np
import pandas as pd
import pytest
from leadscore.features import ModelError, derive_attributes
from leadscore.features._definitions import COUNT_FEATURE_NAMES
from leadscore.models import (
    CATEGORICAL_FEATURES,
    MODEL_FEATURES,
    LeadModel,
    LeadModelParams,
    RuleScorer,
    ScoringBundle,
    score_leads,
)
from leadscore.models._lead_model import describe


def _leads(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Leads whose odds rise with pricing views and fall for giveaway sources."""
    rng = np.random.default_rng(seed)
    pricing = rng.poisson(0.6, n)
    source = rng.choice(["webinar", "giveaway", "referral"], n)
    logit = -3.0 + 1.2 * pricing - 1.5 * (source == "giveaway")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "contact_id": np.arange(n),
            "title": rng.choice(["VP Sales", "Student", "Engineer"], n),
            "lead_source": source,
            "industry": "software",
            "country": "US",
            "company_size": 100.0,
            "phone_valid": 1.0,
            "requested_demo": 0.0,
            "days_since_created": 30.0,
            "pricing_page_view_30d": pricing.astype(float),
        }
    )
    return frame, y


@pytest.fixture(scope="module")
def fitted() -> LeadModel:
    X, y = _leads(6000, 0)
    Xv, yv = _leads(4000, 1)
    return LeadModel(LeadModelParams(n_estimators=200, min_child_samples=20)).fit(
        X, y, validation=(Xv, yv)
    )


def test_probability_rises_with_pricing_views_and_is_calibrated(fitted: LeadModel) -> None:
    X, y = _leads(20000, 2)
    p = fitted.predict_proba(X)
    assert ((p > 0) & (p < 1)).all()
    # Calibrated: predicted and observed conversion rates agree, overall and per
    # pricing-view count (2,000+ leads per group; the rate's standard error is ~0.01).
    assert p.mean() == pytest.approx(y.mean(), abs=0.01)
    for views in (0, 1, 2):
        rows = X["pricing_page_view_30d"].to_numpy() == views
        assert p[rows].mean() == pytest.approx(y[rows].mean(), abs=0.05)
    one = X.iloc[[0, 0, 0]].assign(pricing_page_view_30d=[0.0, 1.0, 3.0], lead_source="webinar")
    assert list(np.argsort(fitted.predict_proba(one))) == [0, 1, 2]


def test_unseen_category_is_scored_as_unknown_not_rejected(fitted: LeadModel) -> None:
    X, _ = _leads(3, 3)
    unseen = fitted.predict_proba(X.assign(lead_source="a-channel-launched-yesterday"))
    missing = fitted.predict_proba(X.assign(lead_source=None))
    # both land on LightGBM's missing branch: identical scores
    np.testing.assert_array_equal(unseen, missing)


def test_same_data_and_seed_give_the_same_model() -> None:
    X, y = _leads(3000, 4)
    Xv, yv = _leads(2000, 5)
    params = LeadModelParams(n_estimators=50, min_child_samples=20)
    a = LeadModel(params).fit(X, y, validation=(Xv, yv)).predict_proba(Xv)
    b = LeadModel(params).fit(X, y, validation=(Xv, yv)).predict_proba(Xv)
    np.testing.assert_array_equal(a, b)


def test_reasons_are_the_largest_exact_contributions(fitted: LeadModel) -> None:
    lead = _leads(1, 6)[0].assign(pricing_page_view_30d=4.0, lead_source="webinar")
    reasons = fitted.explain(lead, top_n=3)[0]
    matrix = fitted.encode(lead)
    contrib = fitted.booster_.predict(
        matrix, num_iteration=fitted.best_iteration_, pred_contrib=True
    )[0]
    raw = fitted.booster_.predict(matrix, num_iteration=fitted.best_iteration_, raw_score=True)[0]
    assert contrib.sum() == pytest.approx(raw)  # contributions + bias = the raw score
    top = np.argsort(-np.abs(contrib[:-1]))[:3]
    assert [r.feature for r in reasons] == [MODEL_FEATURES[j] for j in top]
    assert reasons[0].feature == "pricing_page_view_30d"
    assert reasons[0].text == "4 pricing page view events in the last 30 days (raises)"


def test_describe_phrases() -> None:
    assert describe("lead_source", "giveaway", -0.4) == "lead source: giveaway (lowers)"
    assert describe("hours_to_first_touch", None, -1.0) == "no sales touch yet (lowers)"
    assert describe("email_is_free", 1.0, -0.2) == "free email domain (lowers)"
    assert describe("company_size", 1200.0, 0.3) == "company of 1,200 employees (raises)"


def test_errors_name_the_problem() -> None:
    X, y = _leads(200, 7)
    with pytest.raises(ModelError, match="not fitted"):
        LeadModel().predict_proba(X)
    with pytest.raises(ModelError, match="single class"):
        LeadModel().fit(X, np.zeros(len(X)), validation=(X, y))
    with pytest.raises(ModelError, match=r"only 0 and 1, got \[2.0\]"):
        LeadModel().fit(X, np.full(len(X), 2), validation=(X, y))


def test_small_and_large_batches_encode_identically(fitted: LeadModel) -> None:
    # The online path (a few rows) uses dict lookups, batches use pandas indexers.
    X, _ = _leads(300, 8)
    X = X.assign(
        lead_source=["webinar", None, "brand-new", "giveaway"] * 75,
        industry=[None, "software", float("nan"), "retail"] * 75,
    )
    big = fitted.encode(X)
    small = np.vstack([fitted.encode(X.iloc[i : i + 3]) for i in range(0, 300, 3)])
    np.testing.assert_array_equal(big, small)


def test_encode_equals_encoding_each_cell(fitted: LeadModel) -> None:
    # The oracle: every cell looked up on its own, the slow, obvious way.
    X, _ = _leads(200, 9)
    X = X.assign(
        lead_source=["webinar", None, "brand-new", "giveaway", float("nan")] * 40,
        industry=[None, "software", "ソフトウェア", "retail"] * 50,
        title=["VP Sales", None, "Directeur général", "Student", "n/a"] * 40,
        company_size=[100.0, None, 5.0, 20000.0] * 50,
        pricing_page_view_30d=[1.0, None, 3.0, 0.0] * 50,
    )
    rows = derive_attributes(X)
    matrix = fitted.encode(X)
    for i, row in enumerate(rows.to_dict("records")):
        for j, name in enumerate(MODEL_FEATURES):
            value = row.get(name)
            if name in CATEGORICAL_FEATURES:
                key = "(missing)" if value is None or value != value else str(value)
                want = fitted.categories_[name].get(key, np.nan)
            elif value is None or value != value:
                want = 0.0 if name in COUNT_FEATURE_NAMES else np.nan  # no events: 0
            else:
                want = float(value)
            assert matrix[i, j] == want or (np.isnan(want) and np.isnan(matrix[i, j])), (i, name)


def test_categories_of_numbers_and_booleans_are_their_own_text(fitted: LeadModel) -> None:
    # 1, True and 1.0 are one value to a hash table but three texts: "1", "True", "1.0".
    model = copy.deepcopy(fitted)
    model.categories_["lead_source"] = {"1": 0, "True": 1, "webinar": 2}
    for times in (1, 30):  # a few rows, and enough for the batch path
        X = _leads(4 * times, 10)[0].assign(lead_source=[1, True, 1.0, "webinar"] * times)
        codes = model.encode(X)[:, CATEGORICAL_FEATURES.index("lead_source")]
        np.testing.assert_array_equal(codes, [0.0, 1.0, np.nan, 2.0] * times)


def _bundle(model: LeadModel) -> ScoringBundle:
    X, _ = _leads(500, 11)
    rules = RuleScorer().fit(X.assign(buying_timeline="0-3 months", email_domain="acme.io"))
    return ScoringBundle(model, rules, {"A": 0.5, "B": 0.2, "C": 0.05})


# The rules on a thread of their own or not; their points in chunks of 7 rows or at once.
@pytest.mark.parametrize(("overlap_rows", "chunk_rows"), [(1, 7), (10**9, 65_536)])
def test_scoring_many_leads_equals_scoring_each_alone(
    fitted: LeadModel, overlap_rows: int, chunk_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One call for 150 leads (the batch path: distinct values, grouped rule texts) gives
    # what 150 calls of one lead give (the path of an HTTP request).
    monkeypatch.setattr(leadscore.models._scoring, "OVERLAP_ROWS", overlap_rows)
    monkeypatch.setattr(leadscore.models._rules, "RULE_CHUNK_ROWS", chunk_rows)
    bundle = _bundle(fitted)
    rng = np.random.default_rng(12)
    X, _ = _leads(150, 12)
    X = X.assign(
        lead_source=rng.choice(np.array(["webinar", "giveaway", None, "new"], dtype=object), 150),
        title=rng.choice(np.array(["VP Sales", "Ingeniera ñ", None, "Intern"], dtype=object), 150),
        # two pricing views are 10 points, halved at 180 days: 5 at 180, just above or below
        # 5 around it, against the constant +5 rules; some leads are missing their age
        days_since_created=rng.choice([179.9, 180.0, 180.1, 3.0, np.nan], 150),
        pricing_page_view_30d=rng.choice([2.0, 2.0, 1.0, np.nan], 150),
        email_domain=rng.choice(np.array(["gmail.com", "acme.io", None], dtype=object), 150),
    )
    for reasons, rows in ((False, X), (True, X.iloc[:40])):
        together = score_leads(bundle, rows, reasons=reasons)
        alone = pd.concat(
            [score_leads(bundle, rows.iloc[[i]], reasons=reasons) for i in range(len(rows))],
            ignore_index=True,
        )
        pd.testing.assert_frame_equal(together, alone, check_exact=True)
    assert together["rule_hits"].str.contains("Pricing page visits").any()
