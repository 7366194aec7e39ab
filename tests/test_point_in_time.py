"""Point-in-time features and labels against a brute-force oracle and hand-worked values.

The oracle reads the same feature definitions but computes them the slow, obvious way with
plain Python loops over every (contact, snapshot, event).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from leadscore.features import (
    LEAD_ATTRIBUTE_COLUMNS,
    ConfigError,
    Warehouse,
    build_lead_frame,
    engagement_features,
    lead_frame_columns,
    lead_frame_sql,
    quarter_starts,
)
from leadscore.features._definitions import DaysSinceLast, DistinctDays, EventCount, HoursToFirst

from tests.conftest import WarehouseFactory, contacts_frame, events_frame, outcomes_frame

# every test that builds a warehouse runs on DuckDB, PostgreSQL and Spark
pytestmark = pytest.mark.all_engines

S = datetime(2024, 4, 1)  # the first snapshot
S2 = datetime(2024, 7, 1)  # the second; its 90-day horizon runs past DATA_END: censored
DATA_END = datetime(2024, 9, 1)

CONTACTS = contacts_frame(
    [
        # 1: open at S, won 2024-05-15 (inside [S, S+90d)): label 1; closed before S2.
        {"contact_id": 1, "created_at": "2024-01-10 00:00"},
        # 2: won exactly at S + 90 days: outside the half-open horizon, label 0 at S.
        {"contact_id": 2, "created_at": "2024-02-01", "title": "Marketing Intern"},
        # 3: lost before S: not in the frame at S at all.
        {"contact_id": 3, "created_at": "2024-03-01"},
        # 4: created exactly at S: not yet a contact at S (created_at < as_of), open at S2.
        {"contact_id": 4, "created_at": "2024-04-01 00:00"},
        # 5: won exactly at S: the outcome is not before the cutoff, so open and label 1.
        {"contact_id": 5, "created_at": "2023-11-01", "company_size": None},
        # 6: no events at all: counts 0, recency and speed-to-lead null.
        {"contact_id": 6, "created_at": "2024-01-01", "phone_valid": False},
        # 7: two events on one day and others further back.
        {"contact_id": 7, "created_at": "2023-06-01", "buying_timeline": None},
    ]
)
EVENTS = events_frame(
    [
        (1, "2024-01-10 06:00", "sales_touch"),  # 6 hours after creation
        (1, "2024-03-01 23:59", "page_view"),  # 30 days + 1 minute before S: outside 30d
        (1, "2024-03-02 00:00", "page_view"),  # exactly S - 30 days: inside the 30-day window
        (1, "2024-03-31 23:59:59", "email_open"),  # one second before S: counts, in 7d
        (1, "2024-04-01 00:00", "pricing_page_view"),  # exactly at S: must NOT count
        (1, "2024-04-05", "page_view"),  # after S: must not count
        (2, "2024-03-15", "giveaway_entry"),
        (2, "2024-03-16", "pricing_page_view"),
        (4, "2024-04-01 00:00", "demo_request"),  # at S2 it is 91 days old: outside 90d
        (4, "2024-06-30 12:00", "sales_touch"),
        (5, "2023-11-02", "sales_touch"),
        (5, "2024-03-30", "demo_request"),
        (7, "2024-03-20 10:00", "email_open"),
        (7, "2024-03-20 15:00", "page_view"),  # same day as the open: one active day
        (7, "2024-01-15", "webinar_attended"),
        (7, "2023-12-01", "giveaway_entry"),  # 122 days before S: in 180d, not in 90d
        (7, "2023-07-01", "sales_touch"),  # 30 days after creation = 720 hours
    ]
)
OUTCOMES = outcomes_frame(
    [
        (1, "2024-05-15", "won"),
        (2, "2024-06-30 00:00", "won"),  # S + 90 days exactly
        (3, "2024-03-20", "lost"),
        (5, "2024-04-01 00:00", "won"),  # exactly at S
    ]
)


def oracle(
    contacts: pd.DataFrame,
    events: pd.DataFrame,
    outcomes: pd.DataFrame,
    snapshots: list[datetime],
    horizon_days: int,
) -> pd.DataFrame:
    """The slow, obvious computation of the lead frame with labels."""
    rows = []
    for as_of in snapshots:
        for c in contacts.itertuples(index=False):
            if not c.created_at < as_of:
                continue
            closed_before = [o for o in outcomes.itertuples() if o.contact_id == c.contact_id
                             and o.closed_at < as_of]  # fmt: skip
            if closed_before:
                continue
            past = [e for e in events.itertuples() if e.contact_id == c.contact_id
                    and e.occurred_at < as_of]  # fmt: skip
            row: dict[str, object] = {"contact_id": c.contact_id, "as_of": as_of}
            for col in LEAD_ATTRIBUTE_COLUMNS:
                row[col] = getattr(c, col)
            row["days_since_created"] = (as_of - c.created_at).total_seconds() / 86400
            for f in engagement_features():
                if isinstance(f, EventCount):
                    n = 0
                    for e in past:
                        if f.event_types and e.event_type not in f.event_types:
                            continue
                        if e.occurred_at < as_of - timedelta(days=f.start_days):
                            continue
                        if f.end_days and e.occurred_at >= as_of - timedelta(days=f.end_days):
                            continue
                        n += 1
                    row[f.name] = n
                elif isinstance(f, DaysSinceLast):
                    times = [e.occurred_at for e in past
                             if not f.event_types or e.event_type in f.event_types]  # fmt: skip
                    row[f.name] = (as_of - max(times)).total_seconds() / 86400 if times else None
                elif isinstance(f, DistinctDays):
                    days = {e.occurred_at.date() for e in past
                            if e.occurred_at >= as_of - timedelta(days=f.window_days)}  # fmt: skip
                    row[f.name] = len(days)
                elif isinstance(f, HoursToFirst):
                    times = [e.occurred_at for e in past if e.event_type == f.event_type]
                    row[f.name] = (
                        (min(times) - c.created_at).total_seconds() / 3600 if times else None
                    )
            won = [o for o in outcomes.itertuples() if o.contact_id == c.contact_id
                   and o.outcome == "won" and as_of <= o.closed_at
                   < as_of + timedelta(days=horizon_days)]  # fmt: skip
            row["label"] = int(bool(won))
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def narrated_url(make_warehouse: WarehouseFactory) -> str:
    return make_warehouse(contacts=CONTACTS, events=EVENTS, outcomes=OUTCOMES)


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if col in ("contact_id", "as_of") or out[col].dtype == object or col in (
            "title", "industry", "country", "lead_source", "email_domain", "buying_timeline"
        ):  # fmt: skip
            continue
        out[col] = pd.to_numeric(out[col]).astype("float64")
    out["as_of"] = pd.to_datetime(out["as_of"]).astype("datetime64[us]")
    out["contact_id"] = out["contact_id"].astype("int64")
    for col in ("title", "industry", "country", "lead_source", "email_domain", "buying_timeline"):
        out[col] = out[col].astype("object").where(out[col].notna(), None)
    return out.sort_values(["as_of", "contact_id"]).reset_index(drop=True)


def test_lead_frame_equals_brute_force_oracle(narrated_url: str) -> None:
    with Warehouse(narrated_url) as wh:
        result = build_lead_frame(wh, [S, S2], with_labels=True, horizon_days=90, data_end=DATA_END)
    expected = oracle(CONTACTS, EVENTS, OUTCOMES, [S], horizon_days=90)
    assert list(result.frame.columns) == lead_frame_columns(with_labels=True)
    pd.testing.assert_frame_equal(
        _normalise(result.frame), _normalise(expected[result.frame.columns]), check_dtype=False
    )


def test_hand_worked_values_at_the_cutoff(narrated_url: str) -> None:
    with Warehouse(narrated_url) as wh:
        frame = build_lead_frame(
            wh, [S], with_labels=True, horizon_days=90, data_end=DATA_END
        ).frame
    by_id = frame.set_index("contact_id")
    # Contacts 3 (lost before S) and 4 (created exactly at S) are not in the frame.
    assert sorted(by_id.index) == [1, 2, 5, 6, 7]
    one = by_id.loc[1]
    assert one["pricing_page_view_30d"] == 0  # the view exactly at S is excluded
    assert one["events_7d"] == 1  # only the email open one second before S
    assert one["page_view_30d"] == 1  # S - 30 days exactly is in; one minute earlier is out
    assert one["events_90d"] == 4  # touch, two page views, the open
    assert one["hours_to_first_touch"] == pytest.approx(6.0)
    assert one["days_since_last_event"] == pytest.approx(1 / 86400)
    assert one["label"] == 1
    assert by_id.loc[2, "label"] == 0  # won exactly at S + 90 days: outside the horizon
    assert by_id.loc[5, "label"] == 1  # won exactly at S: inside
    six = by_id.loc[6]
    assert six["events_180d"] == 0 and np.isnan(six["days_since_last_event"])
    assert np.isnan(six["hours_to_first_touch"]) and six["phone_valid"] == 0.0
    seven = by_id.loc[7]
    assert seven["active_days_30d"] == 1  # two events on 2024-03-20: one day
    assert seven["active_days_90d"] == 2  # plus the webinar on 2024-01-15
    assert seven["borrowed_interest_180d"] == 1 and seven["giveaway_entry_30d"] == 0
    assert seven["hours_to_first_touch"] == pytest.approx(30 * 24)
    assert seven["buying_timeline"] is None or pd.isna(seven["buying_timeline"])
    assert np.isnan(by_id.loc[5, "company_size"])


def test_censored_rows_are_excluded_and_counted(narrated_url: str) -> None:
    with Warehouse(narrated_url) as wh:
        result = build_lead_frame(wh, [S, S2], with_labels=True, horizon_days=90, data_end=DATA_END)
    # At S2 the open contacts are 4, 6 and 7 (1, 2, 3 and 5 closed before it): all censored.
    assert result.censored_rows == 3
    assert set(pd.to_datetime(result.frame["as_of"])) == {pd.Timestamp(S)}


def test_scoring_frame_has_no_labels_and_sees_the_second_snapshot(narrated_url: str) -> None:
    with Warehouse(narrated_url) as wh:
        frame = build_lead_frame(wh, [S2]).frame
    assert "label" not in frame.columns
    by_id = frame.set_index("contact_id")
    assert sorted(by_id.index) == [4, 6, 7]
    # Contact 4's demo request at 2024-04-01 is 91 days before S2: outside the 90-day window.
    assert by_id.loc[4, "high_intent_90d"] == 0
    assert by_id.loc[4, "hours_to_first_touch"] == pytest.approx(90 * 24 + 12)
    expected = oracle(CONTACTS, EVENTS, OUTCOMES, [S2], horizon_days=90).drop(columns="label")
    pd.testing.assert_frame_equal(
        _normalise(frame), _normalise(expected[frame.columns]), check_dtype=False
    )


def test_horizon_must_be_positive(narrated_url: str) -> None:
    with Warehouse(narrated_url) as wh, pytest.raises(ConfigError, match="horizon_days must be"):
        build_lead_frame(wh, [S], horizon_days=0)


def test_quarter_starts() -> None:
    assert quarter_starts(datetime(2023, 1, 1), datetime(2024, 1, 1)) == [
        datetime(2023, 4, 1), datetime(2023, 7, 1), datetime(2023, 10, 1), datetime(2024, 1, 1)
    ]  # fmt: skip
    assert quarter_starts(datetime(2023, 2, 15), datetime(2023, 6, 30)) == [datetime(2023, 4, 1)]


def test_two_snapshots_in_one_query_each_use_their_own_windows(narrated_url: str) -> None:
    # Without labels nothing is censored, so S and S2 are computed by one query: every
    # window must start from the row's own snapshot, although the events are read once
    # from the earliest window start to the last snapshot.
    with Warehouse(narrated_url) as wh:
        frame = build_lead_frame(wh, [S2, S]).frame
    by_key = frame.set_index(["as_of", "contact_id"])
    assert list(by_key.index) == [(pd.Timestamp(S), i) for i in (1, 2, 5, 6, 7)] + [
        (pd.Timestamp(S2), i) for i in (4, 6, 7)
    ]  # ordered by snapshot, then contact
    at_s, at_s2 = by_key.loc[pd.Timestamp(S)], by_key.loc[pd.Timestamp(S2)]
    # Contact 7 at S: both 2024-03-20 events and the webinar are within 90 days, and the
    # 2023-12-01 giveaway (122 days) within 180.
    assert at_s.loc[7, "events_90d"] == 3 and at_s.loc[7, "events_180d"] == 4
    assert at_s.loc[7, "active_days_90d"] == 2
    # At S2 the 2024-03-20 events are 102 days old and the webinar 168: none within 90
    # days, all three within 180; the giveaway (213 days) is out.
    assert at_s2.loc[7, "events_90d"] == 0 and at_s2.loc[7, "events_180d"] == 3
    assert at_s2.loc[7, "active_days_90d"] == 0
    assert at_s2.loc[7, "days_since_last_event"] == pytest.approx(102 + 9 / 24)
    # Contact 4 at S2: the 2024-06-30 12:00 touch is 12 hours old; the demo request at
    # 2024-04-01 00:00 is 91 days old (in 180d, not 90d) and is its last high-intent event.
    assert at_s2.loc[4, "events_7d"] == 1 and at_s2.loc[4, "events_180d"] == 2
    assert at_s2.loc[4, "days_since_last_high_intent"] == pytest.approx(91.0)
    expected = oracle(CONTACTS, EVENTS, OUTCOMES, [S, S2], horizon_days=90).drop(columns="label")
    pd.testing.assert_frame_equal(
        _normalise(frame), _normalise(expected[frame.columns]), check_dtype=False
    )


NOON = datetime(2024, 4, 1, 12)  # a snapshot at noon: every window starts at noon too
NOON_CONTACTS = contacts_frame(
    [
        {"contact_id": 1, "created_at": "2023-12-01"},
        {"contact_id": 2, "created_at": "2023-12-01"},
        {"contact_id": 3, "created_at": "2023-12-01"},  # lost before NOON: not in the frame
    ]
)
NOON_EVENTS = events_frame(
    [
        # NOON - 90 days is 2024-01-02 12:00: this one is 3 hours too old for 90 days
        (1, "2024-01-02 09:00", "page_view"),
        # NOON - 30 days is 2024-03-02 12:00: too old for 30 days, though on that calendar day
        (1, "2024-03-02 08:00", "email_open"),
        (1, "2024-03-20 10:00", "email_open"),
        # the same calendar day as contact 1's, but after noon: inside 30 days
        (2, "2024-03-02 14:00", "email_open"),
        (2, "2023-12-01 06:00", "sales_touch"),  # 6 hours after creation
        (2, "2024-03-31 12:00", "pricing_page_view"),  # one day before NOON
        (3, "2024-01-10", "page_view"),
    ]
)
NOON_OUTCOMES = outcomes_frame([(3, "2024-02-01", "lost")])


def test_windows_and_active_days_start_mid_day_when_the_snapshot_does(
    make_warehouse: WarehouseFactory,
) -> None:
    url = make_warehouse(contacts=NOON_CONTACTS, events=NOON_EVENTS, outcomes=NOON_OUTCOMES)
    with Warehouse(url) as wh:
        frame = build_lead_frame(wh, [NOON]).frame
    by_id = frame.set_index("contact_id")
    assert sorted(by_id.index) == [1, 2]
    one, two = by_id.loc[1], by_id.loc[2]
    assert one["events_30d"] == 1 and one["events_90d"] == 2 and one["events_180d"] == 3
    # A calendar day is active in a window only through an event inside the window: 2024-03-02
    # counts for contact 2 (14:00) but not for contact 1 (08:00, before the window's noon).
    assert one["active_days_30d"] == 1 and one["active_days_90d"] == 2
    assert two["active_days_30d"] == 2 and two["active_days_90d"] == 2  # 03-02 and 03-31
    assert two["days_since_last_high_intent"] == pytest.approx(1.0)
    assert two["hours_to_first_touch"] == pytest.approx(6.0)
    assert one["events_30_90d"] == 1  # 2024-03-02 08:00: in [NOON - 90d, NOON - 30d)
    assert one["days_since_created"] == pytest.approx(122.5)
    expected = oracle(NOON_CONTACTS, NOON_EVENTS, NOON_OUTCOMES, [NOON], horizon_days=90)
    pd.testing.assert_frame_equal(
        _normalise(frame),
        _normalise(expected.drop(columns="label")[frame.columns]),
        check_dtype=False,
    )


def test_a_subset_of_features_computes_the_same_values(narrated_url: str) -> None:
    # lead_frame_sql(features=...) keeps the spine and attributes and computes only the
    # engagement columns asked for, in the order asked for.
    wanted = ("active_days_90d", "events_7d", "days_since_last_event")
    subset = [f for name in wanted for f in engagement_features() if f.name == name]
    with Warehouse(narrated_url) as wh:
        booleans = [c for c, t in wh.columns("contacts").items() if t == "BOOLEAN"]
        sql = lead_frame_sql(
            with_labels=False, horizon_days=90, boolean_columns=booleans, features=subset
        )
        with wh.registered("_snapshots", pd.DataFrame({"as_of": [S]})):
            frame = wh.query(sql)
    assert list(frame.columns) == [*lead_frame_columns(with_labels=False)[:12], *wanted]
    by_id = frame.set_index("contact_id")
    assert list(by_id.index) == [1, 2, 5, 6, 7]
    assert list(by_id["events_7d"]) == [1, 0, 1, 0, 0]  # contact 5's demo request on 03-30
    # contact 1 was active on 01-10, 03-01, 03-02 and 03-31
    assert list(by_id["active_days_90d"]) == [4, 2, 1, 0, 2]
    assert by_id.loc[1, "days_since_last_event"] == pytest.approx(1 / 86400)
    assert by_id.loc[5, "days_since_last_event"] == pytest.approx(2.0)
    assert np.isnan(by_id.loc[6, "days_since_last_event"])


@pytest.mark.parametrize("wanted", [
    None,  # every feature: counts, recency, first touch and active days together
    ("days_since_last_event", "hours_to_first_touch"),  # recency alone: the history step
    ("events_7d", "high_intent_30d", "events_30_90d"),  # counts alone: the longest window only
    ("active_days_30d", "active_days_90d"),
])  # fmt: skip
@pytest.mark.parametrize("decision", ["pipeline", "handoff"])
def test_the_per_lead_form_computes_the_layered_forms_frame(
    narrated_url: str, wanted: tuple[str, ...] | None, decision: str
) -> None:
    # lead_frame_sql(per_lead=True) computes each lead's aggregates in a LATERAL subquery
    # (PostgreSQL's form); the layered form joins grouped CTEs (DuckDB's and Spark's). On
    # the narrated leads (events exactly at and one second before a cutoff, leads with no
    # events, two snapshots) both give the same frame, value for value.
    if narrated_url.startswith("spark"):
        pytest.skip("Spark runs the layered form only")
    subset = None if wanted is None else [
        f for name in wanted for f in engagement_features() if f.name == name]  # fmt: skip
    frames = []
    with Warehouse(narrated_url) as wh:
        booleans = [c for c, t in wh.columns("contacts").items() if t == "BOOLEAN"]
        for per_lead in (False, True):
            sql = lead_frame_sql(with_labels=True, horizon_days=90, boolean_columns=booleans,
                                 features=subset, decision=decision, per_lead=per_lead)  # fmt: skip
            if decision == "pipeline":
                relation = ("_snapshots", pd.DataFrame({"as_of": [S, S2]}))
            else:
                relation = ("_range", pd.DataFrame({"since": [pd.Timestamp(2023, 1, 1)],
                                                    "until": [pd.Timestamp(S2)],
                                                    "open_only": [False]}))  # fmt: skip
            with wh.registered(*relation):
                frames.append(_normalise(wh.query(sql)))
    layered, per_lead_frame = frames
    assert len(layered) == (8 if decision == "pipeline" else 7)  # rows at both decisions
    pd.testing.assert_frame_equal(per_lead_frame, layered)
