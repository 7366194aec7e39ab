"""Bad input stops with an error naming the table, the column, an example and the count."""

from __future__ import annotations

from datetime import datetime

import pytest
from leadscore.features import (
    ContractViolations,
    DataValidationError,
    MissingColumnsError,
    MissingTableError,
    Warehouse,
    validate_warehouse,
)

from tests.conftest import WarehouseFactory, contacts_frame, events_frame, outcomes_frame

# every test that builds a warehouse runs on DuckDB, PostgreSQL and Spark
pytestmark = pytest.mark.all_engines

NOW = datetime(2025, 1, 1)
GOOD_CONTACTS = contacts_frame(
    [
        {"contact_id": 1, "created_at": "2024-01-01"},
        {"contact_id": 2, "created_at": "2024-02-01"},
        {"contact_id": 3, "created_at": "2024-03-01"},
    ]
)
GOOD_EVENTS = events_frame([(1, "2024-01-02", "page_view"), (2, "2024-02-03", "email_open")])
GOOD_OUTCOMES = outcomes_frame([(1, "2024-05-01", "won")])


def _validate(url: str) -> None:
    with Warehouse(url) as wh:
        validate_warehouse(wh, now=NOW)


def _only_problem(url: str) -> DataValidationError:
    """Validate ``url``, expect ContractViolations with exactly one problem, return it."""
    with pytest.raises(ContractViolations) as info:
        _validate(url)
    assert len(info.value.problems) == 1, [str(p) for p in info.value.problems]
    return info.value.problems[0]


def _where(problem: DataValidationError) -> tuple[str, str | None, int, list[object]]:
    """Table, column, count and examples of a problem, for comparing in one line."""
    return problem.table, problem.column, problem.count, problem.examples


def test_good_warehouse_passes_and_reports_counts(make_warehouse: WarehouseFactory) -> None:
    url = make_warehouse(contacts=GOOD_CONTACTS, events=GOOD_EVENTS, outcomes=GOOD_OUTCOMES)
    with Warehouse(url) as wh:
        report = validate_warehouse(wh, now=NOW)
    assert report.row_counts == {"contacts": 3, "events": 2, "outcomes": 1}
    assert report.data_start == datetime(2024, 1, 1)
    assert report.data_end == datetime(2024, 5, 1)


def test_missing_table_names_it_and_lists_what_exists(make_warehouse: WarehouseFactory) -> None:
    url = make_warehouse(contacts=GOOD_CONTACTS, events=GOOD_EVENTS)
    with pytest.raises(ContractViolations) as info:
        _validate(url)
    assert len(info.value.problems) == 1, [str(p) for p in info.value.problems]
    problem = info.value.problems[0]
    assert isinstance(problem, MissingTableError)
    assert problem.table == "outcomes"
    assert "table 'outcomes'" in str(info.value) and "['contacts', 'events']" in str(info.value)


def test_missing_column(make_warehouse: WarehouseFactory) -> None:
    url = make_warehouse(
        contacts=GOOD_CONTACTS.drop(columns=["created_at"]),
        events=GOOD_EVENTS,
        outcomes=GOOD_OUTCOMES,
    )
    problem = _only_problem(url)
    assert isinstance(problem, MissingColumnsError)
    assert (problem.table, problem.column) == ("contacts", "created_at")
    assert "missing ['created_at']" in str(problem)


def test_duplicate_contact_id_counts_every_row(make_warehouse: WarehouseFactory) -> None:
    # contact 2 appears twice, contact 3 three times: 5 rows are affected.
    dupes = contacts_frame(
        [
            {"contact_id": 1, "created_at": "2024-01-01"},
            {"contact_id": 2, "created_at": "2024-02-01"},
            {"contact_id": 2, "created_at": "2024-02-02"},
            {"contact_id": 3, "created_at": "2024-03-01"},
            {"contact_id": 3, "created_at": "2024-03-02"},
            {"contact_id": 3, "created_at": "2024-03-03"},
        ]
    )
    url = make_warehouse(contacts=dupes, events=GOOD_EVENTS, outcomes=GOOD_OUTCOMES)
    problem = _only_problem(url)
    assert (problem.table, problem.column, problem.count) == ("contacts", "contact_id", 5)
    assert set(problem.examples) == {2, 3}
    assert "duplicate" in str(problem) and "5 rows affected" in str(problem)


def test_outcome_for_unknown_contact(make_warehouse: WarehouseFactory) -> None:
    # contact 99 closed a deal but is not in contacts.
    outcomes = outcomes_frame([(1, "2024-05-01", "won"), (99, "2024-06-01", "lost")])
    url = make_warehouse(contacts=GOOD_CONTACTS, events=GOOD_EVENTS, outcomes=outcomes)
    problem = _only_problem(url)
    assert _where(problem) == ("outcomes", "contact_id", 1, [99])


def test_timestamp_in_the_future(make_warehouse: WarehouseFactory) -> None:
    # two events after NOW (2025-01-01): a typo'd year and a clock-skewed tracker.
    events = events_frame(
        [
            (1, "2024-01-02", "page_view"),
            (1, "2205-01-02", "page_view"),
            (2, "2025-01-01 00:01", "email_open"),
        ]
    )
    url = make_warehouse(contacts=GOOD_CONTACTS, events=events, outcomes=GOOD_OUTCOMES)
    problem = _only_problem(url)
    assert (problem.table, problem.column, problem.count) == ("events", "occurred_at", 2)
    assert "future" in problem.problem
    assert "2205" in str(problem)


