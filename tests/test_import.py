"""Import: any contract's sources read into the standard tables contacts, events, outcomes.

The first narrated team keeps contacts in a semicolon CSV with its own headers ("Lead ID",
"Phone OK" as Yes/No, timestamps with and without offsets, sizes like "1,200"), events in
Parquet with its own event names, and outcomes in a CSV whose stage is "Closed Won",
"Closed Lost" or "Open". The second team has one CRM export: a row per lead with a label
column, form defaults such as "Select", and columns of its own. Every expected value below
is worked out by hand from those rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from leadscore.features import ConfigError, Warehouse
from leadscore.features._contract import load_contract, parse_contract
from leadscore.features._import import (
    COLUMNS,
    IMPORTS,
    Attribute,
    import_tables,
    read_catalogue,
)
from leadscore.features._validation import ContractViolations

from tests.engines import empty_warehouse

NOW = datetime(2026, 1, 1)

CONTACTS_CSV = """\
Lead ID;Created;Job Title;Employees;Industry;Country;Source;Domain;Phone OK;Timeline;Demo?;Notes;Favourite colour
1;2024-01-01T09:00:00Z;VP Sales;1,200;software;US;webinar;acme.com;Yes;0-3 months;no;met at booth;red
2;2024-01-02 10:00:00+02:00;Intern;;retail;DE;giveaway;gmail.com;No;;yes;;blue
3;2024-01-03;CTO;50;software;FR;referral;beta.io;y;3-6 months;1;;green
"""
OUTCOMES_CSV = """\
lead,closed,stage,value
1,2024-03-01,Closed Won,5000
2,2024-02-01,closed lost,
3,,Open,
"""
CONTRACT = """\
contacts:
  source: {kind: csv, path: contacts.csv}
  columns:
    contact_id: Lead ID
    created_at: Created
    title: Job Title
    company_size: Employees
    industry: Industry
    country: Country
    lead_source: Source
    email_domain: Domain
    phone_valid: Phone OK
    buying_timeline: Timeline
    requested_demo: Demo?
  exclude: [Notes]
events:
  source: {kind: parquet, path: events.parquet}
  columns: {contact_id: lead, occurred_at: ts, event_type: kind}
  event_types:
    pricing_page_view: [Viewed Pricing]
    email_open: [email opened]
outcomes:
  source: {kind: csv, path: outcomes.csv}
  columns: {contact_id: lead, closed_at: closed, outcome: stage, amount: value}
label:
  won_values: [Closed Won]
  lost_values: [Closed Lost]
  open_values: [Open]
  horizon_days: 60
"""


def _events(rows: list[tuple[int, str, str]]) -> pa.Table:
    return pa.table({
        "lead": pa.array([r[0] for r in rows], pa.int64()),
        "ts": pa.array([pd.Timestamp(r[1]) for r in rows], pa.timestamp("us")),
        "kind": pa.array([r[2] for r in rows], pa.string()),
    })  # fmt: skip


EVENTS = [
    (1, "2024-01-05 10:00", "Viewed Pricing"),
    (1, "2024-01-06 11:00", "Email Opened"),
    (2, "2024-01-07 12:00", "email_click"),
    (3, "2024-01-08 13:00", "Booth chat"),
]


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """The team's three sources and its contract, in ``tmp_path``; returns the contract."""
    (tmp_path / "contacts.csv").write_text(CONTACTS_CSV, encoding="utf-8")
    (tmp_path / "outcomes.csv").write_text(OUTCOMES_CSV, encoding="utf-8")
    pq.write_table(_events(EVENTS), tmp_path / "events.parquet")
    path = tmp_path / "leadscore.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    return path


def _table(url: str, table: str) -> pd.DataFrame:
    with Warehouse(url, read_only=True) as wh:
        frame = wh.query(f"SELECT * FROM {table}")
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _wh(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'wh.duckdb'}"


def test_a_teams_tables_become_the_standard_tables(team: Path, tmp_path: Path) -> None:
    result = import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    contacts = _table(_wh(tmp_path), "contacts")
    expected = pd.DataFrame({
        "contact_id": [1, 2, 3],
        # 09:00Z stays 09:00; 10:00+02:00 is 08:00 UTC; a bare date is midnight
        "created_at": pd.to_datetime(["2024-01-01 09:00", "2024-01-02 08:00", "2024-01-03 00:00"]),
        "title": ["VP Sales", "Intern", "CTO"],
        "company_size": [1200.0, np.nan, 50.0],
        "industry": ["software", "retail", "software"],
        "country": ["US", "DE", "FR"],
        "lead_source": ["webinar", "giveaway", "referral"],
        "email_domain": ["acme.com", "gmail.com", "beta.io"],
        "phone_valid": [True, False, True],
        "buying_timeline": ["0-3 months", None, "3-6 months"],
        "requested_demo": [False, True, True],
        # a column of the team's own, with no role: an attribute, typed automatically
        "favourite_colour": ["red", "blue", "green"],
    })  # fmt: skip
    pd.testing.assert_frame_equal(contacts, expected, check_dtype=False)
    events = _table(_wh(tmp_path), "events")
    assert events["event_type"].tolist() == [
        "pricing_page_view", "email_open", "email_click", "Booth chat"]  # fmt: skip
    assert events["occurred_at"].tolist() == [pd.Timestamp(r[1]) for r in EVENTS]
    outcomes = _table(_wh(tmp_path), "outcomes")
    # contact 3's "Open" row is not an outcome; "closed lost" matches case-insensitively
    pd.testing.assert_frame_equal(outcomes, pd.DataFrame({
        "contact_id": [1, 2], "closed_at": pd.to_datetime(["2024-03-01", "2024-02-01"]),
        "outcome": ["won", "lost"], "amount": [5000.0, np.nan]}), check_dtype=False)  # fmt: skip
    assert result.rows == {"contacts": 3, "events": 4, "outcomes": 2}
    assert result.open_outcomes == 1
    assert result.unmapped_event_types == {"Booth chat": 1}
    colour = Attribute("favourite_colour", "Favourite colour", "categorical")
    assert result.attributes == [colour]
    assert result.left_out == {"Notes": "excluded in the contract"}
    assert result.horizon_days == 60
    assert result.notes() == [
        "1 contact column(s) left out: 'Notes': excluded in the contract",
        "1 outcome rows with an open or empty value were left out (not decided yet)",
        "event types with no standard meaning (features of their own; give them a meaning "
        "under events: high_intent, borrowed_interest, sales_owned): 'Booth chat' (1)",
    ]
    # the catalogue keeps the team's own name of each attribute, for reasons and reports
    with Warehouse(_wh(tmp_path), read_only=True) as wh:
        assert read_catalogue(wh) == [colour]
        assert wh.query(f"SELECT * FROM {COLUMNS}").to_dict("records") == [
            {"position": 0, "name": "favourite_colour", "label": "Favourite colour",
             "kind": "categorical"}]  # fmt: skip


