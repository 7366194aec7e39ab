"""LeadModel on small narrated data: calibration, unseen categories, reasons, errors; models
saved as data; the calibration, the logistic baseline and an existing score."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import leadscore.models._rules
import leadscore.models._scoring
import numpy as np
import pandas as pd
import pytest
from leadscore.features import (
    AttributeFeature,
    FeatureSpec,
    MissingColumnsError,
    ModelError,
    demo_spec,
    derive_attributes,
)
from leadscore.models import (
    Calibrator,
    ExistingScore,
    LeadModel,
    LeadModelParams,
    LogisticBaseline,
    RuleScorer,
    ScoringBundle,
    score_leads,
)
from leadscore.models._lead_model import describe

DEMO = demo_spec()
CATEGORICAL_FEATURES = DEMO.categorical_features()
MODEL_FEATURES = DEMO.model_features()
COUNT_FEATURES = DEMO.count_features()


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
                want = 0.0 if name in COUNT_FEATURES else np.nan  # no events: 0
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


# --------------------------------------------------------------------------- saved as data


def test_a_saved_model_is_lightgbm_text_and_json_and_scores_the_same(
    fitted: LeadModel, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "lead_model.json", "lightgbm.txt"]  # fmt: skip
    state = json.loads((tmp_path / "model" / "lead_model.json").read_text())
    assert state["format_version"] == 1
    assert state["feature_names"] == list(MODEL_FEATURES)
    assert state["best_iteration"] == fitted.best_iteration_
    again = LeadModel.load(tmp_path / "model", demo_spec())
    X, _ = _leads(500, 13)
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert again.explain(X.iloc[:20]) == fitted.explain(X.iloc[:20])
    assert again.categories_ == fitted.categories_


def test_loading_refuses_an_unknown_format_and_another_specs_model(
    fitted: LeadModel, tmp_path: Path
) -> None:
    fitted.save(tmp_path)
    file = tmp_path / "lead_model.json"
    where = f"model file {str(file)!r}"
    with pytest.raises(ModelError) as other:
        LeadModel.load(tmp_path, TEAM)
    assert str(other.value) == f"{where}: its columns differ from its feature spec's"
    file.write_text(file.read_text().replace('"format_version": 1', '"format_version": 7'))
    with pytest.raises(ModelError) as newer:
        LeadModel.load(tmp_path, demo_spec())
    assert str(newer.value) == (
        f"{where}: format_version 7 is not one this leadscore reads (it reads 1); install the "
        "leadscore version that wrote the model, or retrain it"
    )
    file.unlink()
    with pytest.raises(ModelError, match=r"lead_model.json': cannot read it"):
        LeadModel.load(tmp_path, demo_spec())


def test_a_saved_bundle_scores_every_lead_the_same(fitted: LeadModel, tmp_path: Path) -> None:
    bundle = _bundle(fitted)
    bundle.metadata = {"model_name": "lead-quality", "horizon_days": 90}
    bundle.save(tmp_path)
    head = json.loads((tmp_path / "bundle.json").read_text())
    assert (head["format_version"], head["tier_thresholds"], head["metadata"]) == (
        1, {"A": 0.5, "B": 0.2, "C": 0.05}, {"model_name": "lead-quality", "horizon_days": 90})  # fmt: skip
    again = ScoringBundle.load(tmp_path)
    assert again.spec == demo_spec()
    assert again.metadata == bundle.metadata
    X, _ = _leads(200, 14)
    X = X.assign(lead_source=["webinar", None, "brand-new", "giveaway"] * 50)
    pd.testing.assert_frame_equal(score_leads(again, X), score_leads(bundle, X), check_exact=True)
    (tmp_path / "bundle.json").write_text(json.dumps({**head, "format_version": 2}))
    with pytest.raises(ModelError) as newer:
        ScoringBundle.load(tmp_path)
    assert str(newer.value) == (
        f"model bundle {str(tmp_path)!r}: format_version 2 is not one this leadscore reads (it "
        "reads 1); install the leadscore version that wrote the model, or retrain it"
    )


def test_tiers_are_the_best_whose_minimum_is_met(fitted: LeadModel) -> None:
    bundle = _bundle(fitted)  # A from 0.5, B from 0.2, C from 0.05
    p = np.array([0.9, 0.5, 0.49, 0.2, 0.1, 0.05, 0.049, 0.0])
    assert bundle.tier(p).tolist() == ["A", "A", "B", "B", "C", "C", "D", "D"]


# --------------------------------------------------------------------------- calibration


def test_platt_calibration_by_hand() -> None:
    # a = 2 doubles the log-odds: 0.25 (odds 1/3) becomes odds 1/9, i.e. 0.1; 0.5 stays
    calibrator = Calibrator("platt", a=2.0, b=0.0)
    np.testing.assert_allclose(calibrator.apply([0.25, 0.5, 0.75]), [0.1, 0.5, 0.9])
    # b = log 3 multiplies the odds by 3: 0.25 (odds 1/3) becomes odds 1, i.e. 0.5
    np.testing.assert_allclose(Calibrator("platt", a=1.0, b=math.log(3)).apply([0.25]), [0.5])


def test_isotonic_calibration_interpolates_between_steps_and_clips() -> None:
    # scores 0.1 and 0.2 were lost, 0.3 and 0.4 won
    calibrator = Calibrator.isotonic([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1])
    np.testing.assert_array_equal(calibrator.apply([0.05, 0.2, 0.25, 0.3, 0.9]),
                                  [0.0, 0.0, 0.5, 1.0, 1.0])  # fmt: skip


def test_a_prior_shift_moves_the_base_rate() -> None:
    # from a 10% to a 25% base rate: the odds are multiplied by (1/3) / (1/9) = 3
    shifted = Calibrator("identity").with_prior_shift(0.1, 0.25)
    np.testing.assert_allclose(shifted.apply([0.1, 0.5]), [0.25, 0.75])
    with pytest.raises(ModelError, match=r"new_rate must be strictly between 0 and 1, got 1\.0"):
        Calibrator("identity").with_prior_shift(0.1, 1.0)


def test_calibration_round_trips_through_json_exactly() -> None:
    raw = np.random.default_rng(15).random(400)
    y = (np.random.default_rng(16).random(400) < raw).astype(int)
    for calibrator in (Calibrator.platt(raw, y), Calibrator.isotonic(raw, y),
                       Calibrator.platt(raw, y).with_prior_shift(0.3, 0.2)):  # fmt: skip
        again = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
        assert again == calibrator
        np.testing.assert_array_equal(again.apply(raw), calibrator.apply(raw))
    with pytest.raises(ModelError, match="calibrator kind must be platt, isotonic or identity, "
                       "got 'spline'"):  # fmt: skip
        Calibrator.from_dict({"kind": "spline"})
    with pytest.raises(ModelError, match="calibration rows need both won and not-won leads"):
        Calibrator.platt(raw, np.zeros(400))


# --------------------------------------------------------------------------- a team's own data

# A team's export with attributes of its own and no events: the truth is
# log-odds = -1.6 + 1.4 * intent + the segment's effect; "newsletter" carries nothing.
SEGMENT_EFFECT = {"enterprise": 0.8, "mid-market": 0.0, "smb": -0.8}
TEAM = FeatureSpec(
    attributes=(
        AttributeFeature("intent", "numeric", "Intent score"),
        AttributeFeature("segment", "categorical", "Segment"),
        AttributeFeature("newsletter", "boolean", "Newsletter"),
    ),
    decision="handoff",
    has_time=False,
    label_from="column",
)


def _team_leads(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    intent = rng.normal(size=n)
    segment = rng.choice(list(SEGMENT_EFFECT), size=n, p=[0.25, 0.35, 0.4])
    logit = -1.6 + 1.4 * intent + np.vectorize(SEGMENT_EFFECT.get)(segment)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"contact_id": np.arange(n), "intent": intent, "segment": segment,
                          "newsletter": rng.choice([True, False], size=n)})  # fmt: skip
    return frame, y


@pytest.fixture(scope="module")
def team_model() -> LeadModel:
    X, y = _team_leads(3000, 20)
    Xv, yv = _team_leads(2000, 21)
    params = LeadModelParams(n_estimators=300, early_stopping_rounds=30, min_child_samples=20)
    return LeadModel(params, TEAM).fit(X, y, validation=(Xv, yv))


def test_a_teams_own_attributes_are_the_model_and_its_reasons(
    team_model: LeadModel, tmp_path: Path
) -> None:
    # the spec decides the columns: no lead age (scored at the handoff), no engagement
    assert team_model.feature_names == ("segment", "intent", "newsletter")
    lead = pd.DataFrame({"intent": [0.3, 0.3], "segment": ["government", None],
                         "newsletter": [True, True]})  # fmt: skip
    p = team_model.predict_proba(lead)
    assert p[0] == p[1]  # a segment never seen in training counts as missing
    (unseen,) = [r for r in team_model.explain(lead.iloc[:1], top_n=3)[0]
                 if r.feature == "segment"]  # fmt: skip
    assert unseen.text.startswith("Segment: unknown (")
    enterprise = pd.DataFrame({"intent": [0.0], "segment": ["enterprise"], "newsletter": [False]})
    smb = enterprise.assign(segment="smb")
    assert team_model.predict_proba(enterprise)[0] > team_model.predict_proba(smb)[0]
    # reasons speak the team's own words
    (top,) = team_model.explain(enterprise, top_n=1)
    assert [r.text for r in top] == ["Segment: enterprise (raises)"]
    high = enterprise.assign(intent=2.5)
    assert "Intent score: 2.5 (raises)" in [r.text for r in team_model.explain(high)[0]]
    # and the model comes back from its files for the same spec
    team_model.save(tmp_path)
    again = LeadModel.load(tmp_path, TEAM)
    X, _ = _team_leads(300, 22)
    np.testing.assert_array_equal(again.predict_proba(X), team_model.predict_proba(X))


def test_the_model_comes_close_to_the_truth_on_a_teams_own_attributes(
    team_model: LeadModel,
) -> None:
    X, _ = _team_leads(20000, 23)
    truth = 1 / (1 + np.exp(-(-1.6 + 1.4 * X["intent"] + X["segment"].map(SEGMENT_EFFECT))))
    p = team_model.predict_proba(X)
    # calibrated: the mean prediction is the mean true probability, within 0.015
    assert p.mean() == pytest.approx(truth.mean(), abs=0.015)
    # and it ranks leads almost as the truth does
    assert np.corrcoef(p, truth)[0, 1] > 0.95


# --------------------------------------------------------------------------- the references


def test_the_logistic_baseline_reads_the_same_columns_as_the_model() -> None:
    X, y = _leads(3000, 24)
    baseline = LogisticBaseline(DEMO).fit(X, y)
    lead = _leads(1, 25)[0].assign(lead_source="webinar")
    views = lead.loc[lead.index.repeat(3)].assign(pricing_page_view_30d=[0.0, 1.0, 3.0])
    assert list(np.argsort(baseline.predict_proba(views))) == [0, 1, 2]
    # a category never seen and a missing one both encode as no category at all
    unseen, missing = baseline.predict_proba(pd.concat([
        lead.assign(lead_source="a-channel-launched-yesterday"), lead.assign(lead_source=None)]))  # fmt: skip
    assert unseen == missing
    (reasons,) = baseline.explain(lead.assign(pricing_page_view_30d=4.0), top_n=1)
    assert [r.text for r in reasons] == ["4 pricing page view events in the last 30 days (raises)"]
    with pytest.raises(ModelError, match="the baseline needs won and lost rows; got 0 won in 3000"):
        LogisticBaseline(DEMO).fit(X, np.zeros(len(X)))
    with pytest.raises(ModelError, match="LogisticBaseline is not fitted"):
        LogisticBaseline(DEMO).predict_proba(X)


def test_an_existing_score_ranks_leads_without_one_lowest() -> None:
    # five leads: scores written as the CRM exports them, one empty, one not a number
    X = pd.DataFrame({"hubspot": ["80", "1,200", None, "n/a", "15"]})
    scorer = ExistingScore("hubspot", "HubSpot score").fit(X)
    assert (scorer.coverage_, scorer.floor_) == (0.6, 14.0)
    np.testing.assert_array_equal(scorer.score(X), [80.0, 1200.0, 14.0, 14.0, 15.0])
    assert [r.text for (r,) in scorer.explain(X)] == [
        "HubSpot score: 80", "HubSpot score: 1200", "HubSpot score: missing",
        "HubSpot score: missing", "HubSpot score: 15"]  # fmt: skip
    # later leads are scored below every score seen in training, too
    np.testing.assert_array_equal(scorer.score(pd.DataFrame({"hubspot": [None, "20"]})),
                                  [14.0, 20.0])  # fmt: skip
    with pytest.raises(MissingColumnsError, match=r"missing \['hubspot'\]"):
        scorer.score(pd.DataFrame({"score": [1]}))
    # as the import writes it: numbers, gaps empty
    imported = pd.DataFrame({"existing_score": [80.0, np.nan, 15.0]})
    np.testing.assert_array_equal(ExistingScore("existing_score").fit(imported).score(imported),
                                  [80.0, 14.0, 15.0])  # fmt: skip
