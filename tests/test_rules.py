"""The rule-based points score: rules file validation, points, decay, grades, explanations."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import leadscore.models._rules
import numpy as np
import pandas as pd
import pytest
from leadscore.features._attributes import derive_attributes
from leadscore.features._errors import (
    ConfigError,
    DataValidationError,
    MissingColumnsError,
    ModelError,
)
from leadscore.models._rules import DERIVED_SOURCES, RuleHit, RuleScorer
from leadscore.models._rules_file import RulesConfig, load_rules, parse_rules
from sklearn.isotonic import IsotonicRegression

SMALL_RULES = """
version: 1
rules:
  - name: Senior title (C-level or VP)
    category: fit
    feature: title_level
    in: [c_level, vp]
    points: 15
  - name: Target vertical
    category: fit
    feature: industry
    in: [Software, healthcare]
    points: 10
  - name: Company size 201-5000
    category: fit
    feature: company_size_band
    in: ["201-1000", "1001-5000"]
    points: 10
  - name: Free email domain
    category: fit
    feature: email_is_free
    equals: 1
    points: -5
  - name: Valid phone
    category: fit
    feature: phone_valid
    equals: true
    points: 5
  - name: Large company
    category: fit
    feature: company_size
    at_least: 1000
    points: 5
  - name: New lead
    category: timeline
    feature: days_since_created
    below: 30
    points: 3
  - name: Pricing page visits (last 30 days)
    category: interest
    feature: pricing_page_view_30d
    points_each: 5
    max_points: 15
    decays: true
  - name: Giveaway entries
    category: borrowed_interest
    feature: giveaway_entry_180d
    points_each: -10
    max_points: 20
decay:
  half_life_days: 100
grades: {A: 30, B: 20, C: 10}
mql_threshold: 20
"""

LEAD_COLUMNS = [
    "title",
    "company_size",
    "industry",
    "email_domain",
    "phone_valid",
    "days_since_created",
    "pricing_page_view_30d",
    "giveaway_entry_180d",
]


def four_leads() -> pd.DataFrame:
    """Four narrated leads; their points under SMALL_RULES are worked out in EXPECTED."""
    rows = [
        # lead 1: VP Sales at a 500-person software company, corporate email, valid phone,
        # created today, 4 pricing views (20 points, capped at 15), one giveaway entry.
        ("VP Sales", 500, "software", "acme.com", True, 0.0, 4, 1),
        # lead 2: marketing intern at a 2000-person retailer, gmail, no phone, 100 days old
        # (one half-life), 2 pricing views, 3 giveaway entries (-30, capped at -20).
        ("Marketing Intern", 2000, "RETAIL", "gmail.com", False, 100.0, 2, 3),
        # lead 3: nothing known at all, 200 days old, no engagement recorded (nulls).
        (None, np.nan, None, None, None, 200.0, np.nan, np.nan),
        # lead 4: CEO at exactly 1000 employees (band 201-1000, and "at least 1000"),
        # "HEALTHCARE" in capitals, 50 days old (half a half-life), one pricing view.
        ("Chief Executive Officer", 1000, "HEALTHCARE", "Corp.io", 1, 50.0, 1, 0),
    ]
    return pd.DataFrame(rows, columns=LEAD_COLUMNS)


# lead 1: senior 15 + vertical 10 + size band 10 + phone 5 + new lead 3
#         + pricing min(4 * 5, 15) = 15 (age 0: no decay) + giveaway -10          = 48
# lead 2: size band 10 + free email -5 + large company 5
#         + pricing 2 * 5 * 0.5 ** (100 / 100) = 5 + giveaway max(-30, -20) = -20  = -5
# lead 3: nothing fires (unknown band, missing email and phone, null counts are 0) = 0
# lead 4: senior 15 + vertical 10 + size band 10 + phone 5 + large company 5
#         + pricing 5 * 0.5 ** (50 / 100) = 5 / sqrt(2)                      = 45 + 3.5355...
EXPECTED = np.array([48.0, -5.0, 0.0, 45.0 + 5.0 / math.sqrt(2.0)])


@pytest.fixture
def small_rules() -> RulesConfig:
    return parse_rules(SMALL_RULES, "small.yaml")


@pytest.fixture
def scorer(small_rules: RulesConfig) -> RuleScorer:
    return RuleScorer(small_rules).fit(four_leads())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- points


def test_points_worked_out_by_hand(scorer: RuleScorer) -> None:
    np.testing.assert_allclose(scorer.score(four_leads()), EXPECTED, rtol=0, atol=1e-12)


def test_decay_halves_activity_points_every_half_life(small_rules: RulesConfig) -> None:
    # The same lead (one pricing view, 5 points before decay; nothing else fires except
    # "New lead" +3 below 30 days, so not at exactly 30) at ages 0 to 300 days.
    ages = [0.0, 10.0, 30.0, 100.0, 200.0, 300.0]
    leads = pd.DataFrame(
        {
            "title": None,
            "company_size": np.nan,
            "industry": None,
            "email_domain": None,
            "phone_valid": None,
            "days_since_created": ages,
            "pricing_page_view_30d": 1,
        }
    )
    scorer = RuleScorer(small_rules).fit(leads)
    expected = [5.0 + 3, 5.0 * 0.5**0.1 + 3, 5.0 * 0.5**0.3, 2.5, 1.25, 0.625]
    np.testing.assert_allclose(scorer.score(leads), expected, rtol=0, atol=1e-12)


def test_missing_engagement_columns_count_as_zero(small_rules: RulesConfig) -> None:
    # Lead 1 without a giveaway column at all: its -10 disappears, 48 + 10 = 58.
    leads = four_leads().drop(columns=["giveaway_entry_180d"])
    scorer = RuleScorer(small_rules).fit(leads)
    assert scorer.score(leads)[0] == 58.0


def test_predefined_derived_columns_are_used_as_given(small_rules: RulesConfig) -> None:
    # Lead rows that already carry title_level use it: "vp" from the column, even though
    # the title says intern (lead 2 gains the 15 senior points: -5 + 15 = 10).
    leads = four_leads()
    leads["title_level"] = ["vp", "vp", "unknown", "c_level"]
    scorer = RuleScorer(small_rules).fit(leads)
    np.testing.assert_allclose(scorer.score(leads), EXPECTED + np.array([0, 15, 0, 0]), atol=1e-12)


def test_derived_columns_match_derive_attributes(scorer: RuleScorer) -> None:
    leads = four_leads()
    derived = derive_attributes(leads)
    assert set(derived.columns) - set(leads.columns) == set(DERIVED_SOURCES)
    # Scoring raw rows (deriving on distinct values) equals scoring pre-derived rows.
    np.testing.assert_array_equal(scorer.score(leads), scorer.score(derived))


def test_matching_is_case_insensitive_and_booleans_compare_as_numbers() -> None:
    rules = parse_rules(
        """
