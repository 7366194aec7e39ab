"""The strict CSV reader: every record of the file becomes a row, or an error names the line.

Each file is written inside its test; the comment above it narrates what is in it, and the
expected rows or message are worked out by hand from that text.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from leadscore.features import ConfigError
from leadscore.features._csv import read_csv_table

WHERE = "contacts.source"


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _read(path: Path, *, encoding: str = "utf-8-sig", delimiter: str = ",") -> pa.Table:
    return read_csv_table(path, encoding=encoding, delimiter=delimiter, where=WHERE)


def _error(path: Path, **kwargs: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _read(path, **kwargs)
    return str(caught.value)


def _prefix(path: Path) -> str:
    return f"{WHERE}: CSV file {str(path)!r}"


def test_quoted_delimiters_doubled_quotes_and_line_breaks_each_count_once(tmp_path: Path) -> None:
    # contact 1: a company name holding the delimiter, quoted;
    # contact 2: a note with a doubled quote inside a quoted field;
    # contact 3: a note spanning two lines (one record over lines 4-5);
    # a blank line before contact 4, which is not a record.
    path = _write(tmp_path, "contacts.csv", (
        "contact_id,company,note\n"
        '1,"Acme, Inc",first call\n'
        '2,Beta,"said ""call me"" twice"\n'
        '3,Gamma,"line one\n'
        'line two"\n'
        "\n"
        "4,Delta,\n"
    ))  # fmt: skip
    table = _read(path)
    assert table.schema == pa.schema(
        [("contact_id", pa.int64()), ("company", pa.string()), ("note", pa.string())]
    )
    assert table.to_pylist() == [
        {"contact_id": 1, "company": "Acme, Inc", "note": "first call"},
        {"contact_id": 2, "company": "Beta", "note": 'said "call me" twice'},
        {"contact_id": 3, "company": "Gamma", "note": "line one\nline two"},
        {"contact_id": 4, "company": "Delta", "note": None},
    ]


def test_a_quote_inside_an_unquoted_field_is_an_ordinary_character(tmp_path: Path) -> None:
    # contact 1 bought a 12" monitor, contact 2 a 27" one: the quotes sit mid-field, so they
    # open nothing (the fast count cannot vouch for this file; the strict reader does);
    # contact 3's note is quoted and spans two lines.
    path = _write(tmp_path, "contacts.csv", (
        "contact_id,product,note\n"
        '1,12" monitor,x\n'
        '2,27" monitor,y\n'
        '3,desk,"two\nlines"\n'
    ))  # fmt: skip
    assert _read(path).to_pylist() == [
        {"contact_id": 1, "product": '12" monitor', "note": "x"},
        {"contact_id": 2, "product": '27" monitor', "note": "y"},
        {"contact_id": 3, "product": "desk", "note": "two\nlines"},
    ]


def test_windows_line_ends_a_byte_order_mark_and_semicolons(tmp_path: Path) -> None:
    # an Excel export: UTF-8 with a byte-order mark, CRLF line ends, ';' as delimiter, a
    # blank CRLF line at the end; the mark is not part of the first column's name.
    path = _write(tmp_path, "contacts.csv",
                  b"\xef\xbb\xbfcontact_id;country\r\n1;FR\r\n2;\"D;E\"\r\n\r\n")  # fmt: skip
    table = _read(path, delimiter=";")
    assert table.column_names == ["contact_id", "country"]
    assert table.to_pylist() == [
        {"contact_id": 1, "country": "FR"},
        {"contact_id": 2, "country": "D;E"},
    ]


def test_old_mac_line_ends_are_line_ends(tmp_path: Path) -> None:
    # lines ended by a lone carriage return: three records, the header and two contacts.
    path = _write(tmp_path, "contacts.csv", "contact_id,country\r1,US\r2,DE\r")
    assert _read(path).to_pylist() == [
        {"contact_id": 1, "country": "US"},
        {"contact_id": 2, "country": "DE"},
    ]


def test_gzip_files_are_decompressed(tmp_path: Path) -> None:
    # the same two contacts, gzipped; the name ends in .gz
    path = _write(tmp_path, "contacts.csv.gz",
                  gzip.compress(b'contact_id,company\n1,"Acme, Inc"\n2,Beta\n'))  # fmt: skip
    assert _read(path).to_pylist() == [
        {"contact_id": 1, "company": "Acme, Inc"},
        {"contact_id": 2, "company": "Beta"},
    ]


def test_a_file_in_another_encoding_is_read_in_it(tmp_path: Path) -> None:
    # cp1252: 'é' is the single byte 0xE9; UTF-16: two bytes per character and a mark
    rows = "contact_id,city\n1,Orléans\n2,Zürich\n"
    expected = [{"contact_id": 1, "city": "Orléans"}, {"contact_id": 2, "city": "Zürich"}]
    assert _read(_write(tmp_path, "a.csv", rows.encode("cp1252")), encoding="cp1252") == (
        pa.Table.from_pylist(expected))  # fmt: skip
    assert _read(_write(tmp_path, "b.csv", rows.encode("utf-16")), encoding="utf-16") == (
        pa.Table.from_pylist(expected))  # fmt: skip


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "contacts.csv", b"")
    assert _error(path) == (
        f"{_prefix(path)}: file is empty (0 bytes); expected a header line naming the columns"
    )


def test_a_file_of_blank_lines_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "contacts.csv", "\n\r\n\n")
    assert _error(path) == (
        f"{_prefix(path)}: file has only blank lines; expected a header line naming the columns"
    )


@pytest.mark.parametrize("content", ["contact_id,created_at,title\n", "contact_id,created_at,title"],
                         ids=["line-break-after-header", "no-line-break"])  # fmt: skip
def test_a_header_only_file_has_its_columns_as_strings_and_no_rows(
    tmp_path: Path, content: str
) -> None:
    table = _read(_write(tmp_path, "contacts.csv", content))
    assert table.schema == pa.schema(
        [("contact_id", pa.string()), ("created_at", pa.string()), ("title", pa.string())]
    )
    assert table.num_rows == 0


def test_a_column_with_no_values_is_typed_string(tmp_path: Path) -> None:
    # nobody filled in 'fax'
    table = _read(_write(tmp_path, "contacts.csv", "contact_id,fax\n1,\n2,\n"))
    assert table.schema == pa.schema([("contact_id", pa.int64()), ("fax", pa.string())])
    assert table.column("fax").to_pylist() == [None, None]


def test_a_header_naming_a_column_twice_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "contacts.csv", "email,name,email,id,id\na,b,c,1,2\n")
    assert _error(path) == (
        f"{_prefix(path)}: the header names ['email', 'id'] more than once; expected each "
        "column once (header: ['email', 'name', 'email', 'id', 'id'])"
    )


def test_a_header_only_file_naming_a_column_twice_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "contacts.csv", "email,email")
    assert _error(path) == (
        f"{_prefix(path)}: the header names ['email'] more than once; expected each column "
        "once (header: ['email', 'email'])"
    )


def test_an_undecodable_byte_names_its_line_and_suggests_an_encoding(tmp_path: Path) -> None:
    # a cp1252 export read as UTF-8: line 3 holds 'Orléans' with 'é' as the byte 0xE9
    path = _write(
        tmp_path, "contacts.csv", "contact_id,city\n1,Paris\n2,Orléans\n".encode("cp1252")
    )
    assert _error(path) == (
        f"{_prefix(path)}, line 3: byte 0xE9 (offset 29) is not valid utf-8-sig text "
        "(invalid continuation byte); set `encoding:` in contacts.source to the file's "
        "encoding (e.g. encoding: cp1252)"
    )


def test_an_unknown_encoding_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "contacts.csv", "contact_id\n1\n")
    assert _error(path, encoding="latin-42") == (
        "contacts.source: encoding 'latin-42' is not a known Python codec "
        "(e.g. utf-8, cp1252, latin-1, utf-16)"
    )


def test_a_record_with_an_extra_field_names_its_line(tmp_path: Path) -> None:
    # line 3: 'Acme, Inc' is not quoted, so the record has four fields, not three
    path = _write(tmp_path, "contacts.csv",
                  "contact_id,company,country\n1,Beta,US\n2,Acme, Inc,US\n3,Gamma,DE\n")  # fmt: skip
    assert _error(path) == (
        f"{_prefix(path)}, line 3: expected 3 fields like the header, found 4 (delimiter ','); "
        "a field holding the delimiter must be quoted"
    )


def test_text_after_a_closing_quote_names_its_line(tmp_path: Path) -> None:
    # line 3: '"Acme" Inc' closes its quote and carries on
    path = _write(tmp_path, "contacts.csv",
                  'contact_id,company\n1,Beta\n2,"Acme" Inc\n3,Gamma\n')  # fmt: skip
    assert _error(path) == (
        f"{_prefix(path)}, line 3: a quoted field in the record starting on this line is "
        "followed by other characters; expected the delimiter ',' or the end of the line "
        'after a closing quote (a quote inside a quoted field is written twice: "")'
    )


def _large_file(path: Path, rows: int, company_at: dict[int, str], *, quoted: bool) -> int:
    """Write ``rows`` contacts with a header; the company on line L is ``company_at[L]``
    when given, else "Company <id>" (with ``quoted``, every seventh one is quoted and holds a
    comma: "Company <id>, Inc"). Returns the file's size in bytes."""
    lines = ["contact_id,created_at,title,country,score,company"]
    for i in range(rows):
        line = i + 2
        company = f'"Company {i}, Inc"' if quoted and i % 7 == 0 else f"Company {i}"
        company = company_at.get(line, company)
        lines.append(
            f"{i},2024-01-{1 + i % 28:02d} 10:00:00,VP Sales,US,0.{i % 1000:03d},{company}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path.stat().st_size


def test_a_quote_never_closed_far_into_a_large_file_names_its_line(tmp_path: Path) -> None:
    # 120,000 contacts (about 7 MB) and no quotes but one: contact 90,000 on line 90,002
    # opens a quote before its company (the last column) and never closes it. pyarrow
    # alone, as the import called it, swallows the rest of the file into that one field
    # and reports nothing.
    path = tmp_path / "contacts.csv"
    size = _large_file(path, 120_000, {90_002: '"Company 90000'}, quoted=False)
    assert size > 6_000_000
    alone = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(block_size=1 << 24))
    assert alone.num_rows == 90_001  # the precondition: 29,999 rows vanish silently
    assert _error(path) == (
        f"{_prefix(path)}, line 90002: a quoted field opens in the record starting on this "
        "line and is never closed (the file ends inside it, on line 120001); expected a "
        'closing quote (")'
    )


