"""LeadModel on small narrated data: calibration, unseen categories, reasons, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import ModelError
from models import MODEL_FEATURES, LeadModel, LeadModelParams
from models._lead_model import describe


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