version: 1
rules:
  - {name: Valid phone, category: fit, feature: phone_valid, equals: true, points: 5}
  - {name: Nordics, category: fit, feature: country, in: [NO, se], points: 2}
grades: {A: 3, B: 2, C: 1}
mql_threshold: 2
""",
        "inline.yaml",
    )
    # phone_valid arrives as mixed text and numbers (a CSV export); only true-ish rows score.
    leads = pd.DataFrame(
        {
            "phone_valid": pd.Series(
                [True, 1, "true", "1", "TRUE", False, 0, "no", None], dtype=object
            ),
            "country": ["no", "SE", " se ", "NO", "Se", "US", None, "NOR", "no"],
        }
    )
    scorer = RuleScorer(rules).fit(leads)
    np.testing.assert_array_equal(scorer.score(leads), [7, 7, 7, 7, 7, 0, 0, 0, 2])


def test_score_does_not_mutate_input(scorer: RuleScorer) -> None:
    leads = four_leads()
    before = leads.copy()
    scorer.fit(leads, [1, 0, 0, 1])
    scorer.score(leads)
    scorer.explain(leads)
    scorer.predict_proba(leads)
    pd.testing.assert_frame_equal(leads, before)


def test_missing_attribute_column_at_score_names_it(scorer: RuleScorer) -> None:
    with pytest.raises(MissingColumnsError, match=r"missing \['industry'\]"):
        scorer.score(four_leads().drop(columns=["industry"]))


NEW_LEAD_RULE = """  - name: New lead
    category: timeline
    feature: days_since_created
    below: 30
    points: 3