def test_a_quote_closed_by_a_later_record_far_into_a_large_file_names_its_line(
    tmp_path: Path,
) -> None:
    # as above, but contact 100,001 (line 100,003) opens a quote that the quoted company of
    # contact 100,002 (line 100,004, "Company 100002, Inc") closes: pyarrow alone sees a
    # field ending mid-word and refuses the file without naming any line.
    path = tmp_path / "contacts.csv"
    _large_file(path, 120_000, {100_003: '"Company 100001'}, quoted=True)
    assert _error(path) == (
        f"{_prefix(path)}, line 100003: a quoted field in the record starting on this line "
        "is followed by other characters (the quote that closes it is on line 100004); "
        "expected the delimiter ',' or the end of the line after a closing quote (a quote "
        'inside a quoted field is written twice: "")'
    )


def test_a_large_well_formed_file_keeps_every_record(tmp_path: Path) -> None:
    # the same 120,000 contacts with nothing broken: 120,000 rows, ids 0..119,999 in order,
    # and the quoted companies keep their comma.
    path = tmp_path / "contacts.csv"
    _large_file(path, 120_000, {}, quoted=True)
    table = _read(path)
    assert table.column("contact_id").to_pylist() == list(range(120_000))
    assert table.column("company")[:2].to_pylist() == ["Company 0, Inc", "Company 1"]


def test_a_long_quoted_field_is_read_when_records_are_checked_one_by_one(tmp_path: Path) -> None:
    # contact 1's product '12" monitor' sends the file to the strict reader; contact 2's
    # note is one quoted field of 200,000 characters, beyond the csv module's default limit
    # (131,072), which the reader lifts for its pass and puts back.
    import csv

    limit = csv.field_size_limit()
    note = "x" * 200_000
    path = _write(
        tmp_path, "contacts.csv", f'contact_id,product,note\n1,12" monitor,a\n2,desk,"{note}"\n'
    )
    assert _read(path).to_pylist() == [
        {"contact_id": 1, "product": '12" monitor', "note": "a"},
        {"contact_id": 2, "product": "desk", "note": note},
    ]
    assert csv.field_size_limit() == limit


def test_a_missing_file_and_a_broken_gzip_are_errors(tmp_path: Path) -> None:
    missing = tmp_path / "contacts.csv"
    assert _error(missing) == f"{_prefix(missing)}: file does not exist"
    # a file named .gz that holds plain text
    broken = _write(tmp_path, "contacts.csv.gz", "contact_id\n1\n")
    assert _error(broken) == (
        f"{_prefix(broken)}: cannot read it (zlib inflate failed: incorrect header check)"
    )
