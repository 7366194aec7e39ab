"""The handoff decision, told as small stories: what marketing knows when it passes a lead
to sales, which leads each scorer would have passed, and whether sales ever worked them."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from leadscore.features import Warehouse, build_handoff_frame, demo_spec
from leadscore.features._contract import parse_contract
from leadscore.features._spec import spec_for
from leadscore.models import LeadModel, LeadModelParams
from leadscore.training._handoff_compare import worked_flags
from leadscore.training._selective_labels import selective_label_figures, weekly_top_k

from tests.conftest import WarehouseFactory, contacts_frame, events_frame, outcomes_frame

HANDOFF = demo_spec().with_decision("handoff", 1.0)


def _frame(url: str, **kwargs: object) -> pd.DataFrame:
    with Warehouse(url, read_only=True) as wh:
        return build_handoff_frame(wh, HANDOFF, **kwargs).frame.set_index("contact_id")  # type: ignore[arg-type]


# --- the cutoff -----------------------------------------------------------------------------


STORY_CONTACTS = contacts_frame(
    [
        # 1: fills the form at 09:00; marketing hands it to sales at 10:00.
        {"contact_id": 1, "created_at": "2024-05-15 09:00"},
        # 2: the same lead, but sales never called it before the handoff.
        {"contact_id": 2, "created_at": "2024-05-15 09:00"},
    ]
)
STORY_EVENTS = events_frame(
    [
        (1, "2024-05-15 09:59:59", "page_view"),  # one second before the handoff: counts
        (1, "2024-05-15 10:00:00", "pricing_page_view"),  # exactly at the handoff: must NOT count
        (1, "2024-05-15 09:20", "sales_touch"),  # sales called before the handoff: never a feature
        (1, "2024-05-15 09:40", "meeting_held"),  # and met: never a feature either
        (2, "2024-05-15 09:59:59", "page_view"),  # lead 2: the same marketing history ...
        (2, "2024-05-15 10:00:00", "pricing_page_view"),  # ... without sales' work
    ]
)


def test_an_event_one_second_before_the_handoff_counts_and_one_exactly_at_it_does_not(
    make_warehouse: WarehouseFactory,
) -> None:
    url = make_warehouse(contacts=STORY_CONTACTS, events=STORY_EVENTS, outcomes=outcomes_frame([]))
    one = _frame(url).loc[1]
    assert one["as_of"] == pd.Timestamp("2024-05-15 10:00")
    assert one["page_view_30d"] == 1 and one["events_7d"] == 1  # 09:59:59
    assert one["pricing_page_view_30d"] == 0 and one["high_intent_7d"] == 0  # 10:00:00
    assert one["days_since_last_event"] == 1 / 86_400  # the page view, not the 09:40 meeting


def test_a_sales_touch_before_the_handoff_is_never_a_feature_of_the_handoff_score(
    make_warehouse: WarehouseFactory,
) -> None:
    url = make_warehouse(contacts=STORY_CONTACTS, events=STORY_EVENTS, outcomes=outcomes_frame([]))
    frame = _frame(url)
    # no column is about sales' own work ...
    assert not [c for c in frame.columns if "sales" in c or "meeting" in c or "touch" in c]
    # ... and lead 1 (called and met before the handoff) looks exactly like lead 2 (not)
    pd.testing.assert_series_equal(frame.loc[1], frame.loc[2], check_names=False)


# --- the contract's sales-owned types never reach a reason -------------------------------------

CONTRACT = """
name: discovery
contacts: {source: {kind: warehouse, table: contacts}}
events:
  source: {kind: warehouse, table: events}
  sales_owned: [discovery_call]