"""


def test_decay_needs_lead_age() -> None:
    # No rule reads the lead age, but the decay does.
    rules = parse_rules(SMALL_RULES.replace(NEW_LEAD_RULE, ""), "x.yaml")
    leads = four_leads().drop(columns=["days_since_created"])
    with pytest.raises(DataValidationError, match="must have column 'days_since_created'"):
        RuleScorer(rules).fit(leads)


def test_empty_frame_scores_to_empty(scorer: RuleScorer) -> None:
    empty = four_leads().iloc[:0]
    assert scorer.score(empty).shape == (0,)
    assert scorer.explain(empty) == []


# --------------------------------------------------------------------------- grades, MQL


def test_grade_boundaries_are_inclusive(scorer: RuleScorer) -> None:
    points = np.array([30.0, 29.999, 20.0, 19.999, 10.0, 9.999, -5.0])
    assert scorer.grade(points).tolist() == ["A", "B", "B", "C", "C", "D", "D"]
    assert scorer.grade(points).dtype == object


def test_mql_threshold_is_inclusive(scorer: RuleScorer) -> None:
    assert scorer.is_mql(np.array([20.0, 19.999, 48.0])).tolist() == [True, False, True]
    # The four leads: 48 and 48.5 are MQLs, -5 and 0 are not.
    assert scorer.is_mql(scorer.score(four_leads())).tolist() == [True, False, False, True]


# --------------------------------------------------------------------------- explanations


def test_explain_lists_fired_rules_largest_first_and_sums_to_score(scorer: RuleScorer) -> None:
    leads = four_leads()
    hits = scorer.explain(leads)
    # Ties in size keep the file's order (senior before pricing; vertical, size, giveaway).
    assert [h.name for h in hits[0]] == [
        "Senior title (C-level or VP)",
        "Pricing page visits (last 30 days)",
        "Target vertical",
        "Company size 201-5000",
        "Giveaway entries",
        "Valid phone",
        "New lead",
    ]
    assert hits[1] == [
        RuleHit("Giveaway entries", "borrowed_interest", -20.0),
        RuleHit("Company size 201-5000", "fit", 10.0),
        RuleHit("Free email domain", "fit", -5.0),
        RuleHit("Large company", "fit", 5.0),
        RuleHit("Pricing page visits (last 30 days)", "interest", 5.0),
    ]
    assert hits[2] == []
    # Lead 4's decayed pricing points come last: 5 * 0.5 ** 0.5.
    last = hits[3][-1]
    assert (last.name, last.category) == ("Pricing page visits (last 30 days)", "interest")
    assert last.points == pytest.approx(5.0 / math.sqrt(2.0), abs=1e-12)
    for row_hits, total in zip(hits, scorer.score(leads), strict=True):
        assert sum(h.points for h in row_hits) == pytest.approx(total, abs=1e-12)


def test_format_hits(scorer: RuleScorer) -> None:
    hits = scorer.explain(four_leads())
    assert RuleScorer.format_hits(hits[0]) == (
        "Senior title (C-level or VP) +15; Pricing page visits (last 30 days) +15; "
        "Target vertical +10; Company size 201-5000 +10; Giveaway entries -10; "
        "Valid phone +5; New lead +3"
    )
    assert RuleScorer.format_hits(hits[3]).endswith("Pricing page visits (last 30 days) +3.5")
    assert RuleScorer.format_hits([]) == ""


TIE_RULES = """
version: 1
rules:
  - {name: Valid phone, category: fit, feature: phone_valid, equals: true, points: 5}
  - name: Pricing views
    category: interest
    feature: pricing_page_view_30d
    points_each: 10
    max_points: 20
    decays: true
  - {name: Email clicks, category: interest, feature: email_click_30d, points_each: 0.15}
  - name: Giveaways
    category: borrowed_interest
    feature: giveaway_entry_180d
    points_each: -1
    decays: true
  - {name: Target vertical, category: fit, feature: industry, in: [software], points: 10}
decay:
  half_life_days: 100
