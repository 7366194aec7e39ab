"""The contract file: typed, strict, and its errors name the file, the key and the expectation.

One format for every shape of data: a single CRM export is ``contacts`` with an
``outcome`` column; a team with an activity log and closed opportunities adds ``events``
and an ``outcomes`` table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from leadscore.features import ConfigError, default_contract
from leadscore.features._contract import (
    ContactsColumns,
    LabelDefinition,
    label_key,
    load_contract,
    parse_contract,
)

# the smallest contract: one export whose column 'converted' says won or lost
EXPORT = """\
contacts:
  source: {kind: csv, path: leads.csv}
  outcome: converted
"""
# contacts, events and an outcomes table, every section at its defaults
TABLES = """\
contacts: {source: {kind: csv, path: c.csv}}
events: {source: {kind: csv, path: e.csv}}
outcomes: {source: {kind: csv, path: o.csv}}
"""


def _error(text: str) -> str:
    """The message of the ConfigError that parsing ``text`` (as file 'c.yaml') raises."""
    with pytest.raises(ConfigError) as info:
        parse_contract(text, "c.yaml")
    return str(info.value)


# --------------------------------------------------------------------------- loading


def test_a_single_export_contract_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "leadscore.yaml"
    path.write_text(EXPORT)
    contract = load_contract(path)
    contacts = contract.contacts
    assert (contacts.source.kind, contacts.source.path, contacts.outcome) == (
        "csv", "leads.csv", "converted")  # fmt: skip
    assert (contract.events, contract.outcomes, contacts.order_by, contacts.closed_at,
            contacts.existing_score) == (None,) * 5  # fmt: skip
    assert (contacts.exclude, contacts.known_after_contact, contacts.known_before_contact,
            contacts.missing_values, contacts.column_types) == ([], [], [], [], {})  # fmt: skip
    # roles keep the names of DESIGN.md section 2 (used when the source has such a column)
    assert contacts.columns == ContactsColumns()
    assert (contacts.columns.contact_id, contacts.columns.created_at) == ("contact_id",
                                                                         "created_at")  # fmt: skip
    # the default label reads the usual spellings; numbers by value
    assert contract.label.mapping() == {
        "won": "won", "1": "won", "true": "won", "yes": "won",
        "lost": "lost", "0": "lost", "false": "lost", "no": "lost",
    }  # fmt: skip
    assert contract.label.horizon_days == 90
    # one export is scored once, at its handoff
    assert (contract.decision_moment, contract.decision.handoff_delay_hours) == ("handoff", 1.0)
    # relative paths resolve against the contract file's folder, not the working directory
    assert contract.base_dir == tmp_path.resolve()
    assert contacts.source.file_path(contract.base_dir) == tmp_path.resolve() / "leads.csv"
    # the registered name comes from the folder of a file called leadscore.yaml, or the
    # file's own name
    (tmp_path / "Acme CRM").mkdir()
    (tmp_path / "Acme CRM" / "leadscore.yaml").write_text(EXPORT)
    assert load_contract(tmp_path / "Acme CRM" / "leadscore.yaml").model_name == "acme-crm-leads"
    (tmp_path / "web_leads.yaml").write_text(EXPORT)
    assert load_contract(tmp_path / "web_leads.yaml").model_name == "web-leads"
    assert parse_contract(EXPORT).model_name == "leads"  # built in memory


def test_a_full_single_export_contract_keeps_every_key() -> None:
    contract = parse_contract(
        """\
name: crm-leads
contacts:
  source: {kind: duckdb, path: crm.duckdb, table: leads}
  columns: {contact_id: lead_id, created_at: created_date, lead_source: Channel,
            phone_valid: null}
  outcome: stage
  closed_at: closed_date
  existing_score: hubspot_score
  exclude: [owner]
  known_after_contact: [last_call_notes]
  known_before_contact: [employees]
  missing_values: {Specialization: [Select], City: [Select, "--"]}
  column_types: {zip: categorical, employees: numeric}
label:
  won_values: [Closed Won]
  lost_values: [Closed Lost]
  open_values: [Open, Working]
  horizon_days: 30