outcomes: {source: {kind: warehouse, table: outcomes}}
label: {won_values: [won], lost_values: [lost], horizon_days: 90}
decision: {moment: handoff}
"""


def _discovery_world(n: int, seed: int) -> dict[str, pd.DataFrame]:
    """Leads a day apart. Every third one got a ``discovery_call`` (declared sales-owned)
    ten minutes after creation, before its handoff, and every one of those won; one lead
    in five (some of the same) attended a webinar at creation, and half of those won."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, 9)
    created = [start + timedelta(days=i) for i in range(n)]
    contacts = contacts_frame([{"contact_id": i + 1, "created_at": str(c)}
                               for i, c in enumerate(created)])  # fmt: skip
    called = np.arange(n) % 3 == 0
    webinar = rng.random(n) < 0.2
    won = called | (webinar & (rng.random(n) < 0.5))
    events = [(i + 1, str(created[i] + timedelta(minutes=10)), "discovery_call")
              for i in np.flatnonzero(called)]  # fmt: skip
    events += [(i + 1, str(created[i]), "webinar_attended") for i in np.flatnonzero(webinar)]
    events += [(i + 1, str(created[i] + timedelta(days=2)), "email_open") for i in range(n)]
    outcomes = [(i + 1, str(created[i] + timedelta(days=20)), "won" if won[i] else "lost")
                for i in range(n)]  # fmt: skip
    return {"contacts": contacts, "events": events_frame(events),
            "outcomes": outcomes_frame(outcomes)}  # fmt: skip


def test_a_type_the_contract_declares_sales_owned_never_appears_in_a_handoff_reason(
    make_warehouse: WarehouseFactory,
) -> None:
    url = make_warehouse(**_discovery_world(600, 0))
    contract = parse_contract(CONTRACT)
    with Warehouse(url, read_only=True) as wh:
        spec = spec_for(contract, wh)
        # the same contract at the pipeline decision would use the call (the test is not vacuous)
        pipeline = spec.with_decision("pipeline")
        assert any("discovery_call" in n for n in pipeline.engagement_names())
        assert spec.excluded_event_types() == ("discovery_call",)
        rows = build_handoff_frame(wh, spec, with_labels=True,
                                   data_end=datetime(2026, 1, 1)).frame  # fmt: skip
    assert not [n for n in spec.model_features() if "discovery" in n]
    train, valid = rows.iloc[:400], rows.iloc[400:]
    params = LeadModelParams(n_estimators=50, min_child_samples=5)
    model = LeadModel(params, spec).fit(train, train["label"], validation=(valid, valid["label"]))
    reasons = [r for lead in model.explain(rows, top_n=5) for r in lead]
    assert len(reasons) > 1_000
    assert not [r for r in reasons if "discovery" in r.feature or "discovery" in r.text.lower()]
    # the webinar, which marketing did see, is a reason (as the one event before the handoff)
    assert "events_7d" in {r.feature for r in reasons}


# --- compared at its own handoff, in its own week ------------------------------------------------


def test_a_lead_created_in_the_test_quarter_is_compared_at_its_own_handoff_time(
    make_warehouse: WarehouseFactory,
) -> None:
    # The test quarter starts 2024-04-01. Lead 1 arrives 2024-05-15 09:00 and views the
    # pricing page at 09:30: at the quarter start it did not exist; at its handoff (10:00)
    # the view is the one thing marketing knows. Lead 2 arrives a week later, with nothing.
    contacts = contacts_frame([{"contact_id": 1, "created_at": "2024-05-15 09:00"},
                               {"contact_id": 2, "created_at": "2024-05-22 09:00"},
                               {"contact_id": 3, "created_at": "2024-03-20 09:00"}])  # fmt: skip
    events = events_frame([(1, "2024-05-15 09:30", "pricing_page_view")])
    outcomes = outcomes_frame([(1, "2024-06-01", "won"), (2, "2024-06-10", "won"),
                               (3, "2024-04-10", "won")])  # fmt: skip
    url = make_warehouse(contacts=contacts, events=events, outcomes=outcomes)
    rows = _frame(url, since=datetime(2024, 4, 1), until=datetime(2024, 7, 1), with_labels=True,
                  data_end=datetime(2026, 1, 1))  # fmt: skip
    assert list(rows.index) == [1, 2]  # lead 3 was handed off in the quarter before
    assert list(rows["as_of"]) == [pd.Timestamp("2024-05-15 10:00"),
                                   pd.Timestamp("2024-05-22 10:00")]  # fmt: skip
    assert rows.loc[1, "pricing_page_view_30d"] == 1 and rows.loc[2, "pricing_page_view_30d"] == 0
    # Each week sales can take one lead: both are passed, each in the week of its handoff
    # (at a quarter-start snapshot they would compete for one slot).
    picked = weekly_top_k(rows.reset_index(), np.array([0.9, 0.1]), per_week=1)
    assert picked.tolist() == [True, True]