grades: {A: 30, B: 20, C: 10}
mql_threshold: 20
"""


def tie_leads(n: int, seed: int) -> pd.DataFrame:
    """Leads whose hits print alike but differ in fact, and points on rounding edges.

    One pricing view is 10 points halved every 100 days: at 99.9 days 5.0035 ("+5", listed
    before "Valid phone +5"), at exactly 100 days 5.0 (a true tie: file order, phone first),
    at 100.1 days 4.9965 ("+5" again, but after the phone). Email clicks give 0.15 each,
    and the float 0.15 is a little below 0.15: one click prints "+0.1", while a count of
    1.0000000000000002 gives 0.15000000000000002, "+0.2" (times 10, both are 1.5 in floats);
    2.5 clicks are 0.375 exactly, "+0.4" (a half, rounded to even). A giveaway 2,000 days
    ago is -1 * 0.5 ** 20, a hit that prints "-0".
    """
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "phone_valid": rng.choice([True, False, None], n),
            "days_since_created": rng.choice([99.9, 100.0, 100.1, 0.0, 2000.0, np.nan], n),
            "pricing_page_view_30d": rng.choice([0, 1, 1, 2, 0.5, np.nan], n),
            "email_click_30d": rng.choice([0, 1, 1.0000000000000002, 2.5, np.nan], n),
            "giveaway_entry_180d": rng.choice([0, 1, 2], n),
            "industry": rng.choice(["software", "Software ", "retail", "ソフトウェア", None], n),
        }
    )


@pytest.mark.parametrize("chunk_rows", [7, 65_536])  # points worked out 7 rows at a time, or all
def test_hit_texts_of_many_rows_equal_formatting_each_row(
    chunk_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # score_and_format formats each distinct text once; the oracle formats every row.
    monkeypatch.setattr(leadscore.models._rules, "RULE_CHUNK_ROWS", chunk_rows)
    leads = tie_leads(400, 0)
    scorer = RuleScorer(parse_rules(TIE_RULES, "ties.yaml")).fit(leads)
    points, texts = scorer.score_and_format(leads)
    per_row = [RuleScorer.format_hits(hits) for hits in scorer.explain(leads)]
    assert texts.decode().tolist() == per_row
    np.testing.assert_array_equal(points, scorer.score(leads))
    # the narrated cases are among them, in both orders of the "+5" tie
    one_view = leads.assign(phone_valid=True, pricing_page_view_30d=1, email_click_30d=0,
                            giveaway_entry_180d=0, industry=None)  # fmt: skip
    rows = {age: i for i, age in enumerate(one_view["days_since_created"]) if age in (99.9, 100.1)}
    _, tied = scorer.score_and_format(one_view)
    assert tied.decode()[rows[99.9]] == "Pricing views +5; Valid phone +5"
    assert tied.decode()[rows[100.1]] == "Valid phone +5; Pricing views +5"
    assert {"Email clicks +0.1", "Email clicks +0.2", "Email clicks +0.4", "Giveaways -0"} <= {
        hit for text in per_row for hit in text.split("; ")
    }
    # a few rows at a time take the row-by-row path: same texts
    small = [t for i in range(0, 400, 7) for t in scorer.score_and_format(leads.iloc[i : i + 7])[
        1].decode().tolist()]  # fmt: skip
    assert small == per_row


# --------------------------------------------------------------------------- calibration


def calibration_leads() -> tuple[pd.DataFrame, np.ndarray]:
    """Forty leads, 0..9 pricing views each (0..15 points after the cap), 4 copies."""
    views = np.tile(np.arange(10), 4)
    leads = pd.DataFrame(
        {
            "title": "Analyst",
            "company_size": 20,
            "industry": "retail",
            "email_domain": "acme.com",
            "phone_valid": False,
            "days_since_created": 60.0,
            "pricing_page_view_30d": views,
            "giveaway_entry_180d": 0,
        }
    )
    # More views, more wins, with some noise so isotonic has to pool neighbours.
    won = np.array([(v + k) % 7 >= 4 for k in range(4) for v in range(10)], dtype=int)
    return leads, won


def test_predict_proba_is_isotonic_regression_on_points(small_rules: RulesConfig) -> None:
    leads, won = calibration_leads()
    scorer = RuleScorer(small_rules).fit(leads, won)
    points = scorer.score(leads)
    by_hand = IsotonicRegression(out_of_bounds="clip").fit(points, won)
    proba = scorer.predict_proba(leads)
    np.testing.assert_array_equal(proba, by_hand.predict(points))
    order = np.argsort(points, kind="stable")
    assert np.all(np.diff(proba[order]) >= 0)
    assert proba.ndim == 1
    # Points beyond the training range are clipped to the end values.
    far = four_leads()
    np.testing.assert_array_equal(
        scorer.predict_proba(far), by_hand.predict(np.clip(EXPECTED, points.min(), points.max()))
    )


def test_predict_proba_without_labels_raises(scorer: RuleScorer) -> None:
    with pytest.raises(ModelError, match=r"fit\(X, y\)"):
        scorer.predict_proba(four_leads())


def test_labels_must_be_binary_and_aligned(small_rules: RulesConfig) -> None:
    with pytest.raises(ModelError, match="one label per row"):
        RuleScorer(small_rules).fit(four_leads(), [1, 0])
    with pytest.raises(ModelError, match="0/1"):
        RuleScorer(small_rules).fit(four_leads(), [1, 0, 2, 1])


def test_not_fitted_raises() -> None:
    for method in (RuleScorer().score, RuleScorer().explain, RuleScorer().predict_proba):
        with pytest.raises(ModelError, match=r"^RuleScorer is not fitted; call fit\(X\) first$"):
            method(four_leads())


def test_init_only_stores(tmp_path: Path) -> None:
    # A path that does not exist is only read in fit.
    scorer = RuleScorer(tmp_path / "missing.yaml")
    assert scorer.rules == tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match="cannot read it"):
        scorer.fit(four_leads())


def test_pickle_round_trip(small_rules: RulesConfig) -> None:
    leads, won = calibration_leads()
    scorer = RuleScorer(small_rules).fit(leads, won)
    restored = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_array_equal(restored.score(four_leads()), scorer.score(four_leads()))
    np.testing.assert_array_equal(restored.predict_proba(leads), scorer.predict_proba(leads))
    assert restored.rules_.source == "small.yaml"


# --------------------------------------------------------------------------- validation


def test_unknown_key_names_file_rule_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL_RULES.replace("    points: 10\n", "    point: 10\n", 1))
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert str(info.value) == (
        f"rules file '{path}': rules[1] ('Target vertical'): unknown key 'point' (allowed: "
        "name, category, feature, in, equals, at_least, below, points_each, points, "
        "max_points, decays)"
    )


def one_rule(body: str) -> str:
    return f"""
