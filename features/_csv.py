"""Contract: a CSV file read whole into an Arrow table, every record accounted for.

:func:`read_csv_table` returns one row per record of the file after the header, or raises a
:class:`~features._errors.ConfigError` naming the file, the line where the problem starts and
what was expected. Never fewer rows without an error: pyarrow alone lets one unterminated
``"`` swallow the rest of a block into a single field and carries on.

- Records follow RFC 4180 with the given delimiter: ``"`` quotes a field, ``""`` inside a
  quoted field is one quote, a quoted field may span lines (such a record counts once).
  A ``"`` inside an unquoted field is an ordinary character (``12" monitor``). Blank lines
  are not records. Lines are counted as an editor counts them, from 1.
- Rows read are checked against records counted independently of pyarrow: a vectorised
  quote-parity pass over the bytes when every quote sits at a field's edge (the common
  case), else Python's :mod:`csv` reader in strict mode (slower), which also locates the
  problem: a quote never closed, a closing quote followed by other characters, or a
  record whose number of fields differs from the header's.
- A 0-byte file (after decompression) or one with only blank lines is an error, as is a
  header naming a column twice. A header-only file gives a table with those columns and
  no rows. Columns with no values are typed ``string``, never Arrow's ``null`` type.
- ``encoding`` is any Python codec; a byte that does not decode is an error naming its
  line. ``.gz``, ``.bz2``, ``.lz4`` and ``.zst`` files are decompressed (by extension).
- Column types are pyarrow's inference, as elsewhere in leadscore, except that a column
  pyarrow read as numbers stays text when any of its values has a leading zero before a
  digit (``02101``: codes such as zip codes, where ``02101`` and ``2101`` differ); empty
  fields are missing values.

The file is held in memory while it is read (as UTF-8 bytes), so the peak is about the
file's size plus the table's.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from leadscore.features._errors import ConfigError

_QUOTE = ord('"')
_LF = ord("\n")
_CR = ord("\r")
# Type inference reads the first block: a large one sees more values before deciding.
_BLOCK_SIZE = 1 << 24


def read_csv_table(path: Path, *, encoding: str, delimiter: str, where: str) -> pa.Table:
    """Contract: the CSV file at ``path`` as an Arrow table with one row per record after
    the header, or a ConfigError that names ``where`` (e.g. ``"contacts.source"``), the file,
    the line the problem starts on and what was expected (see the module docstring)."""
    source = _Source(path, where)
    separator = _delimiter_byte(delimiter, where)
    data = _utf8_bytes(source, _read_bytes(source), encoding)
    counted = _count_by_quote_parity(data, separator)
    # pyarrow splits blocks at any line break unless told that values may hold them
    spans_lines = counted is None or counted.quoted_line_breaks
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(data),
            read_options=pa_csv.ReadOptions(encoding="utf8", block_size=_BLOCK_SIZE),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=spans_lines),
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        # pyarrow names no line; the strict reader finds the record at fault, or finds the
        # file is only a header (pyarrow refuses one with no line break after it).
        records = _count_strictly(source, data, delimiter)
        if records.count == 1:
            return _empty_table(source, records.header)
        raise ConfigError(
            f"{source}: pyarrow cannot read it (delimiter {delimiter!r}): {exc}"
        ) from exc
    _check_header(source, table.column_names)
    if counted is None or counted.records - 1 != table.num_rows:
        records = _count_strictly(source, data, delimiter)
        if records.count - 1 != table.num_rows:
            raise ConfigError(
                f"{source}: read {table.num_rows} rows but the file holds "
                f"{records.count - 1} records after the header; expected one row per record"
            )
    return _codes_as_text(_without_null_types(table), data, delimiter, spans_lines)


_LEADING_ZERO = r"^\s*[+-]?0[0-9]"


def _codes_as_text(table: pa.Table, data: bytes, delimiter: str, spans_lines: bool) -> pa.Table:
    """The numeric columns of ``table`` whose text has a value with a leading zero before a
    digit, read again as text (one more parse of the file, of those columns only)."""
    numeric = [f.name for f in table.schema
               if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]  # fmt: skip
    if not numeric:
        return table
    text = pa_csv.read_csv(
        pa.BufferReader(data),
        read_options=pa_csv.ReadOptions(encoding="utf8", block_size=_BLOCK_SIZE),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=spans_lines),
        convert_options=pa_csv.ConvertOptions(
            strings_can_be_null=True, include_columns=numeric,
            column_types={name: pa.string() for name in numeric}),
    )  # fmt: skip
    for name in numeric:
        column = text.column(name)
        if pc.any(pc.match_substring_regex(column, _LEADING_ZERO)).as_py():
            table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


@dataclass(frozen=True)
class _Source:
    """The file being read, as error messages name it."""

    path: Path
    where: str

    def __str__(self) -> str:
        return f"{self.where}: CSV file {str(self.path)!r}"

    def at(self, line: int) -> str:
        return f"{self}, line {line}"


@dataclass(frozen=True)
class _Records:
    """What the strict reader found: the header's fields and the number of records
    (the header included; blank lines are not records)."""

    header: list[str]
    count: int


def _delimiter_byte(delimiter: str, where: str) -> int:
    encoded = delimiter.encode("utf-8")
    if len(encoded) != 1 or delimiter in '"\r\n':
        raise ConfigError(
            f"{where}: delimiter must be one ASCII character other than a quote or a line "
            f"break, got {delimiter!r}"
        )
    return encoded[0]


def _read_bytes(source: _Source) -> bytes:
    """The file's bytes, decompressed when its extension names a compression."""
    try:
        with pa.input_stream(str(source.path), compression="detect") as stream:
            raw = stream.read()
    except FileNotFoundError:
        raise ConfigError(f"{source}: file does not exist") from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise ConfigError(f"{source}: cannot read it ({exc})") from exc
    if not raw:
        raise ConfigError(f"{source}: file is empty (0 bytes); expected a header line "
                          "naming the columns")  # fmt: skip
    return raw