def test_an_unchanged_import_is_skipped_and_a_changed_source_is_reread(
    team: Path, tmp_path: Path
) -> None:
    import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    again = import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    assert again.skipped == "up to date"
    assert again.rows == {"contacts": 3, "events": 4, "outcomes": 2}
    # the attributes are read back from the catalogue, not re-typed
    assert again.attributes == [Attribute("favourite_colour", "Favourite colour", "categorical")]
    with (tmp_path / "outcomes.csv").open("a", encoding="utf-8") as f:
        f.write("3,2024-04-01,Closed Won,10\n")
    os.utime(tmp_path / "outcomes.csv", ns=(1, 10**18))  # a new modification time for sure
    third = import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    assert third.skipped == ""
    assert third.rows == {"contacts": 3, "events": 4, "outcomes": 3}
    # the open row is still left out; contact 3's outcome is now the new won row
    assert _table(_wh(tmp_path), "outcomes")["outcome"].tolist() == ["won", "lost", "won"]
    imports = _table(_wh(tmp_path), IMPORTS)
    assert imports["table_name"].tolist() == ["contacts", "events", "outcomes"]  # one row each
    assert imports["row_count"].tolist() == [3, 4, 3]


def test_a_mapped_column_missing_from_its_source_is_named_with_a_suggestion(
    team: Path, tmp_path: Path
) -> None:
    team.write_text(CONTRACT.replace("company_size: Employees", "company_size: Employes"))
    with pytest.raises(ConfigError) as caught:
        import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    message = str(caught.value)
    assert message.startswith(
        "contacts (csv file contacts.csv): no column 'Employes' (mapped to company_size)"
    )
    assert message.endswith("did you mean 'Employees'?")
    assert not (tmp_path / "wh.duckdb").exists()  # nothing written


def test_values_that_do_not_convert_are_listed_and_the_warehouse_keeps_its_tables(
    team: Path, tmp_path: Path
) -> None:
    import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    before = {t: _table(_wh(tmp_path), t) for t in ("contacts", "events", "outcomes")}
    bad = (CONTACTS_CSV.replace(";Yes;", ";maybe;").replace("2024-01-03;", "31/01/2024;")
           .replace(";1,200;", ";lots;"))  # fmt: skip
    (tmp_path / "contacts.csv").write_text(bad, encoding="utf-8")
    with pytest.raises(ContractViolations) as caught:
        import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    found = {(p.table, p.column, p.count, tuple(p.examples)) for p in caught.value.problems}
    where = "contacts (csv file contacts.csv)"
    assert found == {
        (where, "Created", 1, ("31/01/2024",)),
        (where, "Employees", 1, ("lots",)),
        (where, "Phone OK", 1, ("maybe",)),
    }
    assert "values that are not yes/no values" in str(caught.value)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(_table(_wh(tmp_path), table), frame)


def test_outcome_values_outside_the_label_are_listed_with_counts(
    team: Path, tmp_path: Path
) -> None:
    (tmp_path / "outcomes.csv").write_text(
        OUTCOMES_CSV.replace("Closed Won", "Pending").replace("closed lost", "Pending")
        .replace(",Open,", ",Nurture,"), encoding="utf-8")  # fmt: skip
    with pytest.raises(ContractViolations) as caught:
        import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    (problem,) = caught.value.problems
    assert (problem.table, problem.column, problem.count) == (
        "outcomes (csv file outcomes.csv)",
        "stage",
        3,
    )
    assert "found 'Pending' (2), 'Nurture' (1)" in problem.problem


def test_contract_problems_in_the_standard_tables_are_named_in_the_teams_terms(
    team: Path, tmp_path: Path
) -> None:
    (tmp_path / "contacts.csv").write_text(CONTACTS_CSV.replace("\n3;", "\n2;"), encoding="utf-8")
    pq.write_table(_events([*EVENTS, (9, "2024-01-09 09:00", "email_click")]),
                   tmp_path / "events.parquet")  # fmt: skip
    with pytest.raises(ContractViolations) as caught:
        import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    found = {(p.table, p.column, p.count) for p in caught.value.problems}
    assert ("contacts (csv file contacts.csv)", "Lead ID", 2) in found  # both rows of id 2
    # contact 3 is gone (its row now says 2) and contact 9 never existed: 2 events
    assert ("events (parquet file events.parquet)", "lead", 2) in found
    assert not (tmp_path / "wh.duckdb").exists()


def test_a_table_leadscore_did_not_import_is_never_replaced(team: Path, tmp_path: Path) -> None:
    with Warehouse(_wh(tmp_path)) as wh:
        wh.write_table("contacts", pd.DataFrame({"theirs": [1, 2]}))
    with pytest.raises(
        ConfigError, match=r"already has table\(s\) \['contacts'\] that leadscore did"
    ):
        import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    assert _table(_wh(tmp_path), "contacts")["theirs"].tolist() == [1, 2]
    with Warehouse(_wh(tmp_path), read_only=True) as wh:
        assert sorted(wh.tables()) == ["contacts"]  # no staging table left behind