version: 1
rules:
  - name: Pricing page
    category: interest
{body}
grades: {{A: 30, B: 20, C: 10}}
mql_threshold: 20
"""


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            "    feature: pricing_page_view_30d\n    in: [1]\n    equals: 2\n    points: 5",
            "2 conditions (in, equals); give exactly one of in, equals, at_least, below, "
            "points_each",
        ),
        (
            "    feature: pricing_page_view_30d\n    points: 5",
            "no condition; give exactly one of",
        ),
        (
            "    feature: pricing_page_view_30d\n    at_least: 2",
            "missing key 'points'",
        ),
        (
            "    feature: pricing_page_view_30d\n    points_each: 5\n    points: 5",
            "a count rule (points_each) takes no 'points'",
        ),
        (
            "    feature: pricing_page_view_30d\n    at_least: 2\n    points: 5\n    max_points: 9",
            "max_points only applies to count rules",
        ),
        (
            "    feature: pricing_page_view_30d\n    points_each: -5\n    max_points: -10",
            "'max_points': input should be greater than 0, got -10",
        ),
        (
            "    feature: pricing_page_view_30d\n    points_each: 5\n    decays: true",
            "'decays' is true but the file has no 'decay' section",
        ),
        (
            "    feature: pricing_page_view_30d\n    equals: [1, 2]\n    points: 5",
            "'equals': expected a text, a number or true/false, got [1, 2]",
        ),
    ],
)
def test_rule_problems_name_the_rule(body: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules(one_rule(body), "x.yaml")
    message = str(info.value)
    assert message.startswith("rules file 'x.yaml': rules[0] ('Pricing page'): ")
    assert problem in message


def test_missing_feature_key_names_the_rule() -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\] \('Pricing page'\): missing key 'feature'"):
        parse_rules(one_rule("    points_each: 5"), "x.yaml")


def test_wrong_category_names_the_rule() -> None:
    text = SMALL_RULES.replace("category: timeline", "category: Timeline")
    with pytest.raises(ConfigError, match=r"rules\[6\] \('New lead'\): 'category': input should"):
        parse_rules(text, "x.yaml")


def test_duplicate_rule_name() -> None:
    text = SMALL_RULES.replace("name: Large company", "name: valid phone")
    with pytest.raises(ConfigError) as info:
        parse_rules(text, "x.yaml")
    assert str(info.value) == (
        "rules file 'x.yaml': rules[5] ('valid phone'): duplicate rule name (also rules[4]); "
        "rule names must be unique"
    )


@pytest.mark.parametrize("grades", ["{A: 30, B: 30, C: 10}", "{A: 10, B: 20, C: 30}"])
def test_grades_must_decrease(grades: str) -> None:
    text = SMALL_RULES.replace("grades: {A: 30, B: 20, C: 10}", f"grades: {grades}")
    with pytest.raises(ConfigError, match=r"'x.yaml': grades: must be strictly decreasing"):
        parse_rules(text, "x.yaml")


def test_grades_unknown_letter() -> None:
    text = SMALL_RULES.replace(
        "grades: {A: 30, B: 20, C: 10}", "grades: {A: 30, B: 20, C: 10, E: 0}"
    )
    with pytest.raises(ConfigError, match=r"grades: unknown key 'E' \(allowed: A, B, C\)"):
        parse_rules(text, "x.yaml")


def test_several_problems_are_all_listed() -> None:
    text = SMALL_RULES.replace("mql_threshold: 20", "mql_treshold: 20")
    with pytest.raises(ConfigError) as info:
        parse_rules(text, "x.yaml")
    assert str(info.value) == (
        "rules file 'x.yaml' has 2 problems:\n"
        "  - missing key 'mql_threshold'\n"
        "  - unknown key 'mql_treshold' (allowed: version, rules, decay, grades, mql_threshold)"
    )


def test_unknown_feature_at_fit_names_rule_and_known_features(small_rules: RulesConfig) -> None:
    bad = parse_rules(
        SMALL_RULES.replace("pricing_page_view_30d", "pricing_page_views_30d"), "x.yaml"
    )
    with pytest.raises(ConfigError) as info:
        RuleScorer(bad).fit(four_leads())
    message = str(info.value)
    assert message.startswith(
        "rules file 'x.yaml': rules[7] ('Pricing page visits (last 30 days)'): unknown feature "
        "'pricing_page_views_30d'; did you mean 'pricing_page_view_30d'? (known features: "
    )
    assert "title_level" in message and "industry" in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: 1\nrules: [\n", "not valid YAML"),
        ("version: 1\nversion: 1\n", "found duplicate key 'version'"),
        ("- just\n- a list\n", "expected a mapping with keys version, rules"),
    ],
)
def test_malformed_yaml(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=f"rules file '{path}'") as info:
        load_rules(path)
    assert problem in str(info.value)


def test_yes_no_and_country_codes_stay_text() -> None:
    # YAML 1.1 would read NO (Norway) and yes as booleans; the rules file does not.
    rules = parse_rules(one_rule("    feature: country\n    in: [NO, yes, true]\n    points: 1"))
    assert rules.rules[0].in_ == ["NO", "yes", True]


# --------------------------------------------------------------------------- default rules


def default_leads() -> pd.DataFrame:
    contacts = [
        # a VP at a 500-person US software company, corporate email, buying within 3 months,
        # 3 pricing page views this month
        ("VP Sales", 500, "software", "US", "organic_search", "acme.com", True, "0-3 months", 3, 0),
        # the same VP with no activity at all: fit and timeline only
        ("VP Sales", 500, "software", "US", "organic_search", "acme.com", True, "0-3 months", 0, 0),
        # a student from a giveaway, gmail, no phone, no timeline, one giveaway entry
        ("Student", np.nan, "education", "FR", "giveaway", "gmail.com", False, None, 0, 1),
    ]
    columns = [
        "title",
        "company_size",
        "industry",
        "country",
        "lead_source",
        "email_domain",
        "phone_valid",
        "buying_timeline",
        "pricing_page_view_30d",
        "giveaway_entry_180d",
    ]
    leads = pd.DataFrame(contacts, columns=columns)
    leads["requested_demo"] = False
    leads["days_since_created"] = 10.0
    return leads


def test_default_rules_load_and_rank_sensibly() -> None:
    rules = load_rules()
    assert rules.source == "default_rules.yaml (packaged)"
    assert {r.category for r in rules.rules} == {"fit", "interest", "timeline", "borrowed_interest"}
    assert not any(word in r.feature for r in rules.rules for word in ("budget", "decision"))
    scorer = RuleScorer().fit(default_leads())
    points = scorer.score(default_leads())
    assert points[0] > points[1] > 0 > points[2]
    assert scorer.is_mql(points).tolist() == [True, True, False]
    assert scorer.grade(points).tolist() == ["B", "B", "D"]


def test_default_rules_fit_contact_columns_alone() -> None:
    # The contact attributes and lead age are enough: engagement columns may be absent.
    leads = default_leads().drop(columns=["pricing_page_view_30d", "giveaway_entry_180d"])
    scorer = RuleScorer().fit(leads)
    assert scorer.score(leads)[0] == scorer.score(leads)[1]