# --- selective labels --------------------------------------------------------------------------


def _brute_force(frame: pd.DataFrame, score: np.ndarray, worked: np.ndarray, k: int) -> dict:
    """Week by week, the top k by (score desc, contact_id asc), counted the slow way."""
    picked_rows: list[int] = []
    for week in sorted({t.normalize() - timedelta(days=t.weekday()) for t in frame["as_of"]}):
        in_week = [i for i in range(len(frame))
                   if week <= frame["as_of"].iloc[i] < week + timedelta(days=7)]  # fmt: skip
        in_week.sort(key=lambda i: (-score[i], frame["contact_id"].iloc[i]))
        picked_rows += in_week[:k]
    label = frame["label"].to_numpy()
    worked_picks = [i for i in picked_rows if worked[i]]
    wins_worked = sum(int(label[i]) for i in worked_picks)
    return {
        "picked": len(picked_rows),
        "wins": sum(int(label[i]) for i in picked_rows),
        "never_worked": sum(1 for i in picked_rows if not worked[i]),
        "worked": len(worked_picks),
        "wins_among_worked": wins_worked,
        "conversion_among_worked": wins_worked / len(worked_picks),
    }


@pytest.fixture(scope="module")
def week_of_leads() -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    # 400 leads over seven weeks (Sunday-to-Monday midnights included); the rules' points
    # come in steps of 5 (many ties), the model's are continuous; sales worked the leads
    # the rules liked far more often (selective labels).
    rng = np.random.default_rng(3)
    n = 400
    as_of = pd.Timestamp("2024-04-01") + pd.to_timedelta(rng.integers(0, 49 * 86_400, n), "s")
    frame = pd.DataFrame({"contact_id": rng.permutation(n) + 1, "as_of": as_of,
                          "label": (rng.random(n) < 0.2).astype(int)})  # fmt: skip
    rules = rng.integers(0, 12, n) * 5.0
    model = rng.random(n)
    worked = rng.random(n) < np.where(rules >= 30, 0.9, 0.3)
    return frame, {"model": model, "rules": rules}, worked


def test_never_worked_per_top_k_equals_a_brute_force_count(
    week_of_leads: tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray],
) -> None:
    frame, scores, worked = week_of_leads
    before = frame.copy()
    figures = selective_label_figures(frame, scores, worked, per_week=9, bootstrap_reps=200)
    pd.testing.assert_frame_equal(frame, before)  # never mutates its input
    assert figures["weeks"] == 7
    for row in figures["scorers"]:
        expected = _brute_force(frame, scores[row["scorer"]], worked, 9)
        assert {k: row[k] for k in expected} == expected, row["scorer"]
    assert figures["scorers"][0]["picked"] == 63  # 7 weeks x 9
    # the rules' picks were worked more: said in words, with both conversions
    (note,) = figures["notes"]
    assert note.startswith("Sales worked") and "model's wins are understated" in note


def test_without_sales_activity_the_comparison_says_it_cannot_separate_quality_from_follow_up(
    week_of_leads: tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray],
    make_warehouse: WarehouseFactory,
) -> None:
    # a warehouse with marketing events only: nobody was ever worked, as far as data tells
    marketing = STORY_EVENTS[~STORY_EVENTS["event_type"].isin(["sales_touch", "meeting_held"])]
    url = make_warehouse(contacts=STORY_CONTACTS, events=marketing, outcomes=outcomes_frame([]))
    with Warehouse(url, read_only=True) as wh:
        worked, active = worked_flags(wh, pd.Series([1, 2]), ("sales_touch", "meeting_held"), None)
    assert worked.tolist() == [False, False] and active is False
    frame, scores, _ = week_of_leads
    figures = selective_label_figures(frame, scores, np.zeros(len(frame), bool), per_week=5,
                                      has_sales_activity=active, bootstrap_reps=100)  # fmt: skip
    assert figures["notes"] == [
        "The data has no sales activity (no event of a sales-owned type), so this comparison "
        "cannot separate lead quality from follow-up: a lead may have converted because sales "
        "worked it, not because it was better."
    ]
    assert all(math.isnan(r["conversion_among_worked"]) for r in figures["scorers"])