def test_the_warehouses_own_standard_tables_are_used_in_place(team: Path, tmp_path: Path) -> None:
    import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    in_place = tmp_path / "in_place.yaml"
    source = f"{{kind: duckdb, path: {tmp_path / 'wh.duckdb'}, table: %s}}"
    # the default label reads 'won' and 'lost' as themselves (and other spellings no standard
    # table holds): the tables are read as they are
    in_place.write_text("".join(
        f"{t}:\n  source: {source % t}\n" for t in ("contacts", "events", "outcomes")))  # fmt: skip
    before = _table(_wh(tmp_path), IMPORTS)
    result = import_tables(load_contract(in_place), _wh(tmp_path), now=NOW)
    assert result.skipped == "in place"
    assert result.rows == {"contacts": 3, "events": 4, "outcomes": 2}
    pd.testing.assert_frame_equal(_table(_wh(tmp_path), IMPORTS), before)  # nothing copied


def test_an_import_refuses_a_spark_warehouse(team: Path) -> None:
    with pytest.raises(ConfigError, match="imported into a DuckDB or PostgreSQL warehouse"):
        import_tables(load_contract(team), "spark:///default", now=NOW)


def test_postgresql_sources_and_a_postgresql_warehouse_give_the_same_tables(
    team: Path, tmp_path: Path
) -> None:
    """The team's tables in PostgreSQL (read through ADBC), imported into DuckDB and into
    PostgreSQL: the same rows as from the files."""
    import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    with empty_warehouse("postgresql", tmp_path) as pg:
        with Warehouse(_wh(tmp_path), read_only=True) as files, Warehouse(pg) as wh:
            team_names = duckdb.connect()
            team_names.execute(f"ATTACH '{tmp_path / 'wh.duckdb'}' AS w (READ_ONLY)")
            wh.write_table(
                "crm_contacts",
                team_names.sql(
                    "SELECT contact_id AS lead_id, * EXCLUDE (contact_id) FROM w.contacts"
                )
                .arrow()
                .read_all(),
            )
            wh.write_table("crm_events", files.query_arrow("SELECT * FROM events"))
            wh.write_table("crm_outcomes", files.query_arrow("SELECT * FROM outcomes"))
        contract = parse_contract(
                        f"contacts:\n  source: {{kind: postgresql, url: '{pg}', table: crm_contacts}}\n"
            "  columns: {contact_id: lead_id}\n"
            f"events:\n  source: {{kind: postgresql, url: '{pg}', table: crm_events}}\n"
            f"outcomes:\n  source: {{kind: postgresql, url: '{pg}', table: crm_outcomes}}\n"
            "  columns: {amount: amount}\n"
        )
        into_duckdb = f"duckdb:///{tmp_path / 'from_pg.duckdb'}"
        import_tables(contract, into_duckdb, now=NOW)
        import_tables(contract, pg, now=NOW)
        for table in ("contacts", "events", "outcomes"):
            expected = _table(_wh(tmp_path), table)
            pd.testing.assert_frame_equal(_table(into_duckdb, table), expected)
            pd.testing.assert_frame_equal(_table(pg, table), expected, check_dtype=False)


def test_contract_rejects_an_unknown_event_type_and_a_value_in_two_label_lists() -> None:
    base = (
        "contacts: {source: {kind: csv, path: c.csv}}\n"
        "outcomes: {source: {kind: csv, path: o.csv}}\n"
    )
    with pytest.raises(
        ConfigError,
        match="'pricing_view' is not a standard event type; did you mean 'pricing_page_view'",
    ):
        parse_contract(
            base + "events: {source: {kind: csv, path: e.csv}, "
            "event_types: {pricing_view: [Pricing]}}\n"
        )
    with pytest.raises(
        ConfigError,
        match=r"values \['open'\] are in both lost_values and "
        "open_values",
    ):
        parse_contract(
            base + "events: {source: {kind: csv, path: e.csv}}\n"
            "label: {lost_values: [lost, Open], open_values: [open]}\n"
        )


# --------------------------------------------------------------------------- one export

# Six leads of a CRM export: "Converted" as the export writes a float column (1.0/0.0),
# one lead still empty and one marked "open"; "Specialization" and "Lead Source" hold the
# web form's default "Select" where the lead chose nothing; the contract maps the role
# lead_source to "Channel", so the team's own "Lead Source" is an attribute of its own.
EXPORT_CSV = """\
Lead Number,Converted,Specialization,Lead Source,Channel,Total Visits
101,1.0,Finance,Google,web,3
102,0.0,Select,Select,email,0
103,,HR,Direct,web,5
104,open,select ,Google,web,2
105,1.0,Finance,Google,event,7
106,0.0,HR,Direct,web,1
"""
EXPORT_CONTRACT = """\
contacts:
  source: {kind: csv, path: export.csv}
  columns: {contact_id: Lead Number, created_at: null, lead_source: Channel}
  outcome: Converted
  missing_values: {Specialization: [Select]}
label: {open_values: [open]}
"""


def _export(tmp_path: Path, csv_text: str = EXPORT_CSV, contract: str = EXPORT_CONTRACT) -> Path:
    """``export.csv`` and its contract in ``tmp_path``; returns the contract."""
    (tmp_path / "export.csv").write_text(csv_text, encoding="utf-8")
    path = tmp_path / "leadscore.yaml"
    path.write_text(contract, encoding="utf-8")
    return path