decision: {moment: handoff, handoff_delay_hours: 4}
"""
    )
    contacts = contract.contacts
    assert contract.model_name == "crm-leads"
    assert contacts.columns.renames() == {
        "lead_id": "contact_id", "created_date": "created_at", "Channel": "lead_source"}  # fmt: skip
    assert contacts.columns.missing_roles() == ["phone_valid"]
    # roles given explicitly must exist in the source; the others are used when present
    assert contacts.columns.given() == {"contact_id", "created_at", "lead_source", "phone_valid"}
    assert (contacts.outcome, contacts.closed_at, contacts.existing_score) == (
        "stage", "closed_date", "hubspot_score")  # fmt: skip
    assert (contacts.exclude, contacts.known_after_contact, contacts.known_before_contact) == (
        ["owner"], ["last_call_notes"], ["employees"])  # fmt: skip
    assert contacts.column_types == {"zip": "categorical", "employees": "numeric"}
    # missing values per column, compared trimmed and case-insensitively
    assert contacts.missing_tokens("City") == {"select", "--"}
    assert contacts.missing_tokens("Specialization") == {"select"}
    assert contacts.missing_tokens("zip") == set()
    assert contract.label.mapping() == {
        "closed won": "won", "closed lost": "lost", "open": "open", "working": "open"}  # fmt: skip
    assert (contract.label.horizon_days, contract.decision_moment,
            contract.decision.handoff_delay_hours) == (30, "handoff", 4.0)  # fmt: skip


def test_missing_values_as_a_list_apply_to_every_column() -> None:
    contacts = parse_contract(EXPORT + "  missing_values: [Select, ' N/A ']\n").contacts
    assert contacts.missing_tokens("Specialization") == {"select", "n/a"}
    assert contacts.missing_tokens("City") == {"select", "n/a"}


def test_a_tables_contract_defaults_to_design_names_and_its_label() -> None:
    contract = parse_contract(
        """\
contacts:
  source: {kind: postgresql, url: "postgresql://crm@db:5432/crm?schema=sales", table: people}
  columns: {contact_id: person_id, created_at: inserted_at, phone_valid: null}
events:
  source: {kind: parquet, path: events.parquet}
outcomes:
  source: {kind: csv, path: deals.csv, delimiter: ";"}
  columns: {closed_at: close_date, outcome: stage}
