"""In-memory point-in-time features (the HTTP service's raw-events path) against the SQL.

:func:`features._in_memory.point_in_time_values` computes, for a few leads and without SQL,
the features :func:`features.build_lead_frame` and :func:`features.build_handoff_frame`
compute in the warehouse. Every case here is computed three ways and compared: in memory,
by the point-in-time SQL on DuckDB, and by a brute-force oracle in plain Python loops (the
narrated pipeline cases of ``test_point_in_time.py`` with its own oracle; the handoff and the
many-event cases with :func:`brute_force_row`, the same loops for one row at any decision).
Counts must be equal; recency, first touch and lead age equal to the DuckDB frame's bits and
within 1e-9 of the oracle's. Then ``serving._online.request_columns`` (what the service
scores) against the batch frame of a generated warehouse, lead for lead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from leadscore.features import (
    ConfigError,
    DataValidationError,
    FeatureSpec,
    Warehouse,
    build_handoff_frame,
    build_lead_frame,
    demo_spec,
)
from leadscore.features._definitions import DaysSinceLast, DistinctDays, EventCount, HoursToFirst
from leadscore.features._generator import GeneratorConfig, write_crm
from leadscore.features._in_memory import point_in_time_values
from leadscore.features._schema import EVENT_TYPES
from leadscore.serving._online import request_columns
from leadscore.serving._schemas import request_models

from tests.conftest import WarehouseFactory, contacts_frame, events_frame, outcomes_frame
from tests.test_point_in_time import (
    CONTACTS,
    EVENTS,
    NOON,
    NOON_CONTACTS,
    NOON_EVENTS,
    NOON_OUTCOMES,
    OUTCOMES,
    S2,
    S,
    oracle,
)

PIPELINE = demo_spec()
HANDOFF = demo_spec().with_decision("handoff", 1.0)
TOLERANCE = 1e-9  # against the oracle, whose arithmetic is timedelta's, not the engine's


# ---------------------------------------------------------------------------------------------
# The three ways
# ---------------------------------------------------------------------------------------------


def in_memory(
    spec: FeatureSpec, keys: pd.DataFrame, contacts: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """``point_in_time_values`` for the rows ``keys`` (``contact_id``, and ``as_of`` at the
    pipeline decision), each row given every event of its contact."""
    created = contacts.set_index("contact_id")["created_at"]
    rows = keys.reset_index(drop=True)
    joined = rows[["contact_id"]].reset_index(names="row").merge(events, on="contact_id")
    values = point_in_time_values(
        spec,
        created.loc[rows["contact_id"]].to_numpy(),
        event_lead=joined["row"].to_numpy(),
        occurred_at=joined["occurred_at"].to_numpy(),
        event_type=joined["event_type"].tolist(),
        as_of=None if spec.decision == "handoff" else rows["as_of"].to_numpy(),
    )
    return pd.DataFrame({"contact_id": rows["contact_id"], **values})


def brute_force_row(
    spec: FeatureSpec, created_at: datetime, cutoff: datetime, events: list[tuple[datetime, str]]
) -> dict[str, object]:
    """One row's features the slow, obvious way: every event of the lead, one at a time."""
    excluded = spec.excluded_event_types()
    past = [(at, t) for at, t in events if at < cutoff and t not in excluded]
    row: dict[str, object] = {}
    if spec.has_time:
        row["days_since_created"] = (cutoff - created_at).total_seconds() / 86400
    for f in spec.engagement():
        if isinstance(f, EventCount):
            row[f.name] = sum(
                1 for at, t in past
                if (not f.event_types or t in f.event_types)
                and cutoff - timedelta(days=f.start_days) <= at < cutoff - timedelta(days=f.end_days)
            )  # fmt: skip
        elif isinstance(f, DaysSinceLast):
            times = [at for at, t in past if not f.event_types or t in f.event_types]
            row[f.name] = (cutoff - max(times)).total_seconds() / 86400 if times else None
        elif isinstance(f, DistinctDays):
            start = cutoff - timedelta(days=f.window_days)
            row[f.name] = len({at.date() for at, _ in past if at >= start})
        elif isinstance(f, HoursToFirst):
            times = [at for at, t in past if t == f.event_type]
            row[f.name] = (min(times) - created_at).total_seconds() / 3600 if times else None
    return row