def test_a_single_export_becomes_contacts_and_outcomes(tmp_path: Path) -> None:
    result = import_tables(load_contract(_export(tmp_path)), _wh(tmp_path), now=NOW)
    contacts = _table(_wh(tmp_path), "contacts")
    expected = pd.DataFrame({
        "contact_id": [101, 102, 103, 104, 105, 106],
        "created_at": [pd.NaT] * 6,  # no time in the export
        # roles the export does not have: empty columns of the standard types
        "title": pd.Series([None] * 6, dtype="str"),
        "company_size": [np.nan] * 6,
        "industry": pd.Series([None] * 6, dtype="str"),
        "country": pd.Series([None] * 6, dtype="str"),
        "lead_source": ["web", "email", "web", "web", "event", "web"],  # from "Channel"
        "email_domain": pd.Series([None] * 6, dtype="str"),
        "phone_valid": [None] * 6,
        "buying_timeline": pd.Series([None] * 6, dtype="str"),
        "requested_demo": [None] * 6,
        # "Select" and " select " (trimmed, any case) are the form's default: missing
        "specialization": ["Finance", None, "HR", None, "Finance", "HR"],
        # the team's "Lead Source" is not the role: a unique name of its own; the
        # per-column missing_values do not apply to it, so its "Select" is a value
        "lead_source_2": ["Google", "Select", "Direct", "Google", "Google", "Direct"],
        "total_visits": [3.0, 0.0, 5.0, 2.0, 7.0, 1.0],
    })  # fmt: skip
    pd.testing.assert_frame_equal(contacts, expected, check_dtype=False)
    # 1.0 is won and 0.0 lost by value; the empty label and "open" are not decided yet
    pd.testing.assert_frame_equal(_table(_wh(tmp_path), "outcomes"), pd.DataFrame({
        "contact_id": [101, 102, 105, 106], "closed_at": [pd.NaT] * 4,
        "outcome": ["won", "lost", "won", "lost"]}), check_dtype=False)  # fmt: skip
    with Warehouse(_wh(tmp_path), read_only=True) as wh:
        assert wh.columns("events") == {"contact_id": "BIGINT", "occurred_at": "TIMESTAMP",
                                        "event_type": "VARCHAR"}  # fmt: skip
        assert wh.scalar("SELECT count(*) FROM events") == 0
        assert read_catalogue(wh) == result.attributes
    assert result.rows == {"contacts": 6, "events": 0, "outcomes": 4}
    assert result.open_outcomes == 2
    assert result.attributes == [
        Attribute("specialization", "Specialization", "categorical"),
        Attribute("lead_source_2", "Lead Source", "categorical"),
        Attribute("total_visits", "Total Visits", "numeric"),
    ]
    assert result.left_out == {}
    assert result.notes() == [
        "2 outcome rows with an open or empty value were left out (not decided yet)"]


def test_missing_values_as_a_list_apply_to_every_text_column(tmp_path: Path) -> None:
    contract = EXPORT_CONTRACT.replace("{Specialization: [Select]}", "[Select, ' web ']")
    import_tables(load_contract(_export(tmp_path, contract=contract)), _wh(tmp_path), now=NOW)
    contacts = _table(_wh(tmp_path), "contacts").sort_values("contact_id")
    missing = np.nan
    assert contacts["lead_source_2"].tolist() == ["Google", missing, "Direct", "Google",
                                                  "Google", "Direct"]  # fmt: skip
    # a role's column too: "web" is read as missing wherever it appears
    assert contacts["lead_source"].tolist() == [missing, "email", missing, missing, "event",
                                                missing]  # fmt: skip
    assert contacts["specialization"].tolist() == ["Finance", missing, "HR", missing, "Finance",
                                                   "HR"]  # fmt: skip


def test_a_small_export_is_read_labelled_and_typed(tmp_path: Path) -> None:
    # six leads; the label in six spellings (one padded with spaces), numbers written with
    # thousands separators and percent signs, an industry spelled in two cases (the role
    # of that name: the team's values as they are)
    path = _export(tmp_path, "lead_id,created,won,employees,growth,industry\n"
                             'L1,2024-01-05,Yes,"1,234",12%,software\n'
                             "L2,2024-01-02, no ,250,5%,retail\n"
                             "L3,2024-01-03,1,40,-3%,software\n"
                             'L4,2024-01-01,0,"12,000",0%,Retail\n'
                             "L5,2024-01-06,TRUE,75,,software\n"
                             "L6,2024-01-04,Lost,9,1.5%,\n",
                   "contacts:\n  source: {kind: csv, path: export.csv}\n"
                   "  columns: {contact_id: lead_id, created_at: created}\n  outcome: won\n")  # fmt: skip
    result = import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    assert _table(_wh(tmp_path), "outcomes")["outcome"].tolist() == [
        "won", "lost", "won", "lost", "won", "lost"]  # fmt: skip
    assert result.attributes == [Attribute("employees", "employees", "numeric"),
                                 Attribute("growth", "growth", "numeric")]  # fmt: skip
    contacts = _table(_wh(tmp_path), "contacts")
    assert contacts["contact_id"].tolist() == ["L1", "L2", "L3", "L4", "L5", "L6"]
    assert contacts["created_at"].tolist() == [pd.Timestamp(f"2024-01-0{d}")
                                               for d in (5, 2, 3, 1, 6, 4)]  # fmt: skip
    assert contacts["industry"].tolist()[:5] == ["software", "retail", "software", "Retail",
                                                 "software"]  # fmt: skip
    # "12%" is 12.0: the number as written; the column keeps one scale
    np.testing.assert_array_equal(contacts["growth"], [12.0, 5.0, -3.0, 0.0, np.nan, 1.5])
    assert contacts["employees"].tolist() == [1234.0, 250.0, 40.0, 12000.0, 75.0, 9.0]


def test_a_missing_label_column_and_an_empty_export_stop_the_import(tmp_path: Path) -> None:
    contract = ("contacts:\n  source: {kind: csv, path: export.csv}\n"
                "  columns: {contact_id: lead_id, created_at: null}\n  outcome: Won\n")  # fmt: skip
    with pytest.raises(ConfigError) as missing:
        import_tables(load_contract(_export(tmp_path, "lead_id,won\n", contract)), _wh(tmp_path),
                      now=NOW)  # fmt: skip
    assert str(missing.value) == (
        "contacts (csv file export.csv): no column 'Won' (mapped to outcome); its columns are "
        "['lead_id', 'won']; did you mean 'won'?"
    )
    with pytest.raises(ContractViolations) as empty:
        import_tables(load_contract(_export(tmp_path, "lead_id,won\n",
                                            contract.replace("Won", "won"))), _wh(tmp_path),
                      now=NOW)  # fmt: skip
    assert [str(p) for p in empty.value.problems] == [
        "table 'contacts (csv file export.csv)': table is empty; nothing to score"]  # fmt: skip
    assert not (tmp_path / "wh.duckdb").exists()


