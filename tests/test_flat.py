"""Flat mode: a CRM export read, checked (losing nothing), typed and split."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leadscore.features import (
    ConfigError,
    ContractViolations,
    DataValidationError,
    MissingColumnsError,
    Warehouse,
)
from leadscore.features._contract import Contract, load_contract
from leadscore.features._flat import Excluded, ExcludedRows, flat_split, label_outcome, load_flat

from tests.engines import empty_warehouse

NOW = datetime(2025, 1, 1)


def _contract(tmp_path: Path, csv_text: str, leads_yaml: str) -> Contract:
    """A contract for ``leads.csv`` (written from ``csv_text``) with extra ``leads:`` keys."""
    (tmp_path / "leads.csv").write_text(csv_text, encoding="utf-8")
    path = tmp_path / "leadscore.yaml"
    path.write_text("mode: flat\nleads:\n  source: {kind: csv, path: leads.csv}\n" + leads_yaml)
    return load_contract(path)


def _problems(contract: Contract) -> list[tuple[str, str | None, str, int, list[object]]]:
    """(table, column, problem, count, examples) of every problem load_flat finds."""
    with pytest.raises(ContractViolations) as info:
        load_flat(contract, now=NOW)
    return [(p.table, p.column, p.problem, p.count, p.examples) for p in info.value.problems]


# --------------------------------------------------------------------------- reading


def test_a_small_export_is_read_labelled_and_typed(tmp_path: Path) -> None:
    # six leads; the label in five spellings (one padded with spaces), numbers written
    # with thousands separators and percent signs, an industry spelled in two cases
    contract = _contract(
        tmp_path,
        "lead_id,created,won,employees,growth,industry\n"
        'L1,2024-01-05,Yes,"1,234",12%,software\n'
        "L2,2024-01-02, no ,250,5%,retail\n"
        "L3,2024-01-03,1,40,-3%,software\n"
        'L4,2024-01-01,0,"12,000",0%,Retail\n'
        "L5,2024-01-06,TRUE,75,,software\n"
        "L6,2024-01-04,Lost,9,1.5%,\n",
        "  id: lead_id\n  label: won\n  created_at: created\n",
    )
    data = load_flat(contract, now=NOW)
    rows = pd.RangeIndex(1, 7, name="row")
    assert data.label.tolist() == [1, 0, 1, 0, 1, 0]
    assert data.ids.tolist() == ["L1", "L2", "L3", "L4", "L5", "L6"]
    assert data.features == {"employees": "numeric", "growth": "numeric", "industry": "categorical"}
    expected = pd.DataFrame(
        {
            "employees": [1234.0, 250.0, 40.0, 12000.0, 75.0, 9.0],
            # "12%" is 12.0: the number as written; the column keeps one scale
            "growth": [12.0, 5.0, -3.0, 0.0, np.nan, 1.5],
            "industry": pd.Series(
                ["software", "retail", "software", "Retail", "software", np.nan],
                dtype="str",
                index=rows,
            ),
        },
        index=rows,
    )
    pd.testing.assert_frame_equal(data.frame, expected)
    assert data.order is not None
    assert data.order.tolist() == [pd.Timestamp(f"2024-01-0{d}") for d in (5, 2, 3, 1, 6, 4)]
    assert (data.time.kind, data.time.column) == ("created_at", "created")
    assert (data.excluded, data.excluded_rows, data.notes) == ([], [], [])
    assert data.describe().splitlines() == [
        "leads.csv: 6 rows read; 6 labelled (3 won, 3 lost, won rate 50.0%)",
        "time: rows ordered by created_at (column 'created')",
        "features: 3 (2 numeric, 1 categorical, 0 boolean)",
    ]


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("1", "won"),
        (1, "won"),
        (1.0, "won"),
        ("1.0", "won"),
        (True, "won"),
        (" YES ", "won"),
        ("true", "won"),
        ("Won", "won"),
        ("0", "lost"),
        (0, "lost"),
        (False, "lost"),
        ("No", "lost"),
        ("FALSE", "lost"),
        ("lost", "lost"),
        ("y", None),
        ("2", None),
        ("maybe", None),
        (None, None),
        (math.nan, None),
    ],
)
def test_built_in_label_spellings(value: object, outcome: str | None) -> None:
    assert label_outcome(value) == outcome


def test_contract_label_values_win_over_built_in_spellings() -> None:
    mapping = {"closed won": "won", "no": "open"}
    assert label_outcome(" Closed Won", mapping) == "won"
    assert label_outcome("NO", mapping) == "open"  # the contract's meaning, not the built-in
    assert label_outcome("yes", mapping) == "won"  # the built-ins still apply otherwise


def test_labels_outside_the_allowed_set_list_every_value_found(tmp_path: Path) -> None:
    won = ["yes"] * 4 + ["no"] * 3 + ["maybe"] * 2 + ["Open"]
    csv_text = "id,won\n" + "".join(f"{i},{v}\n" for i, v in enumerate(won, start=1))
    problems = _problems(_contract(tmp_path, csv_text, "  id: id\n  label: won\n"))
    assert problems == [
        (
            "leads.csv",
            "won",
            "label must be won (1, true, yes, won) or lost (0, false, no, lost); values found: "
            "'yes' (4 rows), 'no' (3 rows), 'maybe' (2 rows), 'Open' (1 row). Map other values "
            "with label_values: {won: [...], lost: [...], open: [...]}",
            3,
            ["maybe", "Open"],
        ),
    ]


def test_open_labels_are_counted_and_kept_for_scoring(tmp_path: Path) -> None:
    # a CRM stage column: two won, two lost, two still open, one row in a built-in spelling
    contract = _contract(
        tmp_path,
        "id,stage,size\n"
        "a,Closed Won,10\nb,Closed Lost,20\nc,Open,30\nd,Closed Won,40\n"
        "e,open,50\nf,Closed Lost,60\ng,yes,70\n",
        "  id: id\n  label: stage\n"
        "  label_values: {won: [Closed Won], lost: [Closed Lost], open: [Open]}\n",
    )
    data = load_flat(contract, now=NOW)
    assert data.label.to_dict() == {1: 1, 2: 0, 4: 1, 6: 0, 7: 1}
    assert data.excluded_rows == [
        ExcludedRows(
            "label not decided yet (label_values.open): left out of training, kept for scoring",
            2,
            ("c", "e"),
        ),
    ]
    assert data.open_ids.tolist() == ["c", "e"]
    assert data.open_rows["size"].tolist() == [30.0, 50.0]
    assert data.rows_read == 7
    assert "rows left out: 2 (label not decided yet" in data.describe()


def test_every_row_problem_is_reported_together(tmp_path: Path) -> None:
    # A twice; row 4 has no id; B's created_at is not a date, C's is empty, D's is in the
    # future; E has no label. Six problems, one run.
    contract = _contract(
        tmp_path,
        "lead_id,created,won\n"
        "A,2024-01-01,yes\nA,2024-01-02,no\nB,soon,yes\n,2024-01-03,no\n"
        "C,,yes\nD,2031-05-01,no\nE,2024-01-04,\n",
        "  id: lead_id\n  label: won\n  created_at: created\n",
    )
    assert _problems(contract) == [
        ("leads.csv", "lead_id", "id must not be empty (examples are row numbers)", 1, [4]),
        ("leads.csv", "lead_id", "id must be unique; 1 ids appear more than once", 2, ["A"]),
        ("leads.csv", "won", "label must not be empty (examples are row ids)", 1, ["E"]),
        ("leads.csv", "created", "created_at must not be empty (examples are row ids)", 1, ["C"]),
        (
            "leads.csv",
            "created",
            "created_at values are not dates (expected e.g. 2024-03-31 or 2024-03-31 14:05:00)",
            1,
            ["soon"],
        ),
        (
            "leads.csv",
            "created",
            "timestamps must not be in the future (after 2025-01-01 00:00)",
            1,
            ["2031-05-01"],
        ),
    ]


def test_missing_columns_and_an_empty_table_stop_before_anything_else(tmp_path: Path) -> None:
    contract = _contract(
        tmp_path, "Lead ID,won\n", "  id: lead_id\n  label: won\n  exclude: [owner]\n"
    )
    with pytest.raises(ContractViolations) as info:
        load_flat(contract, now=NOW)
    missing, empty = info.value.problems
    assert isinstance(missing, MissingColumnsError)
    assert str(missing) == (
        "table 'leads.csv', column 'lead_id': table must have columns "
        "['lead_id', 'won', 'owner']; missing ['lead_id', 'owner']"
    )
    assert str(empty) == "table 'leads.csv': table is empty; nothing to train on"


def test_a_label_with_one_outcome_is_an_error(tmp_path: Path) -> None:
    contract = _contract(tmp_path, "won\nno\nNo\n0\n", "  label: won\n")
    assert _problems(contract) == [
        (
            "leads.csv",
            "won",
            "every labelled row is lost; a model needs won and lost rows",
            3,
            ["no", "No", "0"],
        ),
    ]


def test_rule_score_must_be_a_number_in_every_row(tmp_path: Path) -> None:
    contract = _contract(
        tmp_path,
        'id,won,score\n1,yes,80\n2,no,high\n3,no,\n4,yes,"1,200"\n',
        "  id: id\n  label: won\n  rule_score: score\n",
    )
    assert _problems(contract) == [
        (
            "leads.csv",
            "score",
            "rule_score must not be empty: every lead needs the score to "
            "compare against (examples are row ids)",
            1,
            ["3"],
        ),
        ("leads.csv", "score", "rule_score values must be numbers", 1, ["high"]),
    ]
    (tmp_path / "leads.csv").write_text("id,won,score\n1,yes,80\n2,no,15\n")
    data = load_flat(contract, now=NOW)
    assert data.rule_score is not None and data.rule_score.tolist() == [80.0, 15.0]
    assert data.features == {}  # the rule score is compared against, never a feature


def test_order_by_column_must_hold_numbers_or_dates(tmp_path: Path) -> None:
    contract = _contract(
        tmp_path, "won,batch\nyes,early\nno,late\nno,\n", "  label: won\n  order_by: batch\n"
    )
    assert _problems(contract) == [
        ("leads.csv", "batch", "order_by column must not be empty (examples are row ids)", 1, [3]),
        ("leads.csv", "batch", "order_by column must hold numbers or dates", 2, ["early", "late"]),
    ]


def test_column_types_force_a_kind_and_check_it(tmp_path: Path) -> None:
    contract = _contract(
        tmp_path,
        "won,zip,seats\nyes,2134,12\nno,2134,abc\nno,10001,7\n",
        "  label: won\n  column_types: {zip: categorical, seats: numeric}\n",
    )
    assert _problems(contract) == [
        ("leads.csv", "seats", "column_types says numeric, but values are not numeric", 1, ["abc"]),
    ]
    (tmp_path / "leads.csv").write_text("won,zip,seats\nyes,2134,12\nno,2134,3\nno,10001,7\n")
    data = load_flat(contract, now=NOW)
    assert data.features == {"zip": "categorical", "seats": "numeric"}
    assert data.frame["zip"].tolist() == ["2134", "2134", "10001"]


def test_a_header_naming_a_column_twice_is_an_error(tmp_path: Path) -> None:
    contract = _contract(tmp_path, "won,size,size\nyes,1,2\n", "  label: won\n")
    with pytest.raises(DataValidationError, match=r"the header names \['size'\] twice"):
        load_flat(contract, now=NOW)


def test_delimiter_and_byte_order_mark_are_handled(tmp_path: Path) -> None:
    # an Excel-style export: a byte-order mark and semicolons, no delimiter in the contract
    contract = _contract(tmp_path, "\ufeffwon;size\nyes;1\nno;2\n", "  label: won\n")
    data = load_flat(contract, now=NOW)
    assert data.features == {"size": "numeric"}
    assert data.label.tolist() == [1, 0]


# --------------------------------------------------------------------------- typing


def _typing_export(n: int = 120) -> pd.DataFrame:
    """120 leads with one column of each kind the automatic typing must tell apart."""
    i = np.arange(1, n + 1)
    visits = [str(v % 17) for v in i]
    for k, text in ((4, "unknown"), (50, "-"), (90, "unknown")):  # 3 of 120 not numbers
        if k < n:
            visits[k] = text
    return pd.DataFrame(
        {
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
            "zip": [f"0{2100 + k % 5}" for k in i],  # leading zeros: codes
            "visits": visits,
            "demo": np.where(i % 2 == 0, "Yes", "no"),
            "opted_in": np.where(i % 5 == 0, "1", "0"),
            "last_call": [f"2024-02-{1 + k % 28:02d}" for k in i],
            "region": np.array(["north", "south", "east"])[i % 3],
            "source_system": "hubspot",
            "legacy": "",
        }
    )


def test_columns_are_typed_and_every_left_out_column_says_why(tmp_path: Path) -> None:
    _typing_export().to_csv(tmp_path / "leads.csv", index=False)
    path = tmp_path / "leadscore.yaml"
    path.write_text("mode: flat\nleads:\n  source: {kind: csv, path: leads.csv}\n  label: won\n")
    data = load_flat(load_contract(path), now=NOW)
    assert data.features == {
        "campaign_id": "categorical",
        "zip": "categorical",
        "visits": "numeric",
        "demo": "boolean",
        "opted_in": "boolean",
        "region": "categorical",
    }
    assert data.excluded == [
        Excluded("lead_no", "identifier-like: an integer named like an id, different in every row"),
        Excluded(
            "seq", "identifier-like: a near-consecutive integer sequence, different in every row"
        ),
        Excluded("email", "identifier-like: email addresses in 100% of values"),
        Excluded("phone", "identifier-like: phone numbers in 100% of values"),
        Excluded("full_name", "identifier-like: a different value in every row"),
        Excluded("notes", "free text: 75% distinct values, 51 characters on average"),
        Excluded("company", "identifier-like: 60 distinct values in 120 rows (50%)"),
        Excluded("website", "identifier-like: web addresses in 100% of values"),
        Excluded(
            "last_call",
            "a date other than created_at: dates are not turned into features "
            "(one filled in after contact would leak); use it as created_at or "
            "order_by",
        ),
        Excluded("source_system", "constant: every row is 'hubspot'"),
        Excluded("legacy", "every value is missing"),
    ]
    assert data.notes == [
        "column 'visits' is numeric; 3 values that are not numbers count as missing "
        "(e.g. 'unknown', '-')"
    ]
    frame = data.frame
    assert frame["campaign_id"].iloc[:5].tolist() == ["2", "3", "4", "1", "2"]
    assert frame["zip"].iloc[:2].tolist() == ["02101", "02102"]
    np.testing.assert_array_equal(frame["visits"].iloc[3:6], [4.0, np.nan, 6.0])  # row 5: unknown
    assert frame["demo"].iloc[:4].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert frame["opted_in"].iloc[3:6].tolist() == [0.0, 1.0, 0.0]


def test_contract_exclusions_come_first_and_are_named(tmp_path: Path) -> None:
    contract = _contract(
        tmp_path,
        "won,owner,call_minutes,size\nyes,ann,12,1\nno,bob,0,2\n",
        "  label: won\n  exclude: [owner]\n  known_after_contact: [call_minutes]\n",
    )
    data = load_flat(contract, now=NOW)
    assert data.features == {"size": "numeric"}
    assert data.excluded == [
        Excluded("owner", "excluded by the contract (exclude)"),
        Excluded("call_minutes", "known only after contact (known_after_contact); never used"),
    ]


# --------------------------------------------------------------------------- sources


@pytest.mark.parametrize("kind", ["parquet", "duckdb"])
def test_parquet_and_duckdb_sources_read_like_csv(tmp_path: Path, kind: str) -> None:
    export = _typing_export(40)[["won", "campaign_id", "region", "demo", "email"]]
    export.to_csv(tmp_path / "leads.csv", index=False)
    csv_path = tmp_path / "csv.yaml"
    csv_path.write_text(
        "mode: flat\nleads:\n  source: {kind: csv, path: leads.csv}\n  label: won\n"
    )
    if kind == "parquet":
        export.to_parquet(tmp_path / "leads.parquet")
        source = "{kind: parquet, path: leads.parquet}"
    else:
        with Warehouse(f"duckdb:///{tmp_path}/crm.duckdb") as wh:
            wh.write_table("leads", export)
        source = "{kind: duckdb, path: crm.duckdb, table: leads}"
    other = tmp_path / "other.yaml"
    other.write_text(f"mode: flat\nleads:\n  source: {source}\n  label: won\n")
    expected, found = (
        load_flat(load_contract(csv_path), now=NOW),
        load_flat(load_contract(other), now=NOW),
    )
    assert (
        found.features
        == expected.features
        == {"campaign_id": "categorical", "region": "categorical", "demo": "boolean"}
    )
    pd.testing.assert_frame_equal(found.frame, expected.frame)
    pd.testing.assert_series_equal(found.label, expected.label)
    assert found.excluded == expected.excluded
    assert found.table == ("leads.parquet" if kind == "parquet" else "leads")


def test_postgresql_source(tmp_path: Path) -> None:
    # skips (saying how to start a server) unless LEADSCORE_TEST_POSTGRES_URL is set
    export = pd.DataFrame({"lead_id": [3, 1, 2], "won": [True, False, True], "size": [5, 6, 7]})
    with empty_warehouse("postgresql", tmp_path) as url:
        with Warehouse(url) as wh:
            wh.write_table("leads", export)
        path = tmp_path / "leadscore.yaml"
        path.write_text(
            f"mode: flat\nleads:\n  source: {{kind: postgresql, url: '{url}', "
            "table: leads}\n  id: lead_id\n  label: won\n  order_by: lead_id\n"
        )
        data = load_flat(load_contract(path), now=NOW)
    assert data.label.tolist() == [1, 0, 1]
    assert data.features == {"size": "numeric"}
    split = flat_split(data, test_share=0.3, validation_share=0.3)  # one row each
    assert data.ids.loc[split.test].tolist() == [3]  # the largest lead_id is the latest


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "leadscore.yaml"
    path.write_text("mode: flat\nleads:\n  source: {kind: csv, path: nowhere.csv}\n  label: won\n")
    with pytest.raises(ConfigError, match=r"leads source: file '.*nowhere.csv' does not exist"):
        load_flat(load_contract(path))


# --------------------------------------------------------------------------- splits


def test_time_split_takes_the_latest_rows_as_test(tmp_path: Path) -> None:
    # ten leads created on days shuffled against the file order
    days = [7, 2, 9, 1, 10, 4, 3, 8, 5, 6]
    won = ["yes", "no"] * 5
    csv_text = "id,created,won\n" + "".join(
        f"L{i},2024-03-{d:02d},{w}\n" for i, (d, w) in enumerate(zip(days, won, strict=True), 1)
    )
    data = load_flat(
        _contract(tmp_path, csv_text, "  id: id\n  label: won\n  created_at: created\n"), now=NOW
    )
    split = flat_split(data)
    # rows by day: 4(1) 2(2) 7(3) 6(4) 9(5) 10(6) 1(7) 8(8) 3(9) 5(10)
    assert split.train.tolist() == [4, 2, 7, 6, 9, 10]
    assert split.validation.tolist() == [1, 8]
    assert split.test.tolist() == [3, 5]
    assert split.by_time
    assert split.description == (
        "time split; rows ordered by created_at (column 'created'). Train "
        "2024-03-01..2024-03-06 (6 rows), validation 2024-03-07..2024-03-08 (2 rows), test (the "
        "latest 20%) 2024-03-09..2024-03-10 (2 rows)"
    )


def test_row_order_split(tmp_path: Path) -> None:
    csv_text = "won\n" + "yes\nno\n" * 5
    data = load_flat(
        _contract(tmp_path, csv_text, "  label: won\n  order_by: row_order\n"), now=NOW
    )
    split = flat_split(data)
    assert (split.train.tolist(), split.validation.tolist(), split.test.tolist()) == (
        [1, 2, 3, 4, 5, 6],
        [7, 8],
        [9, 10],
    )
    assert split.description == (
        "time split; rows in source order, taken as time order (order_by: row_order). Train "
        "rows 1-6 (6 rows), validation rows 7-8 (2 rows), test (the latest 20%) rows 9-10 "
        "(2 rows)"
    )


def test_without_time_the_split_is_stratified_random_and_says_so(tmp_path: Path) -> None:
    # 50 leads, 10 won: each part keeps the won rate of 20%
    csv_text = "won,size\n" + "".join(f"{'yes' if i % 5 == 0 else 'no'},{i}\n" for i in range(50))
    data = load_flat(_contract(tmp_path, csv_text, "  label: won\n"), now=NOW)
    assert data.time.kind == "none" and data.order is None
    split = flat_split(data, seed=3)
    parts = [split.train, split.validation, split.test]
    assert [len(p) for p in parts] == [30, 10, 10]
    assert [int(data.label.loc[p].sum()) for p in parts] == [6, 2, 2]
    assert sorted([*split.train, *split.validation, *split.test]) == list(range(1, 51))
    assert not split.by_time
    assert split.description == (
        "no time column: stratified random split (seed 3): train 30 rows, validation 10, test "
        "10; the test rows are not later than the training rows, so these figures do not show "
        "how the model holds up on later leads"
    )
    assert flat_split(data, seed=3).test.tolist() == split.test.tolist()
    assert flat_split(data, seed=4).test.tolist() != split.test.tolist()


def test_split_shares_are_checked(tmp_path: Path) -> None:
    data = load_flat(_contract(tmp_path, "won\nyes\nno\n", "  label: won\n"), now=NOW)
    with pytest.raises(ConfigError, match=r"test_share must be between 0 and 1, got 1\.5"):
        flat_split(data, test_share=1.5)
    with pytest.raises(
        DataValidationError, match="a stratified split needs at least 3 won and 3 lost rows"
    ):
        flat_split(data)


def test_created_at_accepts_offsets_and_other_spellings(tmp_path: Path) -> None:
    # an offset is converted to UTC and dropped; a slashed date is read month first
    contract = _contract(
        tmp_path,
        "won,created\nyes,2024-01-05T10:00:00+02:00\nno,2024-01-06 09:30\nyes,01/07/2024\n",
        "  label: won\n  created_at: created\n",
    )
    data = load_flat(contract, now=NOW)
    assert data.order is not None
    assert data.order.tolist() == [
        pd.Timestamp("2024-01-05 08:00"),
        pd.Timestamp("2024-01-06 09:30"),
        pd.Timestamp("2024-01-07"),
    ]


def test_a_file_in_another_encoding_says_how_to_read_it(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_bytes("won,city\nyes,München\nno,Köln\n".encode("cp1252"))
    path = tmp_path / "leadscore.yaml"
    path.write_text("mode: flat\nleads:\n  source: {kind: csv, path: leads.csv}\n  label: won\n")
    with pytest.raises(ConfigError, match=r"set leads.source.encoding \(e.g. cp1252\)"):
        load_flat(load_contract(path), now=NOW)
    path.write_text(
        "mode: flat\nleads:\n  source: {kind: csv, path: leads.csv, encoding: cp1252}\n"
        "  label: won\n"
    )
    data = load_flat(load_contract(path), now=NOW)
    assert data.frame["city"].tolist() == ["München", "Köln"]