def _utf8_bytes(source: _Source, raw: bytes, encoding: str) -> bytes:
    """``raw`` as UTF-8 (unchanged when it is UTF-8 already); an undecodable byte is an
    error naming its line."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(
            f"{source.where}: encoding {encoding!r} is not a known Python codec "
            "(e.g. utf-8, cp1252, latin-1, utf-16)"
        ) from None
    utf8 = codec in ("utf-8", "utf-8-sig")
    if utf8 and raw.isascii():
        return raw  # ASCII is UTF-8; checking so is cheaper than decoding
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].decode(codec, errors="replace").count("\n") + 1
        raise ConfigError(
            f"{source.at(line)}: byte 0x{raw[exc.start]:02X} (offset {exc.start}) is not "
            f"valid {encoding} text ({exc.reason}); set `encoding:` in {source.where} to the "
            "file's encoding (e.g. encoding: cp1252)"
        ) from exc
    if utf8:
        return raw  # pyarrow reads UTF-8 natively and drops a byte-order mark
    return text.encode("utf-8")


@dataclass(frozen=True)
class _Parity:
    """The fast count: records (header included) and whether a quoted field spans lines."""

    records: int
    quoted_line_breaks: bool


def _count_by_quote_parity(data: bytes, separator: int) -> _Parity | None:
    """Records in ``data`` (UTF-8), or None when this fast count cannot be trusted and the
    strict reader must decide.

    When every quote sits at a field's edge (an opening quote after a delimiter, a line
    break or another quote; a closing quote before one), quotes pair up in order and a line
    break ends a record exactly when it lies outside every pair. Quotes elsewhere, an odd
    number of them, or a lone carriage return outside quotes (an old Mac line end) give
    None."""
    octets = np.frombuffer(data, dtype=np.uint8)
    size = len(octets)
    quotes = np.flatnonzero(octets == _QUOTE)
    if len(quotes) % 2:
        return None
    opening, closing = quotes[0::2], quotes[1::2]
    edge = np.zeros(256, dtype=bool)
    edge[[separator, _LF, _CR, _QUOTE]] = True
    if not (np.all(edge[octets[opening[opening > 0] - 1]])
            and np.all(edge[octets[closing[closing < size - 1] + 1]])):  # fmt: skip
        return None
    breaks = np.flatnonzero(octets == _LF)
    # line breaks inside the k-th quoted field: breaks[first[k]:past[k]]
    first, past = np.searchsorted(breaks, opening), np.searchsorted(breaks, closing)
    quoted = past > first
    if np.any(quoted):
        depth = np.zeros(len(breaks) + 1, dtype=np.int64)
        np.add.at(depth, first[quoted], 1)
        np.add.at(depth, past[quoted], -1)
        breaks = breaks[np.cumsum(depth[:-1]) == 0]
    if b"\r" in data:
        returns = np.flatnonzero(octets == _CR)
        returns = returns[np.searchsorted(opening, returns) == np.searchsorted(closing, returns)]
        if np.any((returns == size - 1) | (octets[np.minimum(returns + 1, size - 1)] != _LF)):
            return None
    if not len(breaks):
        return _Parity(1, False)  # one line, not blank: the file is not empty
    starts = np.concatenate(([0], breaks[:-1] + 1))
    lengths = breaks - starts
    blank = (lengths == 0) | ((lengths == 1) & (octets[np.maximum(breaks - 1, 0)] == _CR))
    tail = size - int(breaks[-1]) - 1
    records = len(breaks) - int(np.count_nonzero(blank)) + (1 if tail else 0)
    return _Parity(records, bool(np.any(quoted)))


def _count_strictly(source: _Source, data: bytes, delimiter: str) -> _Records:
    """Records in ``data`` read one by one by Python's csv module in strict mode, each with
    as many fields as the header; anything else is an error naming the line the record at
    fault starts on."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""),
                        delimiter=delimiter, strict=True)  # fmt: skip
    header: list[str] | None = None
    count = 0
    with _fields_of_any_size():
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise ConfigError(
                    _malformed(source, start, reader.line_num, delimiter, exc)
                ) from exc
            if not row:
                continue
            count += 1
            if header is None:
                header = row
            elif len(row) != len(header):
                hint = ""
                if len(row) > len(header):
                    hint = "; a field holding the delimiter must be quoted"
                raise ConfigError(
                    f"{source.at(start)}: expected {len(header)} fields like the header, "
                    f"found {len(row)} (delimiter {delimiter!r}){hint}"
                )
    if header is None:
        raise ConfigError(f"{source}: file has only blank lines; expected a header line "
                          "naming the columns")  # fmt: skip
    return _Records(header, count)