def test_a_label_value_outside_the_label_is_listed_with_its_count(tmp_path: Path) -> None:
    path = _export(tmp_path, EXPORT_CSV.replace(",open,", ",Pending,").replace(",,HR", ",2,HR"))
    with pytest.raises(ContractViolations) as caught:
        import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    (problem,) = caught.value.problems
    assert (problem.table, problem.column, problem.count, problem.examples) == (
        "contacts (csv file export.csv)", "Converted", 2, ["2", "Pending"])  # fmt: skip
    assert "found '2' (1), 'Pending' (1)" in problem.problem


def test_rows_without_ids_are_numbered_in_source_order(tmp_path: Path) -> None:
    # three leads, no id column: they are contacts 1, 2 and 3 in the order of the file
    path = _export(tmp_path, "won,size\nyes,30\nno,10\nyes,20\n",
                   "contacts:\n  source: {kind: csv, path: export.csv}\n"
                   "  columns: {contact_id: null, created_at: null}\n  outcome: won\n")  # fmt: skip
    result = import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    contacts = _table(_wh(tmp_path), "contacts")
    assert contacts[["contact_id", "size"]].to_dict("list") == {"contact_id": [1, 2, 3],
                                                                "size": [30.0, 10.0, 20.0]}  # fmt: skip
    assert _table(_wh(tmp_path), "outcomes")[["contact_id", "outcome"]].values.tolist() == [
        [1, "won"], [2, "lost"], [3, "won"]]  # fmt: skip
    assert result.attributes == [Attribute("size", "size", "numeric")]  # never the row number


def test_row_order_gives_stand_in_creation_times_a_second_apart(tmp_path: Path) -> None:
    path = _export(tmp_path, "won,size\nyes,30\nno,10\nyes,20\n",
                   "contacts:\n  source: {kind: csv, path: export.csv}\n"
                   "  columns: {contact_id: null, created_at: null}\n  order_by: row_order\n"
                   "  outcome: won\n")  # fmt: skip
    import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    contacts = _table(_wh(tmp_path), "contacts")
    assert contacts["created_at"].tolist() == [pd.Timestamp("2000-01-01 00:00:00"),
                                               pd.Timestamp("2000-01-01 00:00:01"),
                                               pd.Timestamp("2000-01-01 00:00:02")]  # fmt: skip


def test_an_order_by_column_orders_by_value_ties_equal_and_is_never_a_feature(
    tmp_path: Path,
) -> None:
    # lead numbers as text: "9" comes before "10" by value (as text it would not); leads
    # L2 and L4 share batch 10, so they share a stand-in time
    path = _export(tmp_path, "lead,batch,won,size\nL1,9,yes,1\nL2,10,no,2\nL3,2,yes,3\n"
                             "L4,10,no,4\nL5,1e1,no,5\n",
                   "contacts:\n  source: {kind: csv, path: export.csv}\n"
                   "  columns: {contact_id: lead}\n  order_by: batch\n  outcome: won\n")  # fmt: skip
    result = import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    contacts = _table(_wh(tmp_path), "contacts")
    second = pd.Timedelta(seconds=1)
    start = pd.Timestamp("2000-01-01")
    assert dict(zip(contacts["contact_id"], contacts["created_at"], strict=True)) == {
        "L3": start, "L1": start + second, "L2": start + 2 * second, "L4": start + 2 * second,
        "L5": start + 2 * second}  # fmt: skip
    # the order is the time: a clock, not a lead attribute
    assert result.attributes == [Attribute("size", "size", "numeric")]
    assert "batch" not in contacts.columns


def test_order_by_values_must_be_numbers_or_timestamps_and_never_empty(tmp_path: Path) -> None:
    path = _export(tmp_path, "won,batch\nyes,early\nno,late\nno,\nyes,3\n",
                   "contacts:\n  source: {kind: csv, path: export.csv}\n"
                   "  columns: {contact_id: null}\n  order_by: batch\n  outcome: won\n")  # fmt: skip
    with pytest.raises(ContractViolations) as caught:
        import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    found = [(p.table, p.column, p.problem, p.count, p.examples) for p in caught.value.problems]
    where = "contacts (csv file export.csv)"
    assert found == [
        (where, "batch", "order_by values must not be empty (examples are row numbers)", 1, [3]),
        (where, "batch", "order_by values must be numbers or timestamps (ISO 8601)", 2,
         ["early", "late"]),
    ]  # fmt: skip
    assert not (tmp_path / "wh.duckdb").exists()


def test_column_types_force_a_kind_and_check_it(tmp_path: Path) -> None:
    csv_text = "won,zip,seats\nyes,2134,12\nno,2134,abc\nno,10001,7\n"
    contract = ("contacts:\n  source: {kind: csv, path: export.csv}\n"
                "  columns: {contact_id: null, created_at: null}\n  outcome: won\n"
                "  column_types: {zip: categorical, seats: numeric}\n")  # fmt: skip
    with pytest.raises(ContractViolations) as caught:
        import_tables(load_contract(_export(tmp_path, csv_text, contract)), _wh(tmp_path), now=NOW)
    assert [(p.table, p.column, p.problem, p.count, p.examples)
            for p in caught.value.problems] == [
        ("contacts (csv file export.csv)", "seats",
         "values that are not numeric (column_types says numeric)", 1, ["abc"])]  # fmt: skip
    path = _export(tmp_path, csv_text.replace("abc", "3"), contract)
    result = import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    assert result.attributes == [Attribute("zip", "zip", "categorical"),
                                 Attribute("seats", "seats", "numeric")]  # fmt: skip
    contacts = _table(_wh(tmp_path), "contacts").sort_values("contact_id")
    assert contacts["zip"].tolist() == ["2134", "2134", "10001"]  # codes, not numbers
    assert contacts["seats"].tolist() == [12.0, 3.0, 7.0]