def brute_force(
    spec: FeatureSpec, keys: pd.DataFrame, contacts: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """:func:`brute_force_row` for each row of ``keys``: the cutoff is the row's ``as_of``
    (pipeline) or its contact's ``created_at`` plus the handoff delay."""
    created = dict(zip(contacts["contact_id"], contacts["created_at"], strict=True))
    out = []
    for key in keys.itertuples(index=False):
        cid = key.contact_id
        cutoff = (created[cid] + timedelta(hours=spec.handoff_delay_hours)
                  if spec.decision == "handoff" else key.as_of)  # fmt: skip
        mine = [(e.occurred_at, e.event_type) for e in events.itertuples() if e.contact_id == cid]
        out.append({"contact_id": cid, **brute_force_row(spec, created[cid], cutoff, mine)})
    return pd.DataFrame(out)


def feature_names(spec: FeatureSpec) -> list[str]:
    return [*(["days_since_created"] if spec.has_time else []), *spec.engagement_names()]


def assert_same_values(
    got: pd.DataFrame | Mapping[str, Any],
    want: pd.DataFrame | Mapping[str, Any],
    spec: FeatureSpec,
    *,
    exact: bool,
) -> None:
    """Every feature column of ``spec``: counts equal; the others equal (``exact``: the
    same bits) or within :data:`TOLERANCE`; missing in the same rows."""
    for name in feature_names(spec):
        g = np.asarray(got[name], dtype="float64")
        w = np.asarray(pd.to_numeric(pd.Series(list(want[name]), dtype="object")),
                       dtype="float64")  # fmt: skip
        if exact or name in spec.count_features():
            np.testing.assert_array_equal(g, w, err_msg=name)
        else:
            np.testing.assert_allclose(g, w, rtol=0, atol=TOLERANCE, err_msg=name)


def sql_frame(url: str, spec: FeatureSpec, snapshots: list[datetime] | None = None) -> pd.DataFrame:
    with Warehouse(url) as wh:
        if spec.decision == "handoff":
            return build_handoff_frame(wh, spec).frame
        assert snapshots is not None
        return build_lead_frame(wh, snapshots, spec=spec).frame


def by_key(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    return frame.sort_values(list(keys)).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The narrated pipeline cases of test_point_in_time.py, three ways
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("snapshots", [[S], [S2], [S, S2]], ids=["S", "S2", "S and S2"])
def test_narrated_pipeline_cases_three_ways(
    make_warehouse: WarehouseFactory, snapshots: list[datetime]
) -> None:
    # The spine (open contacts at each snapshot) comes from the oracle; every row then has its
    # own snapshot as its cutoff: with S and S2 together, one call evaluates both.
    url = make_warehouse(contacts=CONTACTS, events=EVENTS, outcomes=OUTCOMES)
    expected = by_key(oracle(CONTACTS, EVENTS, OUTCOMES, snapshots, horizon_days=90),
                      "as_of", "contact_id")  # fmt: skip
    got = in_memory(PIPELINE, expected[["contact_id", "as_of"]], CONTACTS, EVENTS)
    sql = by_key(sql_frame(url, PIPELINE, snapshots), "as_of", "contact_id")
    assert list(sql["contact_id"]) == list(expected["contact_id"]) == list(got["contact_id"])
    assert_same_values(got, expected, PIPELINE, exact=False)
    assert_same_values(got, sql, PIPELINE, exact=True)


def test_hand_worked_values_at_the_cutoff() -> None:
    # The values test_point_in_time.py works out by hand, in memory: contacts 1, 6 and 7 at S.
    keys = pd.DataFrame({"contact_id": [1, 6, 7], "as_of": [S] * 3})
    one, six, seven = in_memory(PIPELINE, keys, CONTACTS, EVENTS).to_dict("records")
    assert one["pricing_page_view_30d"] == 0  # the view exactly at S is the future
    assert one["events_7d"] == 1  # only the email open one second before S
    assert one["page_view_30d"] == 1  # S - 30 days exactly is in; one minute earlier is out
    assert one["events_90d"] == 4  # touch, two page views, the open
    assert one["hours_to_first_touch"] == 6.0
    assert one["days_since_last_event"] == pytest.approx(1 / 86400, abs=1e-15)
    assert six["events_180d"] == 0 and six["active_days_90d"] == 0  # no events: counts 0 ...
    assert np.isnan(six["days_since_last_event"]) and np.isnan(six["hours_to_first_touch"])
    assert seven["active_days_30d"] == 1  # two events on 2024-03-20: one day
    assert seven["active_days_90d"] == 2  # plus the webinar on 2024-01-15
    assert seven["borrowed_interest_180d"] == 1 and seven["giveaway_entry_30d"] == 0
    assert seven["hours_to_first_touch"] == 30 * 24


def test_windows_and_active_days_start_mid_day_three_ways(make_warehouse: WarehouseFactory) -> None:
    url = make_warehouse(contacts=NOON_CONTACTS, events=NOON_EVENTS, outcomes=NOON_OUTCOMES)
    expected = by_key(oracle(NOON_CONTACTS, NOON_EVENTS, NOON_OUTCOMES, [NOON], horizon_days=90),
                      "contact_id")  # fmt: skip
    got = in_memory(PIPELINE, expected[["contact_id", "as_of"]], NOON_CONTACTS, NOON_EVENTS)
    sql = by_key(sql_frame(url, PIPELINE, [NOON]), "contact_id")
    assert list(got["contact_id"]) == list(sql["contact_id"]) == [1, 2]
    # 2024-03-02 is an active day in the 30-day window for contact 2 (14:00), not for
    # contact 1 (08:00, before the window's noon start).
    assert list(got["active_days_30d"]) == [1, 2]
    assert list(got["events_30_90d"]) == [1, 0]
    assert_same_values(got, expected, PIPELINE, exact=False)
    assert_same_values(got, sql, PIPELINE, exact=True)


# ---------------------------------------------------------------------------------------------
# The handoff decision: created_at + 1 hour, sales' own events left out of every feature
# ---------------------------------------------------------------------------------------------

HANDOFF_CONTACTS = contacts_frame(
    [
        # 1: created 09:00, handed off at 10:00.
        {"contact_id": 1, "created_at": "2024-05-01 09:00"},
        # 2: created 23:30, handed off at 00:30 the next day: its events span two dates.
        {"contact_id": 2, "created_at": "2024-05-01 23:30"},
        # 3: only sales worked it before the handoff.
        {"contact_id": 3, "created_at": "2024-05-03 00:00"},
        # 4: an event type the vocabulary does not know.
        {"contact_id": 4, "created_at": "2024-05-04 12:00:00.250000"},
    ]
)
HANDOFF_EVENTS = events_frame(
    [
        (1, "2024-05-01 09:59:59", "page_view"),  # one second before the handoff: counts
        (1, "2024-05-01 10:00:00", "pricing_page_view"),  # exactly at the handoff: must NOT count
        (1, "2024-05-01 09:30", "sales_touch"),  # sales' own, before the handoff: never counts
        (1, "2024-05-01 09:45", "meeting_held"),  # sales' own and high intent: never counts
        (1, "2024-04-20 08:00", "email_open"),  # before creation (tracked anonymously): counts
        (1, "2024-05-01 11:00", "demo_request"),  # after the handoff: the future
        (2, "2024-05-01 23:40", "email_click"),
        (2, "2024-05-02 00:10", "demo_request"),  # high intent, 20 minutes before the handoff
        (2, "2024-05-02 00:20", "sales_touch"),  # sales' own: not the last event
        (3, "2024-05-03 00:05", "sales_touch"),
        (3, "2024-05-03 01:00", "page_view"),  # exactly at the handoff
        (4, "2024-05-04 12:30", "partner_webinar"),  # unknown: only in all-type features
        (4, "2024-05-04 13:00:00.249999", "form_submit"),  # one microsecond before the handoff
        (4, "2024-05-04 13:00:00.250000", "form_submit"),  # exactly at it
    ]
)


def test_handoff_narrated_cases_three_ways(make_warehouse: WarehouseFactory) -> None:
    url = make_warehouse(contacts=HANDOFF_CONTACTS, events=HANDOFF_EVENTS,
                         outcomes=outcomes_frame([]))  # fmt: skip
    keys = HANDOFF_CONTACTS[["contact_id"]]
    got = in_memory(HANDOFF, keys, HANDOFF_CONTACTS, HANDOFF_EVENTS).set_index("contact_id")
    # the sales-owned types have no feature of their own at the handoff
    assert not any(n.startswith(("sales_touch", "meeting_held", "hours_to_first")) for n in got)
    one, two, three, four = (got.loc[i] for i in (1, 2, 3, 4))
    assert one["events_7d"] == 1 and one["events_30d"] == 2  # the view, the open; no sales
    assert one["page_view_30d"] == 1 and one["pricing_page_view_30d"] == 0
    assert one["high_intent_7d"] == 0  # the meeting is sales' own, the demo request later
    assert one["days_since_last_event"] == 1 / 86400  # the page view, not the 09:45 meeting
    assert np.isnan(one["days_since_last_high_intent"])
    assert one["active_days_30d"] == 2  # 2024-04-20 and 2024-05-01
    assert one["days_since_created"] == 1 / 24
    assert two["events_7d"] == 2 and two["active_days_30d"] == 2  # 05-01 and 05-02
    assert two["days_since_last_event"] == pytest.approx(20 / 1440, abs=1e-15)  # not the touch
    assert two["days_since_last_high_intent"] == pytest.approx(20 / 1440, abs=1e-15)
    assert three["events_180d"] == 0 and three["active_days_90d"] == 0
    assert np.isnan(three["days_since_last_event"])  # its one event before the handoff is sales'
    assert four["events_7d"] == 2 and four["form_submit_30d"] == 1  # one microsecond matters
    # a microsecond (as far as the SQL's double of seconds since 1970 tells: 0.95 us)
    assert four["days_since_last_event"] == pytest.approx(1e-6 / 86400, abs=1e-12)
    expected = brute_force(HANDOFF, keys, HANDOFF_CONTACTS, HANDOFF_EVENTS)
    sql = by_key(sql_frame(url, HANDOFF), "contact_id")
    assert list(sql["contact_id"]) == [1, 2, 3, 4]
    assert_same_values(got.reset_index(), expected, HANDOFF, exact=False)
    assert_same_values(got.reset_index(), sql, HANDOFF, exact=True)


# ---------------------------------------------------------------------------------------------
# Many events per lead, unknown types, events on every boundary
# ---------------------------------------------------------------------------------------------

UNKNOWN_TYPES = ("partner_referral", "Podcast Listen")
AS_OF = datetime(2024, 6, 1, 13, 45, 10, 123456)  # a request's "now", microseconds and all


def random_history(seed: int, n_contacts: int, spec: FeatureSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contacts created up to a year before AS_OF (microsecond times), each with about 120
    events around its cutoff (AS_OF, or its handoff time): random ones over 200 days, and one
    on each edge: exactly at the cutoff, a microsecond before it, exactly at and a
    microsecond outside every window start, and either side of midnight."""
    rng = np.random.default_rng(seed)
    us = pd.to_timedelta(rng.integers(0, 365 * 86_400_000_000, n_contacts), unit="us")
    created = pd.Series(pd.Timestamp(AS_OF) - us).astype("datetime64[us]")
    contacts = contacts_frame([{"contact_id": i + 1, "created_at": str(c)}
                               for i, c in enumerate(created)])  # fmt: skip
    types = np.array([*EVENT_TYPES, *UNKNOWN_TYPES], dtype=object)
    rows = []
    for c in contacts.itertuples(index=False):
        cutoff = (c.created_at + pd.Timedelta(hours=spec.handoff_delay_hours)
                  if spec.decision == "handoff" else pd.Timestamp(AS_OF))  # fmt: skip
        n = int(rng.integers(80, 160))
        offsets = pd.to_timedelta(rng.integers(-5 * 86_400_000_000, 200 * 86_400_000_000, n),
                                  unit="us")  # fmt: skip
        stamps = [cutoff - o for o in offsets]
        one_us, midnight = pd.Timedelta(microseconds=1), cutoff.normalize()
        stamps += [cutoff, cutoff - one_us, midnight, midnight - one_us,
                   midnight - pd.Timedelta(days=29), midnight - pd.Timedelta(days=29) - one_us]
        for days in (7, 30, 90, 180):
            stamps += [cutoff - pd.Timedelta(days=days), cutoff - pd.Timedelta(days=days) - one_us]
        for at in stamps:
            rows.append((int(c.contact_id), str(at), str(rng.choice(types))))
    return contacts, events_frame(rows)


@pytest.mark.parametrize("spec", [PIPELINE, HANDOFF, demo_spec().with_decision("handoff", 0.25)],
                         ids=["pipeline", "handoff 1 h", "handoff 15 min"])  # fmt: skip
def test_many_events_unknown_types_and_edges_three_ways(
    make_warehouse: WarehouseFactory, spec: FeatureSpec
) -> None:
    contacts, events = random_history(seed=7, n_contacts=25, spec=spec)
    url = make_warehouse(contacts=contacts, events=events, outcomes=outcomes_frame([]))
    keys = contacts[["contact_id"]].assign(as_of=pd.Timestamp(AS_OF))
    got = in_memory(spec, keys, contacts, events)
    expected = brute_force(spec, keys, contacts, events)
    sql = by_key(sql_frame(url, spec, [AS_OF]), "contact_id")
    assert list(sql["contact_id"]) == list(got["contact_id"]) == list(range(1, 26))
    assert_same_values(got, expected, spec, exact=False)
    assert_same_values(got, sql, spec, exact=True)
    # The data does exercise what it is meant to: events of unknown types before the cutoff
    # (each counts in events_180d and in no per-type count) and on the cutoff itself.
    per_type = [f.name for f in spec.engagement()
                if isinstance(f, EventCount) and len(f.event_types) == 1 and f.start_days == 180]  # fmt: skip
    assert (got["events_180d"] > got[per_type].sum(axis=1)).all()
    assert events["event_type"].isin(UNKNOWN_TYPES).sum() > 100


def test_the_inputs_are_not_modified_and_event_order_does_not_matter() -> None:
    contacts, events = random_history(seed=3, n_contacts=6, spec=PIPELINE)
    keys = contacts[["contact_id"]].assign(as_of=pd.Timestamp(AS_OF))
    created = contacts["created_at"].to_numpy().copy()
    lead = (events["contact_id"] - 1).to_numpy()
    at, types = events["occurred_at"].to_numpy(), events["event_type"].tolist()
    before = (created.copy(), lead.copy(), at.copy(), list(types))
    ordered = point_in_time_values(PIPELINE, created, event_lead=lead, occurred_at=at,
                                   event_type=types, as_of=AS_OF)  # fmt: skip
    for given, kept in zip((created, lead, at, types), before, strict=True):
        np.testing.assert_array_equal(given, kept)
    shuffled = np.random.default_rng(0).permutation(len(lead))
    reordered = point_in_time_values(PIPELINE, created, event_lead=lead[shuffled],
                                     occurred_at=at[shuffled], as_of=AS_OF,
                                     event_type=[types[k] for k in shuffled])  # fmt: skip
    assert_same_values(reordered, ordered, PIPELINE, exact=True)
    assert_same_values(ordered, in_memory(PIPELINE, keys, contacts, events), PIPELINE, exact=True)


def test_no_events_gives_zero_counts_and_missing_recency() -> None:
    values = point_in_time_values(
        PIPELINE, np.array(["2024-05-01T00:00"], dtype="datetime64[us]"),
        event_lead=np.array([], dtype=np.intp), occurred_at=np.array([], dtype="datetime64[us]"),
        event_type=[], as_of=datetime(2024, 5, 3),
    )  # fmt: skip
    assert list(values) == feature_names(PIPELINE)
    assert values["days_since_created"].tolist() == [2.0]
    for name in PIPELINE.engagement_names():
        assert (values[name].tolist() == [0.0] if name in PIPELINE.count_features()
                else np.isnan(values[name]).all()), name  # fmt: skip


def test_inputs_that_do_not_fit_are_named_errors() -> None:
    created = np.array(["2024-05-01T00:00"], dtype="datetime64[us]")
    one_event: dict[str, Any] = {"event_lead": [0], "occurred_at": np.array(
        ["2024-05-02T00:00"], dtype="datetime64[us]"), "event_type": ["page_view"]}  # fmt: skip
    with pytest.raises(ConfigError, match="as_of does not apply at the handoff decision"):
        point_in_time_values(HANDOFF, created, **one_event, as_of=datetime(2024, 6, 1))
    with pytest.raises(ConfigError, match=r"as_of \(the snapshot\) is required at the pipeline decision"):
        point_in_time_values(PIPELINE, created, **one_event)
    with pytest.raises(ConfigError, match=r"event_lead must be rows 0 to 0, got \[1\]"):
        point_in_time_values(PIPELINE, created, **{**one_event, "event_lead": [1]},
                             as_of=datetime(2024, 6, 1))  # fmt: skip
    with pytest.raises(ConfigError, match="one value per event, got 1, 1 and 2 values"):
        point_in_time_values(PIPELINE, created, **{**one_event, "event_type": ["a", "b"]},
                             as_of=datetime(2024, 6, 1))  # fmt: skip
    with pytest.raises(DataValidationError, match="event_type must be text, not null"):
        point_in_time_values(PIPELINE, created, **{**one_event, "event_type": [None]},
                             as_of=datetime(2024, 6, 1))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# What the service scores: request_columns against the batch frame of a generated warehouse
# ---------------------------------------------------------------------------------------------

GENERATED_AS_OF = datetime(2025, 7, 1)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A generated demo CRM (500 contacts) with harder events added:
    microsecond times, unknown types, events exactly at GENERATED_AS_OF and at every lead's
    handoff time, and a sales touch a second before each handoff."""
    db = tmp_path_factory.mktemp("online") / "crm.duckdb"
    con = duckdb.connect(str(db))
    try:
        write_crm(con, GeneratorConfig(n_contacts=500, seed=5))
        con.execute("UPDATE events SET occurred_at = occurred_at + to_microseconds("
                    "CAST(hash(contact_id, occurred_at) % 1000000 AS BIGINT))")  # fmt: skip
        con.execute("""
            INSERT INTO events
            SELECT contact_id, occurred_at, kind FROM contacts,
              (VALUES (TIMESTAMP '2025-07-01 00:00:00', 'pricing_page_view'),
                      (TIMESTAMP '2025-06-30 23:59:59.999999', 'partner_referral'),
                      (TIMESTAMP '2025-06-01 00:00:00', 'Podcast Listen')) AS t(occurred_at, kind)
            UNION ALL SELECT contact_id, created_at + INTERVAL 1 HOUR, 'demo_request' FROM contacts
            UNION ALL SELECT contact_id, created_at + INTERVAL 3599 SECOND, 'sales_touch'
              FROM contacts
            UNION ALL SELECT contact_id, created_at + INTERVAL 1800 SECOND, 'partner_referral'
              FROM contacts""")  # fmt: skip
    finally:
        con.close()
    return f"duckdb:///{db}"


def request_leads(url: str, ids: list[int], spec: FeatureSpec) -> list[Any]:
    """The contacts ``ids`` as the service's request leads, each with its whole history
    (events after the cutoff included: the features must leave them out)."""
    lead_in, _ = request_models(spec)
    with Warehouse(url, read_only=True) as wh:
        contacts = wh.query("SELECT * FROM contacts").set_index("contact_id")
        events = wh.query("SELECT * FROM events ORDER BY occurred_at DESC")  # any order will do
    history = {cid: group for cid, group in events.groupby("contact_id")}
    leads = []
    for cid in ids:
        c = contacts.loc[cid]
        mine = history.get(cid, events.iloc[:0])
        lead = {"lead_id": int(cid), "created_at": c["created_at"].to_pydatetime(),
                "events": [{"occurred_at": at.to_pydatetime(), "event_type": t}
                           for at, t in zip(mine["occurred_at"], mine["event_type"], strict=True)]}  # fmt: skip
        for a in spec.attributes:
            value = c[a.name]
            kind = {"boolean": bool, "numeric": float, "categorical": str}[a.kind]
            lead[a.name] = None if pd.isna(value) else kind(value)
        leads.append(lead_in.model_validate(lead))
    return leads


def assert_request_equals_batch(columns: Any, batch: pd.DataFrame, spec: FeatureSpec) -> None:
    assert set(columns.names()) == set(batch.columns) - {"contact_id", "as_of"}
    assert_same_values({n: columns.floats(n) for n in feature_names(spec)}, batch, spec,
                       exact=True)  # fmt: skip
    for a in spec.attributes:
        if a.kind == "categorical":
            want = [None if pd.isna(v) else v for v in batch[a.name]]
            assert columns.objects(a.name) == want, a.name
        else:
            np.testing.assert_array_equal(columns.floats(a.name),
                                          batch[a.name].to_numpy(dtype="float64"), a.name)  # fmt: skip


def test_request_columns_equal_the_batch_frame_pipeline(generated: str) -> None:
    # Every lead open at GENERATED_AS_OF, all in one request, with every event it ever had:
    # the service's rows equal the batch SQL's, to the bit.
    with Warehouse(generated, read_only=True) as wh:
        batch = build_lead_frame(wh, [GENERATED_AS_OF], spec=PIPELINE).frame
    ids = batch["contact_id"].tolist()
    assert len(ids) >= 50 and (batch["events_180d"] > 0).sum() >= 50
    leads = request_leads(generated, ids, PIPELINE)
    assert sum(len(lead.events) for lead in leads) > 3_000
    assert_request_equals_batch(request_columns(leads, GENERATED_AS_OF, PIPELINE), batch, PIPELINE)
    # one lead per request gives the same row as the lead among all the others
    alone = request_columns(leads[:1], GENERATED_AS_OF, PIPELINE)
    assert_request_equals_batch(alone, batch.iloc[:1], PIPELINE)


def test_request_columns_equal_the_batch_frame_handoff(generated: str) -> None:
    # Handoff model: each lead at created_at + 1 hour; the demo request added at exactly that
    # time and the sales touch a second before it never count; the request's as_of only has
    # to be after the lead's creation.
    with Warehouse(generated, read_only=True) as wh:
        batch = build_handoff_frame(wh, HANDOFF).frame
    leads = request_leads(generated, batch["contact_id"].tolist(), HANDOFF)
    columns = request_columns(leads, datetime(2026, 6, 1), HANDOFF)
    assert_request_equals_batch(columns, batch, HANDOFF)
    # the touch a second before the handoff is never any lead's last event
    assert (columns.floats("days_since_last_event") > 1.5 / 86400).all()