def _malformed(source: _Source, start: int, stopped: int, delimiter: str, exc: csv.Error) -> str:
    """The message for a record the strict reader refused."""
    if "unexpected end of data" in str(exc):
        return (
            f"{source.at(start)}: a quoted field opens in the record starting on this line "
            f"and is never closed (the file ends inside it, on line {stopped}); expected a "
            'closing quote (")'
        )
    if "expected after" in str(exc):
        closed = "" if stopped == start else f" (the quote that closes it is on line {stopped})"
        return (
            f"{source.at(start)}: a quoted field in the record starting on this line is "
            f"followed by other characters{closed}; expected the delimiter {delimiter!r} or "
            "the end of the line after a closing quote (a quote inside a quoted field is "
            'written twice: "")'
        )
    return f"{source.at(start)}: malformed record ({exc})"


@contextmanager
def _fields_of_any_size() -> Iterator[None]:
    """Lift the csv module's field size limit (131,072 characters) for the block: pyarrow
    has none, so both readers must agree on where records end."""
    previous = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _check_header(source: _Source, names: list[str]) -> None:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(
            f"{source}: the header names {twice} more than once; expected each column "
            f"once (header: {names})"
        )


def _empty_table(source: _Source, header: list[str]) -> pa.Table:
    _check_header(source, header)
    return pa.table({name: pa.array([], type=pa.string()) for name in header})


def _without_null_types(table: pa.Table) -> pa.Table:
    """Columns pyarrow typed ``null`` (no values at all) as ``string`` columns."""
    for i, column in enumerate(table.columns):
        if pa.types.is_null(column.type):
            table = table.set_column(i, table.field(i).name, column.cast(pa.string()))
    return table