def test_an_existing_score_is_read_as_numbers_with_gaps(tmp_path: Path) -> None:
    csv_text = 'id,won,score\n1,yes,80\n2,no,high\n3,no,\n4,yes,"1,200"\n'
    contract = ("contacts:\n  source: {kind: csv, path: export.csv}\n"
                "  columns: {contact_id: id, created_at: null}\n  outcome: won\n"
                "  existing_score: score\n")  # fmt: skip
    with pytest.raises(ContractViolations) as caught:
        import_tables(load_contract(_export(tmp_path, csv_text, contract)), _wh(tmp_path), now=NOW)
    assert [(p.column, p.problem, p.count, p.examples) for p in caught.value.problems] == [
        ("score", "values that are not numbers (for existing_score; leave gaps empty)", 1,
         ["high"])]  # fmt: skip
    result = import_tables(load_contract(_export(tmp_path, csv_text.replace("high", "15"),
                                                 contract)), _wh(tmp_path), now=NOW)  # fmt: skip
    contacts = _table(_wh(tmp_path), "contacts").sort_values("contact_id")
    assert contacts["existing_score"].tolist()[:2] == [80.0, 15.0]
    assert np.isnan(contacts["existing_score"].iloc[2])  # a gap, not an error
    assert contacts["existing_score"].iloc[3] == 1200.0
    assert result.attributes == []  # the score is compared against, never a feature


def test_exclusions_come_first_and_keep_a_column_named_like_a_role_out(tmp_path: Path) -> None:
    # "requested_demo" is ticked by sales after the call: listed as known after contact, it
    # must not come in as the role of the same name; "owner" is excluded
    path = _export(tmp_path, "won,owner,requested_demo,size\nyes,ann,yes,1\nno,bob,no,2\n",
                   "contacts:\n  source: {kind: csv, path: export.csv}\n"
                   "  columns: {contact_id: null, created_at: null}\n  outcome: won\n"
                   "  exclude: [owner]\n  known_after_contact: [requested_demo]\n")  # fmt: skip
    result = import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    assert result.attributes == [Attribute("size", "size", "numeric")]
    assert result.left_out == {"owner": "excluded in the contract",
                               "requested_demo": "known after contact (filled in by sales)"}  # fmt: skip
    contacts = _table(_wh(tmp_path), "contacts")
    assert contacts["requested_demo"].isna().all()


def test_known_before_contact_names_the_warehouse_columns(tmp_path: Path) -> None:
    contract = EXPORT_CONTRACT.replace(
        "  outcome: Converted\n", "  outcome: Converted\n  known_before_contact: [Lead Source, "
        "Channel]\n")  # fmt: skip
    result = import_tables(load_contract(_export(tmp_path, contract=contract)), _wh(tmp_path),
                           now=NOW)  # fmt: skip
    assert result.known_before_contact == ["lead_source_2", "lead_source"]


def _typing_export(n: int = 120) -> pd.DataFrame:
    """120 leads with one column of each kind the automatic typing must tell apart."""
    i = np.arange(1, n + 1)
    visits = [str(v % 17) for v in i]
    for k, text in ((4, "unknown"), (50, "-"), (90, "unknown")):  # 3 of 120 not numbers
        if k < n:
            visits[k] = text
    return pd.DataFrame({
        "won": np.where(i % 3 == 0, "yes", "no"),
        "lead_no": i,  # an integer named like an id
        "seq": i + 1000,  # a consecutive sequence
        "email": [f"p{k}@example.com" for k in i],
        "phone": [f"+1 555 010 {k:04d}" for k in i],
        "full_name": [f"Person {k}" for k in i],  # different in every row
        "notes": [f"Spoke with the buyer about renewal option number {k % 90}" for k in i],
        "company": [f"Company {k % 60}" for k in i],  # 60 distinct names in 120 rows
        "website": [f"https://acme{k}.example" for k in i],
        "campaign_id": i % 4 + 1,  # integer codes named like an id
        "visits": visits,
        "demo": np.where(i % 2 == 0, "Yes", "no"),
        "opted_in": np.where(i % 5 == 0, "1", "0"),
        "last_call": [f"2024-02-{1 + k % 28:02d}" for k in i],
        "region": np.array(["north", "south", "east"])[i % 3],
        "source_system": "hubspot",
        "legacy": "",
    })  # fmt: skip


SINGLE = ("contacts:\n  source: {kind: csv, path: export.csv}\n"
          "  columns: {contact_id: null, created_at: null}\n  outcome: won\n")  # fmt: skip


def test_columns_are_typed_and_every_left_out_column_says_why(tmp_path: Path) -> None:
    _typing_export().to_csv(tmp_path / "export.csv", index=False)
    (tmp_path / "leadscore.yaml").write_text(SINGLE)
    result = import_tables(load_contract(tmp_path / "leadscore.yaml"), _wh(tmp_path), now=NOW)
    assert result.attributes == [
        Attribute("campaign_id", "campaign_id", "categorical"),
        Attribute("visits", "visits", "numeric"),
        Attribute("demo", "demo", "boolean"),
        Attribute("opted_in", "opted_in", "boolean"),
        Attribute("region", "region", "categorical"),
    ]
    assert result.left_out == {
        "lead_no": "identifier: identifier-like: an integer named like an id, different in "
        "every row",
        "seq": "identifier: identifier-like: a near-consecutive integer sequence, different in "
        "every row",
        "email": "identifier: identifier-like: email addresses in 100% of values",
        "phone": "identifier: identifier-like: phone numbers in 100% of values",
        "full_name": "identifier: identifier-like: a different value in every row",
        "notes": "free text: free text: 75% distinct values, 51 characters on average",
        "company": "identifier: identifier-like: 60 distinct values in 120 rows (50%)",
        "website": "identifier: identifier-like: web addresses in 100% of values",
        "last_call": "datetime: a date other than created_at: dates are not turned into "
        "features (one filled in after contact would leak); use it as created_at or order_by",
        "source_system": "constant: constant: every row is 'hubspot'",
        "legacy": "empty: every value is missing",
    }
    assert result.notes()[1:] == [
        "column 'visits': 3 value(s) that are not numeric read as missing, e.g. "
        "['unknown', '-']"]  # fmt: skip
    contacts = _table(_wh(tmp_path), "contacts").sort_values("contact_id")
    assert contacts["campaign_id"].iloc[:5].tolist() == ["2", "3", "4", "1", "2"]
    np.testing.assert_array_equal(contacts["visits"].iloc[3:6], [4.0, np.nan, 6.0])  # unknown
    assert contacts["demo"].iloc[:4].tolist() == [False, True, False, True]
    assert contacts["opted_in"].iloc[3:6].tolist() == [False, True, False]


