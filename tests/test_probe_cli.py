"""Bad CSV inputs driven through the command line as a careless or hostile user would.

A team keeps its leads and their events in two CSV files (30 leads, 90 events) and imports
them once with ``leadscore validate --contract`` into a DuckDB warehouse. Each probe then
copies that folder, replaces one file with a bad one, and runs ``validate`` (and for some
``train``) as a real subprocess. It checks the exact exit code, the message naming the
source, the line or the column, and either that the warehouse and the MLflow registry are
exactly as before, or, for inputs that are fine after all, what the import made of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

LEADSCORE = [sys.executable, "-m", "leadscore.serving.cli"]
WAREHOUSE = "duckdb:///wh.duckdb"
CONTRACT = """\
name: probe
contacts:
  source: {kind: csv, path: leads.csv}
  columns: {contact_id: lead_id, created_at: created, title: title, company_size: employees,
            industry: industry, phone_valid: phone_ok}
  outcome: converted
events:
  source: {kind: csv, path: events.csv}
  columns: {contact_id: lead_id, occurred_at: at, event_type: kind}
label: {won_values: ["yes"], lost_values: ["no"], horizon_days: 90}
"""
TITLES = ("VP Sales", "Intern", "CTO", "Analyst", "Head of Marketing")
SIZES = (10, 50, 250, 1200, 5000)
KINDS = ("web_visit", "email_open", "demo_request")


def lead_line(i: int, *, title: str | None = None, employees: str | None = None) -> str:
    """Lead ``i`` (1..30) as a CSV line: created on day ``i`` of 2024 at 09:00, the i-th
    title and size in turn, won every third lead."""
    title = title if title is not None else TITLES[i % 5]
    employees = employees if employees is not None else str(SIZES[i % 5])
    industry = "software" if i % 2 else "retail"
    phone = "yes" if i % 4 else "no"
    won = "yes" if i % 3 == 0 else "no"
    return f"{i},2024-01-{i:02d} 09:00:00,{title},{employees},{industry},{phone},{won}"


LEADS_HEADER = "lead_id,created,title,employees,industry,phone_ok,converted"
LEADS = "\n".join([LEADS_HEADER, *(lead_line(i) for i in range(1, 31))]) + "\n"
EVENTS_HEADER = "lead_id,at,kind"
# three events per lead, on the day after it was created, at 10:00, 11:00 and 12:00
EVENTS = "\n".join([EVENTS_HEADER, *(f"{i},2024-01-{i + 1:02d} {10 + k}:00:00,{KINDS[k]}"
                                     for i in range(1, 31) for k in range(3))]) + "\n"  # fmt: skip


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "LEADSCORE_HOLD_AT")}  # fmt: skip
    return subprocess.run([*LEADSCORE, *args, "--contract", "leadscore.yaml", "--warehouse",
                           WAREHOUSE], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)  # fmt: skip


def _words(text: str) -> str:
    """Terminal output with its line wrapping undone."""
    return " ".join(text.split())


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    """Every table of the folder's warehouse, rows in a fixed order."""
    con = duckdb.connect(str(folder / "wh.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "ORDER BY table_name").fetchall()]  # fmt: skip
        return {n: con.sql(f'SELECT * FROM "{n}" ORDER BY ALL').df() for n in names}
    finally:
        con.close()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The team's folder: the two CSV files, the contract, and the warehouse they were
    imported into (with ``validate``: exit 0)."""
    folder = tmp_path_factory.mktemp("team")
    (folder / "leads.csv").write_text(LEADS, encoding="utf-8")
    (folder / "events.csv").write_text(EVENTS, encoding="utf-8")
    (folder / "leadscore.yaml").write_text(CONTRACT, encoding="utf-8")
    done = _run(["validate"], folder)
    assert done.returncode == 0, done.stderr
    assert "imported contacts: 30, events: 90, outcomes: 30 rows" in _words(done.stdout)
    tables = _tables(folder)
    assert len(tables["contacts"]) == 30 and len(tables["events"]) == 90
    return folder


@pytest.fixture
def team(imported: Path, tmp_path: Path) -> Path:
    """A copy of the imported folder for one probe to break."""
    return Path(shutil.copytree(imported, tmp_path / "team"))


@dataclass(frozen=True)
class Probe:
    """A bad input: the file it replaces, its bytes, and what every command must answer."""

    file: str
    content: Callable[[], bytes]
    exit_code: int
    message: Callable[[Path], str]


def _leads_with(line: int, **values: str) -> bytes:
    """The leads file with lead ``line`` changed."""
    lines = [LEADS_HEADER, *(lead_line(i, **values) if i == line else lead_line(i)
                             for i in range(1, 31))]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def _large_events_with_an_open_quote() -> bytes:
    """About 17 MB of events (more than the CSV reader's 16 MiB block) whose line 1,001
    opens a quote that nothing closes: once, the rest of the block vanished silently."""
    lines = [EVENTS_HEADER]
    for n in range(520_000):
        lead = n % 30 + 1
        kind = '"web_visit' if len(lines) == 1_000 else KINDS[n % 3]
        lines.append(f"{lead},2024-02-{n % 28 + 1:02d} {n % 24:02d}:{n % 60:02d}:00,{kind}")
    return ("\n".join(lines) + "\n").encode()


def _mixed_encodings() -> bytes:
    """UTF-8 leads ("Café" on line 3) with one line from a Windows export (cp1252 "Président",
    line 8): the file is neither encoding throughout."""
    data = _leads_with(2, title="Café Owner").decode().split("\n")
    data[7] = data[7].replace(TITLES[7 % 5], "Président")
    return b"\n".join(d.encode("cp1252" if i == 7 else "utf-8") for i, d in enumerate(data))


def _contacts_problem(column: str, problem: str, examples: str) -> Callable[[Path], str]:
    return lambda folder: (
        "error: 1 data contract problem(s) found: - table 'contacts (csv file leads.csv)', "
        f"column {column!r}: {problem} (1 row affected; e.g. {examples})"
    )


NOT_A_SIZE = "values that are not finite numbers of magnitude at most 1e15 (for company_size)"
PROBES: dict[str, Probe] = {
    "empty contacts file": Probe(
        "leads.csv", lambda: b"", 2,
        lambda folder: f"error: contacts.source: CSV file '{folder / 'leads.csv'}': file is "
        "empty (0 bytes); expected a header line naming the columns"),
    "header-only contacts file": Probe(
        "leads.csv", lambda: (LEADS_HEADER + "\n").encode(), 3,
        lambda folder: "error: 2 data contract problem(s) found: - table 'events (csv file "
        "events.csv)', column 'lead_id': events for contacts that are not in contacts (csv "
        "file leads.csv) (90 rows affected; e.g. '1', '1', '1', '2', '2') - table 'contacts "
        "(csv file leads.csv)': table is empty; nothing to score"),
    "an open quote on line 1,001 of a 17 MB events file": Probe(
        "events.csv", _large_events_with_an_open_quote, 2,
        lambda folder: f"error: events.source: CSV file '{folder / 'events.csv'}', line 1001: "
        "a quoted field opens in the record starting on this line and is never closed (the "
        "file ends inside it, on line 520001); expected a closing quote (\")"),
    "mixed encodings": Probe(
        "leads.csv", _mixed_encodings, 2,
        lambda folder: f"error: contacts.source: CSV file '{folder / 'leads.csv'}', line 8: "
        f"byte 0xE9 (offset {_mixed_encodings().index(bytes([0xE9]))}) is not valid "
        "utf-8-sig text (invalid continuation byte); set `encoding:` in contacts.source to "
        "the file's encoding (e.g. encoding: cp1252)"),
    "inf in a numeric column": Probe(
        "leads.csv", lambda: _leads_with(5, employees="inf"), 3,
        _contacts_problem("employees", NOT_A_SIZE, "'inf'")),
    "-inf in a numeric column holding text": Probe(  # "1,200" makes the column text
        "leads.csv", lambda: _leads_with(5, employees="-inf").replace(b",250,", b',"1,200",', 1),
        3, _contacts_problem("employees", NOT_A_SIZE, "'-inf'")),
    "1e308 in a numeric column": Probe(
        "leads.csv", lambda: _leads_with(6, employees="1e308"), 3,
        _contacts_problem("employees", NOT_A_SIZE, "'1e+308'")),
}  # fmt: skip
TRAINED_TOO = ("empty contacts file", "an open quote on line 1,001 of a 17 MB events file",
               "1e308 in a numeric column")  # fmt: skip


@pytest.mark.parametrize("name", list(PROBES))
def test_a_bad_input_is_a_named_error_and_changes_nothing(team: Path, name: str) -> None:
    probe = PROBES[name]
    before = _tables(team)
    (team / probe.file).write_bytes(probe.content())
    for command in ("validate", "train") if name in TRAINED_TOO else ("validate",):
        done = _run([command], team)
        assert done.returncode == probe.exit_code, (command, done.stderr[-3000:])
        assert probe.message(team) in _words(done.stderr), (command, done.stderr[-3000:])
        assert "Traceback" not in done.stderr
        after = _tables(team)
        assert list(after) == list(before)
        for table, frame in before.items():
            pd.testing.assert_frame_equal(after[table], frame, obj=f"table {table}")
        assert not (team / "mlflow.db").exists()  # train stopped before the registry


def test_nan_in_a_numeric_column_is_read_as_missing(team: Path) -> None:
    # lead 5 (10 employees) now says NaN: a missing size, as an empty field is; nothing else
    # changes
    before = _tables(team)["contacts"]
    (team / "leads.csv").write_bytes(_leads_with(5, employees="NaN"))
    done = _run(["validate"], team)
    assert done.returncode == 0, done.stderr
    after = _tables(team)["contacts"]
    assert pd.isna(after.loc[after["contact_id"] == 5, "company_size"]).all()
    assert before.loc[before["contact_id"] == 5, "company_size"].tolist() == [10.0]
    expected = before.assign(company_size=before["company_size"].where(before["contact_id"] != 5))
    pd.testing.assert_frame_equal(after, expected)


def test_a_header_only_events_file_is_an_events_table_without_rows(team: Path) -> None:
    (team / "events.csv").write_bytes((EVENTS_HEADER + "\n").encode())
    done = _run(["validate"], team)
    assert done.returncode == 0, done.stderr
    assert "imported contacts: 30, events: 0, outcomes: 30 rows" in _words(done.stdout)
    tables = _tables(team)
    assert len(tables["events"]) == 0 and len(tables["contacts"]) == 30


def test_a_huge_title_is_kept_whole(team: Path) -> None:
    # lead 4's title is one quoted field of 6,000,000 characters (beyond the csv module's
    # default field limit of 131,072): imported as it is, trimmed of its trailing space
    huge = "Vice President " * 400_000
    (team / "leads.csv").write_bytes(_leads_with(4, title=f'"{huge}"'))
    done = _run(["validate"], team)
    assert done.returncode == 0, done.stderr
    contacts = _tables(team)["contacts"]
    assert contacts.loc[contacts["contact_id"] == 4, "title"].tolist() == [huge.strip()]
    assert len(contacts) == 30