label: {won_values: [won], lost_values: [lost]}
"""
    )
    assert contract.events is not None and contract.outcomes is not None
    columns = contract.contacts.columns
    assert (columns.contact_id, columns.created_at, columns.phone_valid) == (
        "person_id",
        "inserted_at",
        None,
    )
    # roles not mapped keep the names of DESIGN.md section 2
    assert columns.title == ContactsColumns().title == "title"
    assert contract.events.columns.model_dump() == {
        "contact_id": "contact_id", "occurred_at": "occurred_at", "event_type": "event_type"}  # fmt: skip
    assert contract.outcomes.columns.outcome == "stage"
    assert contract.label == LabelDefinition(
        won_values=["won"], lost_values=["lost"], horizon_days=90
    )
    # what the pipeline renames before it runs, and what the team does not have
    assert contract.contacts.columns.renames() == {
        "person_id": "contact_id",
        "inserted_at": "created_at",
    }
    assert contract.contacts.columns.missing_roles() == ["phone_valid"]
    assert contract.outcomes.columns.renames() == {"close_date": "closed_at", "stage": "outcome"}
    assert contract.outcomes.columns.missing_roles() == ["amount"]
    # contacts with events and an outcomes table are scored at quarterly snapshots
    assert contract.decision_moment == "pipeline"
    assert contract.has_time


def test_label_definition_maps_outcome_values() -> None:
    label = LabelDefinition(won_values=["Closed Won", "Signed"], lost_values=["Closed Lost"],
                            open_values=["Open"])  # fmt: skip
    outcomes = [label.outcome_of(v) for v in (" closed won", "SIGNED", "Closed Lost", "open ",
                                              "Pending")]  # fmt: skip
    assert outcomes == ["won", "won", "lost", "open", None]


@pytest.mark.parametrize(
    ("value", "outcome"),
    [(1, "won"), (1.0, "won"), ("1.0", "won"), ("01", "won"), (True, "won"), (" Yes ", "won"),
     (0, "lost"), ("0.0", "lost"), (False, "lost"), ("NO", "lost"), ("2", None), ("y", None)],
)  # fmt: skip
def test_the_default_label_reads_numbers_by_value(value: object, outcome: str | None) -> None:
    # a label column exported as 1.0/0.0 (a float column) means 1/0
    assert LabelDefinition().outcome_of(value) == outcome


def test_label_keys_compare_numbers_by_value_and_text_trimmed() -> None:
    assert [label_key(v) for v in ("1.0", 1, "01", " Won ", "nan", 2.5)] == [
        "1", "1", "1", "won", "nan", "2.5"]  # fmt: skip


def test_yes_and_no_stay_text_and_numbers_become_text() -> None:
    # YAML 1.1 would read yes/no as booleans and a column named 2019 as an int
    contract = parse_contract(
        EXPORT.replace("outcome: converted", "outcome: y")
        + "  exclude: [2019, on]\nlabel: {won_values: [yes, 1], lost_values: [no, 0]}\n"
    )
    assert (contract.label.won_values, contract.label.lost_values) == (["yes", "1"], ["no", "0"])
    assert contract.contacts.exclude == ["2019", "on"]
    assert contract.contacts.outcome == "y"


def test_an_export_without_ids_or_times_may_be_ordered_by_rows_or_by_a_column() -> None:
    # no id: rows are numbered in source order; no time: the rows' order says it
    rows = parse_contract(EXPORT + "  columns: {contact_id: null, created_at: null}\n"
                          "  order_by: row_order\n").contacts  # fmt: skip
    assert (rows.columns.contact_id, rows.columns.created_at, rows.order_by) == (
        None, None, "row_order")  # fmt: skip
    # an id that grows with time may order the rows; created_at left at its default is fine
    contract = parse_contract(EXPORT + "  columns: {contact_id: lead_no}\n  order_by: lead_no\n")
    assert (contract.contacts.columns.contact_id, contract.contacts.order_by) == ("lead_no",
                                                                                  "lead_no")  # fmt: skip
    assert contract.has_time
    # no time and no order: splits are stratified-random
    assert not parse_contract(EXPORT + "  columns: {created_at: null}\n").has_time


def test_the_packaged_demo_contract_reads_the_warehouse_in_place() -> None:
    contract = default_contract()
    assert contract.model_name == "lead-quality"
    assert [(s.source.kind, s.source.table) for s in (contract.contacts, contract.events,
                                                     contract.outcomes) if s is not None] == [
        ("warehouse", "contacts"), ("warehouse", "events"), ("warehouse", "outcomes")]  # fmt: skip
    assert contract.label.mapping() == {"won": "won", "lost": "lost"}
    assert (contract.decision_moment, contract.label.horizon_days) == ("pipeline", 90)


# --------------------------------------------------------------------------- errors


def test_every_problem_is_listed_with_its_key_path() -> None:
    message = _error("contacts:\n  source: {kind: excel, path: a.csv}\n  outcom: y\n")
    assert message == (
        "contract file 'c.yaml' has 2 problems:\n"
        "  - contacts.source.kind: expected one of 'csv', 'parquet', 'duckdb', 'postgresql' or "
        "'warehouse', got 'excel'\n"
        "  - contacts: unknown key 'outcom' (allowed: source, columns, order_by, outcome, "
        "closed_at, existing_score, exclude, known_after_contact, known_before_contact, "
        "missing_values, column_types); did you mean 'outcome'?"
    )


def test_unknown_top_level_key_names_the_allowed_ones() -> None:
    assert _error(EXPORT + "warehouse: duckdb:///x.duckdb\n") == (
        "contract file 'c.yaml': unknown key 'warehouse' "
        "(allowed: name, contacts, events, outcomes, label, decision)"
    )


def test_a_mode_key_says_contracts_have_no_modes_any_more() -> None:
    # a contract written for the old tables mode: the rest of it is the one format now
    assert _error("mode: tables\n" + TABLES) == (
        "contract file 'c.yaml': unknown key 'mode' (allowed: name, contacts, events, "
        "outcomes, label, decision); contracts have no modes any more: one export is "
        "'contacts' with an 'outcome' column (see the README)"
    )
    # a contract written for the old flat mode: 'leads' is now 'contacts' with an outcome
    old_flat = "mode: flat\nleads:\n  source: {kind: csv, path: a.csv}\n  label: y\n"
    assert _error(old_flat) == (
        "contract file 'c.yaml' has 3 problems:\n"
        "  - missing key 'contacts'\n"
        "  - unknown key 'mode' (allowed: name, contacts, events, outcomes, label, decision); "
        "contracts have no modes any more: one export is 'contacts' with an 'outcome' column "
        "(see the README)\n"
        "  - unknown key 'leads' (allowed: name, contacts, events, outcomes, label, decision); "
        "a single export is now 'contacts' (with 'outcome: <label column>')"
    )


def test_horizon_days_outside_label_says_where_it_belongs() -> None:
    assert _error(EXPORT + "  horizon_days: 30\n").endswith(
        "contacts: unknown key 'horizon_days' (allowed: source, columns, order_by, outcome, "
        "closed_at, existing_score, exclude, known_after_contact, known_before_contact, "
        "missing_values, column_types); horizon_days belongs under 'label'"
    )


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{kind: csv}", "contacts.source: a csv source needs 'path' (the file)"),
        (
            "{kind: csv, path: a.csv, table: t}",
            "contacts.source: a csv source takes 'path' only, not 'table'",
        ),
        (
            "{kind: parquet, path: a.parquet, delimiter: ';'}",
            "contacts.source: 'delimiter' applies to csv sources only",
        ),
        (
            "{kind: duckdb, path: a.duckdb}",
            "contacts.source: a duckdb source needs 'table' (the table's name)",
        ),
        (
            "{kind: duckdb, path: a.duckdb, url: 'duckdb:///a.duckdb', table: t}",
            "contacts.source: a duckdb source needs exactly one of 'path' (the .duckdb file) or "
            "'url' (duckdb:///...)",
        ),
        (
            "{kind: duckdb, url: 'sqlite:///a.db', table: t}",
            "contacts.source: a duckdb url starts with 'duckdb:///', got 'sqlite:///a.db'",
        ),
        (
            "{kind: postgresql, url: 'mysql://x', table: t}",
            "contacts.source: a postgresql source needs 'url: postgresql://user@host:5432/db', "
            "got 'mysql://x'",
        ),
        (
            "{kind: postgresql, url: 'postgresql://x/db', table: crm.leads}",
            "contacts.source: table must be a plain identifier (letters, digits, _), got "
            "'crm.leads'; for a PostgreSQL schema add ?schema=NAME to the url",
        ),
        (
            "{kind: warehouse, table: contacts, path: c.csv}",
            "contacts.source: a warehouse source takes 'table' only, not 'path'",
        ),
        (
            "{kind: csv, path: a.csv, delimiter: ';;'}",
            "contacts.source.delimiter: string should have at most 1 character, got ';;'",
        ),
    ],
)
def test_source_keys_must_fit_the_kind(source: str, problem: str) -> None:
    text = f"contacts:\n  source: {source}\n  outcome: y\n"
    assert _error(text) == f"contract file 'c.yaml': {problem}"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            "  columns: {contact_id: converted}\n",
            "outcome: column 'converted' is already 'contact_id'; a column has one role",
        ),
        (
            "  columns: {title: Job, industry: Job}\n",
            "column 'Job' is mapped to both 'title' and 'industry'",
        ),
        (
            "  existing_score: converted\n",
            "existing_score: column 'converted' is already 'outcome'; a column has one role",
        ),
        (
            "  exclude: [contact_id]\n",
            "exclude: 'contact_id' is a key column and is always used",
        ),
        (
            "  exclude: [converted]\n",
            "exclude: 'converted' is mapped to 'outcome'; map the role to null instead",
        ),
        (
            "  columns: {lead_source: Channel}\n  known_after_contact: [Channel]\n",
            "known_after_contact: 'Channel' is mapped to 'lead_source'; map the role to null "
            "instead",
        ),
        (
            "  known_after_contact: [notes]\n  known_before_contact: [notes]\n",
            "column 'notes' is in both 'known_after_contact' and 'known_before_contact'",
        ),
        (
            "  exclude: [owner, owner]\n",
            "column 'owner' is in both 'exclude' and 'exclude'",
        ),
        (
            "  exclude: [owner]\n  column_types: {owner: numeric}\n",
            "column_types: column 'owner' is 'exclude', not a feature",
        ),
        (
            "  column_types: {zip: text}\n",
            "contacts.column_types.zip: expected one of 'numeric', 'categorical' or 'boolean', "
            "got 'text'",
        ),
    ],
)
def test_a_column_has_one_role(extra: str, problem: str) -> None:
    message = _error(EXPORT + extra)
    where = "" if problem.startswith("contacts.") else "contacts: "
    assert message == f"contract file 'c.yaml': {where}{problem}"


def test_closed_at_belongs_to_an_outcome_column() -> None:
    text = TABLES.replace("contacts: {source: {kind: csv, path: c.csv}}",
                          "contacts: {source: {kind: csv, path: c.csv}, closed_at: closed}")  # fmt: skip
    assert _error(text) == (
        "contract file 'c.yaml': contacts: closed_at applies to an 'outcome' column on the "
        "contacts; give outcome: too"
    )


def test_outcomes_are_given_exactly_once() -> None:
    assert _error("contacts: {source: {kind: csv, path: c.csv}}\n") == (
        "contract file 'c.yaml': give the outcomes: an 'outcomes' table, or 'contacts.outcome' "
        "(a label column on the contacts)"
    )
    assert _error(EXPORT + "outcomes: {source: {kind: csv, path: o.csv}}\n") == (
        "contract file 'c.yaml': give the outcomes once: an 'outcomes' table or "
        "'contacts.outcome', not both"
    )


def test_rows_without_ids_cannot_be_named_by_events_or_outcomes() -> None:
    text = ("contacts:\n  source: {kind: csv, path: c.csv}\n  columns: {contact_id: null}\n"
            "events: {source: {kind: csv, path: e.csv}}\n"
            "outcomes: {source: {kind: csv, path: o.csv}}\n")  # fmt: skip
    assert _error(text) == (
        "contract file 'c.yaml': contacts.columns.contact_id: null (rows numbered in source "
        "order) needs a single export: events and outcomes name contacts by id"
    )


def test_order_by_and_a_creation_time_are_one_or_the_other() -> None:
    text = EXPORT + "  columns: {created_at: created}\n  order_by: row_order\n"
    assert _error(text) == (
        "contract file 'c.yaml': contacts: give 'columns.created_at' (a creation time) or "
        "'order_by' (time order without a time), not both"
    )


def test_order_by_refuses_sections_with_real_times() -> None:
    # stand-in creation times (2000-01-01 plus a second per row) would be compared with the
    # events' and closes' real times: every event after the handoff, every win too late
    events = (EXPORT + "  columns: {created_at: null}\n  order_by: row_order\n"
              "events: {source: {kind: csv, path: e.csv}}\n")  # fmt: skip
    assert _error(events) == (
        "contract file 'c.yaml': contacts.order_by gives stand-in creation times that only "
        "say the rows' order; it fits a single export without times, not one with ['events'] "
        "(real times would be compared with them): give columns.created_at"
    )
    closed = EXPORT + "  closed_at: closed\n  order_by: lead_no\n"
    assert _error(closed).endswith("not one with ['contacts.closed_at'] (real times would be "
                                   "compared with them): give columns.created_at")  # fmt: skip


def test_row_order_is_refused_for_postgresql_which_has_none() -> None:
    text = (
        "contacts:\n  source: {kind: postgresql, url: 'postgresql://h/db', table: leads}\n"
        "  outcome: y\n  columns: {created_at: null}\n  order_by: row_order\n"
    )
    assert _error(text) == (
        "contract file 'c.yaml': contacts: order_by: row_order needs a source with a row "
        "order; a PostgreSQL table has none: name the column to order by"
    )


def test_pipeline_snapshots_need_creation_and_close_times() -> None:
    undated = EXPORT + "  columns: {created_at: null}\ndecision: {moment: pipeline}\n"
    assert _error(undated) == (
        "contract file 'c.yaml': decision.moment 'pipeline' needs contacts.columns.created_at "
        "(snapshots are points in time)"
    )
    # a label column without close times: no snapshot could ever see a win
    assert _error(EXPORT + "decision: {moment: pipeline}\n") == (
        "contract file 'c.yaml': decision.moment 'pipeline' needs outcome close times: an "
        "'outcomes' table or contacts.closed_at (a snapshot's label is a win closed within "
        "the horizon after it)"
    )
    closed = parse_contract(EXPORT + "  closed_at: closed\ndecision: {moment: pipeline}\n")
    assert closed.decision_moment == "pipeline"
    assert _error(EXPORT + "decision: {moment: later}\n") == (
        "contract file 'c.yaml': decision.moment: expected one of 'handoff' or 'pipeline', "
        "got 'later'"
    )


def test_a_name_is_an_identifier_for_the_model_registry() -> None:
    assert _error("name: my leads\n" + EXPORT) == (
        "contract file 'c.yaml': name must be letters, digits, '_', '-' or '.', got 'my leads'"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("label: {horizon_days: 30}\n", "missing key 'contacts'"),
        (
            "- contacts\n",
            "expected a mapping with keys name, contacts, events, outcomes, label, decision, "
            "got list",
        ),
        (
            "",
            "expected a mapping with keys name, contacts, events, outcomes, label, decision, "
            "got NoneType",
        ),
    ],
)
def test_a_contract_is_a_mapping_with_contacts(text: str, problem: str) -> None:
    assert _error(text) == f"contract file 'c.yaml': {problem}"


def test_label_definition_checks_overlap_and_horizon() -> None:
    overlap = TABLES + "label: {won_values: [Won, Signed], lost_values: [won]}\n"
    assert _error(overlap) == (
        "contract file 'c.yaml': label: values ['won'] are in both won_values and lost_values"
    )
    # numbers are compared by value: 1.0 and 1 are one value
    by_value = TABLES + "label: {won_values: ['1.0'], lost_values: [lost], open_values: [1]}\n"
    assert _error(by_value) == (
        "contract file 'c.yaml': label: values ['1'] are in both won_values and open_values"
    )
    assert _error(TABLES + "label: {horizon_days: 0}\n") == (
        "contract file 'c.yaml': label.horizon_days: input should be greater than 0, got 0"
    )
    assert _error(TABLES + "label: {won_values: []}\n") == (
        "contract file 'c.yaml': label.won_values: list should have at least 1 item after "
        "validation, not 0, got []"
    )


def test_event_types_map_onto_standard_types_once() -> None:
    assert _error(TABLES.replace("events: {source: {kind: csv, path: e.csv}}",
                                 "events: {source: {kind: csv, path: e.csv}, "
                                 "event_types: {pricing_view: [Pricing]}}")).startswith(
        "contract file 'c.yaml': events: event_types: 'pricing_view' is not a standard event "
        "type; did you mean 'pricing_page_view'? (standard: "
    )  # fmt: skip
    twice = TABLES.replace("events: {source: {kind: csv, path: e.csv}}",
                           "events: {source: {kind: csv, path: e.csv}, event_types: "
                           "{pricing_page_view: [Pricing], demo_request: [' pricing']}}")  # fmt: skip
    assert _error(twice) == (
        "contract file 'c.yaml': events: event_types: value ' pricing' is mapped to both "
        "'pricing_page_view' and 'demo_request'"
    )


def test_duplicate_keys_and_bad_yaml_name_the_file(tmp_path: Path) -> None:
    assert "found duplicate key 'outcome'" in _error(EXPORT + "  outcome: y\n")
    assert _error("contacts: [x\n").startswith("contract file 'c.yaml': not valid YAML:")
    with pytest.raises(ConfigError, match=r"contract file '.*nowhere\.yaml': cannot read it"):
        load_contract(tmp_path / "nowhere.yaml")


def test_at_another_decision_a_contract_registers_a_sibling_and_a_delay_needs_the_handoff() -> None:
    packaged = default_contract()
    assert packaged.decision_moment == "pipeline" and packaged.model_name == "lead-quality"
    handoff = packaged.at_decision("handoff")
    assert (handoff.decision_moment, handoff.model_name) == ("handoff", "lead-quality-handoff")
    assert handoff.decision.handoff_delay_hours == 1.0
    at_creation = packaged.at_decision("handoff", handoff_delay_hours=0)
    assert at_creation.decision.handoff_delay_hours == 0.0
    # its own decision keeps its name; the sibling of the sibling is the pipeline's
    assert packaged.at_decision().model_name == "lead-quality"
    assert packaged.name_at("handoff") == "lead-quality-handoff"
    assert packaged.name_at("pipeline") == "lead-quality"
    with pytest.raises(ConfigError, match="handoff decision only"):
        packaged.at_decision("pipeline", handoff_delay_hours=2)
    with pytest.raises(ConfigError, match="between 0 and 8760 hours, got -1"):
        packaged.at_decision("handoff", handoff_delay_hours=-1)