def test_codes_with_a_leading_zero_stay_text(tmp_path: Path) -> None:
    # zip codes: "02101" and "2101" are different places; read as numbers they would merge
    (tmp_path / "export.csv").write_text(
        "won,zip\n" + "".join(f"{w},0{2100 + k % 5}\n" for k, w in
                              enumerate(["yes", "no", "no"] * 4)))  # fmt: skip
    (tmp_path / "leadscore.yaml").write_text(SINGLE)
    result = import_tables(load_contract(tmp_path / "leadscore.yaml"), _wh(tmp_path), now=NOW)
    assert result.attributes == [Attribute("zip", "zip", "categorical")]
    zips = _table(_wh(tmp_path), "contacts").sort_values("contact_id")["zip"]
    assert zips.iloc[:2].tolist() == ["02100", "02101"]


@pytest.mark.parametrize("kind", ["parquet", "duckdb"])
def test_parquet_and_duckdb_sources_read_like_csv(tmp_path: Path, kind: str) -> None:
    export = _typing_export(40)[["won", "campaign_id", "region", "demo", "email"]]
    export.to_csv(tmp_path / "export.csv", index=False)
    (tmp_path / "csv.yaml").write_text(SINGLE)
    if kind == "parquet":
        export.to_parquet(tmp_path / "export.parquet")
        source = "{kind: parquet, path: export.parquet}"
    else:
        with Warehouse(f"duckdb:///{tmp_path}/crm.duckdb") as wh:
            wh.write_table("leads", export)
        source = "{kind: duckdb, path: crm.duckdb, table: leads}"
    (tmp_path / "other.yaml").write_text(
        SINGLE.replace("{kind: csv, path: export.csv}", source))
    from_csv = f"duckdb:///{tmp_path / 'from_csv.duckdb'}"
    expected = import_tables(load_contract(tmp_path / "csv.yaml"), from_csv, now=NOW)
    found = import_tables(load_contract(tmp_path / "other.yaml"), _wh(tmp_path), now=NOW)
    assert found.attributes == expected.attributes == [
        Attribute("campaign_id", "campaign_id", "categorical"),
        Attribute("region", "region", "categorical"),
        Attribute("demo", "demo", "boolean"),
    ]
    assert found.left_out == expected.left_out == {
        "email": "identifier: identifier-like: email addresses in 100% of values"}  # fmt: skip
    for table in ("contacts", "outcomes"):
        pd.testing.assert_frame_equal(_table(_wh(tmp_path), table), _table(from_csv, table))


def test_a_postgresql_source_ordered_by_a_column(tmp_path: Path) -> None:
    # lead 3 is the latest: the largest lead_id; PostgreSQL rows have no order of their own
    export = pd.DataFrame({"lead_id": [3, 1, 2], "won": [True, False, True], "size": [5, 6, 7]})
    with empty_warehouse("postgresql", tmp_path) as url:
        with Warehouse(url) as wh:
            wh.write_table("leads", export)
        path = tmp_path / "leadscore.yaml"
        path.write_text(f"contacts:\n  source: {{kind: postgresql, url: '{url}', table: leads}}\n"
                        "  columns: {contact_id: lead_id}\n  order_by: lead_id\n"
                        "  outcome: won\n")  # fmt: skip
        result = import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    contacts = _table(_wh(tmp_path), "contacts")
    assert contacts[["contact_id", "created_at", "size"]].values.tolist() == [
        [1, pd.Timestamp("2000-01-01 00:00:00"), 6.0],
        [2, pd.Timestamp("2000-01-01 00:00:01"), 7.0],
        [3, pd.Timestamp("2000-01-01 00:00:02"), 5.0],
    ]
    assert _table(_wh(tmp_path), "outcomes")["outcome"].tolist() == ["lost", "won", "won"]
    assert result.attributes == [Attribute("size", "size", "numeric")]


def test_a_missing_file_and_a_file_in_another_encoding_name_the_contract_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "leadscore.yaml"
    path.write_text(SINGLE.replace("export.csv", "nowhere.csv"))
    with pytest.raises(ConfigError, match=r"contacts.source: file '.*nowhere.csv' does not "
                       r"exist \(relative paths are relative to '.*'\)"):  # fmt: skip
        import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    (tmp_path / "export.csv").write_bytes("won,city\nyes,München\nno,Köln\n".encode("cp1252"))
    path.write_text(SINGLE)
    with pytest.raises(ConfigError, match=r"contacts.source: CSV file '.*export.csv', line 2"):
        import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    path.write_text(SINGLE.replace("path: export.csv", "path: export.csv, encoding: cp1252"))
    import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    assert _table(_wh(tmp_path), "contacts")["city"].tolist() == ["München", "Köln"]