def test_worked_flags_read_the_sales_owned_types_only(make_warehouse: WarehouseFactory) -> None:
    url = make_warehouse(contacts=STORY_CONTACTS, events=STORY_EVENTS, outcomes=outcomes_frame([]))
    with Warehouse(url, read_only=True) as wh:
        worked, active = worked_flags(wh, pd.Series([2, 1]), ("sales_touch", "meeting_held"), None)
        # before 09:20 nobody had been called yet
        early, _ = worked_flags(wh, pd.Series([2, 1]), ("sales_touch",),
                                datetime(2024, 5, 15, 9, 20))  # fmt: skip
    assert worked.tolist() == [False, True] and active is True
    assert early.tolist() == [False, False]


# --- the page and its JSON twin -------------------------------------------------------------------


def _lookup(figures: object, key: str) -> object:
    for part in key.split("."):
        figures = figures[int(part)] if isinstance(figures, list) else figures[part]  # type: ignore[index]
    return figures


def test_the_mql_line_and_the_model_line_pass_the_same_volume_and_count_never_worked_leads(
) -> None:
    # Six new leads. The MQL line (50 points) passes leads 0, 2 and 5; the model's line
    # passing the same volume is its top three: 1 (0.9), then 0 and 4 (tied at 0.5; row
    # order breaks the tie, and both fit).
    from types import SimpleNamespace

    from leadscore.training._compare import _thresholds

    points = np.array([60.0, 10.0, 55.0, 0.0, 20.0, 50.0])
    prob = np.array([0.5, 0.9, 0.3, 0.1, 0.5, 0.2])
    y = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    worked = np.array([True, False, True, False, False, True])
    rules = SimpleNamespace(rules_=SimpleNamespace(mql_threshold=50.0))
    out = _thresholds(rules, points, prob, y, worked)
    # rules pass {0, 2, 5}: 1 win, all worked. The model passes {1, 0, 4}: 3 wins, and
    # sales never worked 1 and 4.
    assert out == {"mql_threshold": 50.0, "rule_leads": 3, "rule_conversions": 1.0,
                   "model_threshold": 0.5, "model_leads": 3, "model_conversions": 3.0,
                   "rule_never_worked": 0, "model_never_worked": 2}  # fmt: skip


def test_features_of_sales_own_work_are_named_at_the_pipeline_and_absent_at_the_handoff() -> None:
    from leadscore.training._compare import SALES_MIXED, SALES_ONLY, sales_action_kinds

    pipeline = sales_action_kinds(demo_spec())
    # every feature of a sales-owned type, and speed to lead, reads sales' own work
    assert pipeline["sales_touch_30d"] == pipeline["meeting_held_180d"] == SALES_ONLY
    assert pipeline["hours_to_first_touch"] == SALES_ONLY
    # all-activity counts include sales' events at the pipeline decision
    assert pipeline["events_30d"] == pipeline["days_since_last_event"] == SALES_MIXED
    assert pipeline["activity_trend"] == SALES_MIXED
    # marketing's own types are not sales' work
    assert "pricing_page_view_30d" not in pipeline and "high_intent_7d" not in pipeline
    # at the handoff no feature reads sales' work: none exists, and all-activity ones exclude it
    handoff = sales_action_kinds(HANDOFF)
    assert handoff == {}
    assert not set(HANDOFF.model_features()) & set(pipeline) - {
        f for f, k in pipeline.items() if k == SALES_MIXED}  # fmt: skip


# --- the demo's handoff view ------------------------------------------------------------------


def test_the_demo_contract_at_the_handoff_is_registered_under_a_name_of_its_own() -> None:
    from leadscore.features._contract import default_contract
    from leadscore.serving._demo import handoff_contract

    packaged = default_contract()
    at_handoff = handoff_contract(packaged)
    assert (at_handoff.decision_moment, at_handoff.model_name) == ("handoff",
                                                                   "lead-quality-handoff")  # fmt: skip
    assert at_handoff.decision.handoff_delay_hours == 1.0
    # the packaged contract itself is untouched
    assert (packaged.decision_moment, packaged.model_name) == ("pipeline", "lead-quality")
