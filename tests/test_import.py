"""Tables mode: a team's own contacts, events and outcomes, read through the contract.

The narrated team keeps contacts in a semicolon CSV with its own headers ("Lead ID",
"Phone OK" as Yes/No, timestamps with and without offsets, sizes like "1,200"), events in
Parquet with its own event names, and outcomes in a CSV whose stage is "Closed Won",
"Closed Lost" or "Open". Every expected value below is worked out by hand from those rows.
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
from leadscore.features._import import IMPORTS, import_tables
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
mode: tables
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
    assert result.unused_columns == ["Favourite colour"]  # Notes is excluded, so not listed
    assert result.horizon_days == 60
    assert any("'Booth chat' (1)" in note for note in result.notes())


def test_an_unchanged_import_is_skipped_and_a_changed_source_is_reread(
    team: Path, tmp_path: Path
) -> None:
    import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    again = import_tables(load_contract(team), _wh(tmp_path), now=NOW)
    assert again.skipped == "up to date"
    assert again.rows == {"contacts": 3, "events": 4, "outcomes": 2}
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
    in_place.write_text("mode: tables\n" + "".join(
        f"{t}:\n  source: {source % t}\n" for t in ("contacts", "events", "outcomes")))  # fmt: skip
    before = _table(_wh(tmp_path), IMPORTS)
    result = import_tables(load_contract(in_place), _wh(tmp_path), now=NOW)
    assert result.skipped == "in place"
    assert result.rows == {"contacts": 3, "events": 4, "outcomes": 2}
    pd.testing.assert_frame_equal(_table(_wh(tmp_path), IMPORTS), before)  # nothing copied


def test_tables_mode_refuses_a_spark_warehouse(team: Path) -> None:
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
            "mode: tables\n"
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
        "mode: tables\ncontacts: {source: {kind: csv, path: c.csv}}\n"
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
        "mode: tables\n"
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


def test_train_with_a_tables_contract_stops_on_an_attribute_filled_after_contact(
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
    from leadscore.training import TrainConfig, train
    from leadscore.training._train import attribute_leakage

    contract = load_contract(crm_with_a_leak / "leadscore.yaml")
    assert contract.contacts is not None
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
                horizon_days=60,
                known_before_contact=tuple(result.known_before_contact),
            )
        )
    assert trained.model_version == "1"
    leak = attribute_leakage(pd.DataFrame({
        "title": ["a", "b"] * 20, "company_size": [1.0] * 40, "industry": ["x"] * 40,
        "country": ["US"] * 40, "lead_source": ["web"] * 40, "email_domain": ["a.com"] * 40,
        "phone_valid": [1.0] * 40, "buying_timeline": [None] * 40,
        "requested_demo": [1.0, 0.0] * 20, "label": [1, 0] * 20}))  # fmt: skip
    # the flag equals the label, the title too (a/b alternate with it): both are perfect
    assert leak["requested_demo"].auc == 1.0 and leak["title"].auc == 1.0
    assert "buying_timeline" not in {c.column for c in leak.columns}  # no values: skipped
    assert [s.column for s in leak.suspects()] == ["requested_demo", "title"]
    json.dumps(leak.to_dict())  # the report MLflow logs is JSON