def test_every_problem_of_an_export_is_reported_together_in_its_terms(tmp_path: Path) -> None:
    # lead A twice; the third row has no id; B created in the future; C's outcome closed
    # before it was created
    path = _export(tmp_path, "lead,created,won,closed\nA,2024-01-01,yes,2024-02-01\n"
                             "A,2024-01-02,no,2024-02-01\n,2024-01-03,no,2024-02-01\n"
                             "B,2031-05-01,no,\nC,2024-03-01,yes,2024-02-01\n",
                   "contacts:\n  source: {kind: csv, path: export.csv}\n"
                   "  columns: {contact_id: lead, created_at: created}\n  outcome: won\n"
                   "  closed_at: closed\n")  # fmt: skip
    with pytest.raises(ContractViolations) as caught:
        import_tables(load_contract(path), _wh(tmp_path), now=NOW)
    # the outcomes come from the same file: named by its columns, as the table they form
    contacts, outcomes = "contacts (csv file export.csv)", "outcomes (csv file export.csv)"
    found = [(p.table, p.column, p.problem, p.count,
              [None if pd.isna(e) else e for e in p.examples]) for p in caught.value.problems]  # fmt: skip
    assert found == [
        # the row without an id is shown by its creation time
        (contacts, "lead", "contact_id must not be null", 1, [pd.Timestamp("2024-01-03")]),
        (contacts, "lead", "contact_id must be unique; duplicate ids found", 2, ["A", "A"]),
        (contacts, "created", "timestamps must not be in the future (after 2026-01-01 00:00)",
         1, [pd.Timestamp("2031-05-01")]),
        (outcomes, "lead", "outcomes for contacts that are not in contacts (csv file "
         "export.csv)", 1, [None]),
        (outcomes, "lead", "at most one outcome per contact; contacts with several found", 2,
         ["A", "A"]),
        # B is lost but has no close time while the others have one
        (outcomes, "closed", "closed_at must not be null", 1, ["B"]),
        (outcomes, "closed", "outcomes must not close before the contact was created", 1,
         ["C"]),
    ]  # fmt: skip
    assert not (tmp_path / "wh.duckdb").exists()


# --------------------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def crm_with_a_leak(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated CRM whose contacts carry "Demo Held", a flag sales set on the contacts
    that went on to win: filled in after contact, and the team mapped it to
    requested_demo."""
    from leadscore.features._generator import GeneratorConfig, write_crm

    root = tmp_path_factory.mktemp("leaky")
    con = duckdb.connect(str(root / "crm.duckdb"))
    try:
        write_crm(con, GeneratorConfig(n_contacts=3000, seed=5))
        con.execute(
            "CREATE TABLE crm_contacts AS SELECT * EXCLUDE (requested_demo), "
            "contact_id IN (SELECT contact_id FROM outcomes WHERE outcome = 'won') "
            'AS "Demo Held" FROM contacts'
        )
    finally:
        con.close()
    sources = "{kind: duckdb, path: crm.duckdb, table: %s}"
    (root / "leadscore.yaml").write_text(
        "name: lead-quality\n"
        f"contacts:\n  source: {sources % 'crm_contacts'}\n"
        "  columns: {requested_demo: Demo Held}\n"
        f"events:\n  source: {sources % 'events'}\n"
        f"outcomes:\n  source: {sources % 'outcomes'}\n"
        "label: {horizon_days: 60}\n"
    )
    return root


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    return subprocess.run([sys.executable, "-m", "leadscore.serving.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_train_with_a_teams_contract_stops_on_an_attribute_filled_after_contact(
    crm_with_a_leak: Path,
) -> None:
    root = crm_with_a_leak
    args = ["train", "--contract", "leadscore.yaml", "--warehouse", "duckdb:///wh.duckdb"]
    stopped = _cli(args, root)
    assert stopped.returncode == 3, stopped.stderr
    assert "requested_demo" in stopped.stderr and "ROC AUC" in stopped.stderr
    assert "imported contacts: 3,000" in stopped.stdout
    trained = _cli([*args, "--allow-leaky"], root)
    assert trained.returncode == 0, trained.stderr
    assert "registered lead-quality version 1" in " ".join(trained.stdout.split())

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["leadscore"], order_by=["start_time ASC"])
    assert runs["status"].tolist() == ["FAILED", "FINISHED"]
    assert runs["params.horizon_days"].iloc[1] == "60"  # the contract's horizon
    ranking = mlflow.artifacts.load_dict(f"runs:/{runs['run_id'].iloc[1]}/leakage/report.json")
    assert ranking["trained_with_suspects"] == ["requested_demo"]
    top = ranking["columns"][0]
    assert top["column"] == "requested_demo" and top["auc"] >= 0.9


def test_a_column_declared_known_before_contact_is_reported_but_does_not_stop_training(
    crm_with_a_leak: Path, tmp_path: Path
) -> None:
    from leadscore.features import spec_for
    from leadscore.training import TrainConfig, train
    from leadscore.training._train import attribute_leakage

    contract = load_contract(crm_with_a_leak / "leadscore.yaml")
    contract.contacts.known_before_contact.append("Demo Held")
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    result = import_tables(contract, url)
    assert result.known_before_contact == ["requested_demo"]
    with Warehouse(url, read_only=True) as wh:
        frame = wh.query("SELECT requested_demo, contact_id IN (SELECT contact_id FROM outcomes "
                         "WHERE outcome = 'won') AS won FROM contacts")  # fmt: skip
    assert (frame["requested_demo"] == frame["won"]).all()  # the leak came through as mapped
    from tests.servers import tracking_store

    with tracking_store(tmp_path):
        trained = train(
            TrainConfig(
                warehouse=url,
                known_before_contact=tuple(result.known_before_contact),
                contract=contract,
            )
        )
    assert trained.model_version == "1"
    with Warehouse(url, read_only=True) as wh:
        spec = spec_for(contract, wh)
    leak = attribute_leakage(pd.DataFrame({
        "title": ["a", "b"] * 20, "company_size": [1.0] * 40, "industry": ["x"] * 40,
        "country": ["US"] * 40, "lead_source": ["web"] * 40, "email_domain": ["a.com"] * 40,
        "phone_valid": [1.0] * 40, "buying_timeline": [None] * 40,
        "requested_demo": [1.0, 0.0] * 20, "label": [1, 0] * 20}), spec)  # fmt: skip
    # the flag equals the label, the title too (a/b alternate with it): both are perfect
    assert leak["requested_demo"].auc == 1.0 and leak["title"].auc == 1.0
    assert "buying_timeline" not in {c.column for c in leak.columns}  # no values: skipped
    assert [s.column for s in leak.suspects()] == ["requested_demo", "title"]
    json.dumps(leak.to_dict())  # the report MLflow logs is JSON