def test_outcome_value_outside_won_lost(make_warehouse: WarehouseFactory) -> None:
    outcomes = outcomes_frame([(1, "2024-05-01", "WON"), (2, "2024-06-01", "lost")])
    url = make_warehouse(contacts=GOOD_CONTACTS, events=GOOD_EVENTS, outcomes=outcomes)
    problem = _only_problem(url)
    assert _where(problem) == ("outcomes", "outcome", 1, ["WON"])


def test_event_before_contact_existed(make_warehouse: WarehouseFactory) -> None:
    events = events_frame([(3, "2024-02-01", "page_view")])  # contact 3 was created 2024-03-01
    url = make_warehouse(contacts=GOOD_CONTACTS, events=events, outcomes=GOOD_OUTCOMES)
    problem = _only_problem(url)
    assert _where(problem) == ("events", "occurred_at", 1, [3])


def test_wrong_type_is_named(make_warehouse: WarehouseFactory) -> None:
    contacts = GOOD_CONTACTS.assign(created_at=GOOD_CONTACTS["created_at"].dt.strftime("%d/%m/%Y"))
    url = make_warehouse(contacts=contacts, events=GOOD_EVENTS, outcomes=GOOD_OUTCOMES)
    problem = _only_problem(url)
    assert (problem.table, problem.column) == ("contacts", "created_at")
    assert "expected a column of type TIMESTAMP" in str(problem) and "VARCHAR" in str(problem)


def test_several_problems_are_all_reported(make_warehouse: WarehouseFactory) -> None:
    outcomes = outcomes_frame([(99, "2024-05-01", "won"), (1, "2030-01-01", "lost")])
    url = make_warehouse(contacts=GOOD_CONTACTS, events=GOOD_EVENTS, outcomes=outcomes)
    with pytest.raises(ContractViolations) as info:
        _validate(url)
    found = {(p.table, p.column, p.count) for p in info.value.problems}
    assert found == {("outcomes", "contact_id", 1), ("outcomes", "closed_at", 1)}
    assert str(info.value).startswith("2 data contract problem(s) found")


def test_cross_table_checks_in_one_scan_see_every_duplicate(make_warehouse: WarehouseFactory
                                                            ) -> None:  # fmt: skip
    # The events and outcomes checks run in one scan joined to the contacts grouped by id.
    # Contact 2 is in twice (created 2024-02-01 and 2024-03-01): an event on 2024-02-15 is
    # before one of its creations, which the rule's own EXISTS counts, and must not be lost
    # to the grouping; it must not be counted twice either. Contact 1's event and outcome
    # are fine; contact 7 is in no row of contacts.
    contacts = contacts_frame([
        {"contact_id": 1, "created_at": "2024-01-01"},
        {"contact_id": 2, "created_at": "2024-02-01"},
        {"contact_id": 2, "created_at": "2024-03-01"},
    ])  # fmt: skip
    events = events_frame([(1, "2024-01-02", "page_view"), (2, "2024-02-15", "email_open"),
                           (7, "2024-04-01", "page_view")])  # fmt: skip
    outcomes = outcomes_frame([(1, "2024-05-01", "won"), (2, "2024-02-20", "lost")])
    url = make_warehouse(contacts=contacts, events=events, outcomes=outcomes)
    with pytest.raises(ContractViolations) as info:
        _validate(url)
    found = {(p.table, p.column, p.problem.split(";")[0], p.count, tuple(p.examples))
             for p in info.value.problems}  # fmt: skip
    assert found == {
        ("contacts", "contact_id", "contact_id must be unique", 2, (2, 2)),
        ("events", "contact_id", "events for contacts that are not in table 'contacts'", 1, (7,)),
        ("events", "occurred_at", "events must not happen before the contact was created", 1,
         (2,)),
        ("outcomes", "closed_at", "outcomes must not close before the contact was created", 1,
         (2,)),
    }  # fmt: skip


def test_clean_tables_report_their_span_from_the_one_scan(make_warehouse: WarehouseFactory
                                                          ) -> None:  # fmt: skip
    # The span comes from each table's own scan: the first contact, and the last of the
    # contacts' creations, the events and the closes (here an event, 2024-09-30 12:00).
    events = events_frame([(1, "2024-01-02", "page_view"), (3, "2024-09-30 12:00", "email_open")])
    url = make_warehouse(contacts=GOOD_CONTACTS, events=events, outcomes=GOOD_OUTCOMES)
    with Warehouse(url) as wh:
        report = validate_warehouse(wh, now=NOW)
    assert (report.data_start, report.data_end) == (datetime(2024, 1, 1),
                                                    datetime(2024, 9, 30, 12))  # fmt: skip


def test_the_fingerprint_taken_while_validating_is_the_tables_fingerprint(
    make_warehouse: WarehouseFactory,
) -> None:
    # validate_warehouse(fingerprint=True) hashes the rows in its own scans; the digest must
    # be the one Warehouse.fingerprint gives the same tables (the score job compares the
    # two), change with one changed value, and be None where the engine has none (Spark).
    url = make_warehouse(contacts=GOOD_CONTACTS, events=GOOD_EVENTS, outcomes=GOOD_OUTCOMES)
    with Warehouse(url) as wh:
        taken = validate_warehouse(wh, now=NOW, fingerprint=True).fingerprint
        assert validate_warehouse(wh, now=NOW).fingerprint is None
        assert taken == wh.fingerprint(["contacts", "events", "outcomes"])
        if url.startswith("spark"):
            assert taken is None
            return
        assert taken is not None and len(taken) == 64
        wh.execute("UPDATE events SET event_type = 'page_view' WHERE contact_id = 2")
        assert validate_warehouse(wh, now=NOW, fingerprint=True).fingerprint != taken
