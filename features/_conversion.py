"""Converting a team's columns to the standard tables' types, in the team's terms.

Contract: :func:`build` creates a stage table of standard columns from a source table,
converting each mapped column to its kind (ids, timestamps with offsets turned into UTC,
numbers written as ``1,200``, yes/no flags, text); it returns every value that does not
convert as a :class:`~features._errors.DataValidationError` naming the source, the column,
up to five examples and the rows affected, and creates nothing then (numbers must also be
finite and at most :data:`MAX_NUMBER` in magnitude: ``inf`` or ``1e308`` is no head count and
overflows the models' arithmetic). :func:`recode` maps a
column's values through a lookup; :func:`check_named` checks mapped columns exist, naming
the closest match when one does not.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Literal

import pyarrow as pa
from leadscore.features._contract import Source
from leadscore.features._errors import ConfigError, DataValidationError
from leadscore.features._schema import CONTACTS
from leadscore.features._sources import describe_source
from leadscore.features._warehouse import Warehouse, quote_ident

Kind = Literal["id", "time", "number", "flag", "text"]

_SQL_TYPE = {"time": "TIMESTAMP", "number": "DOUBLE", "flag": "BOOLEAN", "text": "VARCHAR"}
_TRUE = ("true", "yes", "y", "t", "1", "1.0")
_FALSE = ("false", "no", "n", "f", "0", "0.0")
INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
                  "USMALLINT", "UTINYINT")  # fmt: skip
_NUMBER_TYPES = (*INTEGER_TYPES, "DOUBLE", "FLOAT", "DECIMAL")
# The largest magnitude a number may have (1e15: beyond any head count, revenue or amount in
# cents, and still an exact integer as a double); 1e308 once passed the import and overflowed
# the logistic baseline's arithmetic in train.
MAX_NUMBER = 1e15
_TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
               "TIMESTAMP_S")  # fmt: skip


def missing_column(section: str, source: Source, column: str, role: str,
                    found: Sequence[str]) -> ConfigError:  # fmt: skip
    close = difflib.get_close_matches(column, list(found), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"{section} ({describe_source(source)}): no column {column!r} (mapped to {role}); "
        f"its columns are {list(found)}{hint}"
    )


def check_named(stage: Warehouse, section: str, source: Source, table: str,
                 mapping: dict[str, str | None]) -> list[str]:  # fmt: skip
    """Check each mapped column exists in stage ``table``; returns its columns."""
    found = list(stage.columns(table))
    for role, column in mapping.items():
        if column is not None and column not in found:
            raise missing_column(section, source, column, role, found)
    return found


def base_type(duck_type: str) -> str:
    return duck_type.split("(")[0].strip()


def quoted(column: str) -> str:
    """A team's column name quoted for the DuckDB stage (spaces, punctuation, any case)."""
    return '"' + column.replace('"', '""') + '"'


def convert(column: str, duck_type: str, kind: Kind, id_type: str) -> tuple[str, str | None]:
    """SQL for the converted value of ``column`` and for "it did not convert" (None when
    every value converts; a number converts when it is finite and at most
    :data:`MAX_NUMBER` in magnitude); raises ValueError when the type cannot hold such
    values."""
    q = quoted(column)
    base = base_type(duck_type)
    text = f"NULLIF(trim(CAST({q} AS VARCHAR)), '')"
    if kind == "id":
        if id_type == "BIGINT":
            return f"CAST({q} AS BIGINT)", None
        if base in ("DOUBLE", "FLOAT", "DECIMAL"):
            raise ValueError("an id must be an integer or text, not a fractional number")
        return text, None
    if kind == "text":
        return text, None
    if kind == "time":
        if base in _TIME_TYPES or base.startswith("TIMESTAMP"):
            return f"CAST({q} AS TIMESTAMP)", None
        if base == "VARCHAR":
            value = f"CAST(try_cast({text} AS TIMESTAMPTZ) AS TIMESTAMP)"
            return value, f"{text} IS NOT NULL AND {value} IS NULL"
        raise ValueError("expected timestamps (or ISO 8601 text such as 2024-01-31 14:05:00)")
    if kind == "number":
        if base in _NUMBER_TYPES:  # a double can hold inf and nan, a HUGEINT 1e38
            value = f"CAST({q} AS DOUBLE)"
            return value, f"{q} IS NOT NULL AND NOT {_sane(value)}"
        if base == "VARCHAR":
            value = f"try_cast(replace({text}, ',', '') AS DOUBLE)"
            return value, f"{text} IS NOT NULL AND NOT coalesce({_sane(value)}, FALSE)"
        raise ValueError("expected numbers")
    # a yes/no flag
    if base == "BOOLEAN":
        return q, None
    if base in _NUMBER_TYPES or base == "VARCHAR":
        token = f"lower({text})"
        true = ", ".join(f"'{v}'" for v in _TRUE)
        false = ", ".join(f"'{v}'" for v in _FALSE)
        value = f"CASE WHEN {token} IN ({true}) THEN TRUE WHEN {token} IN ({false}) THEN FALSE END"
        return value, f"{text} IS NOT NULL AND {value} IS NULL"
    raise ValueError("expected yes/no values (true/false, yes/no, 1/0)")


def _sane(value: str) -> str:
    """SQL: ``value`` is a finite number of magnitude at most :data:`MAX_NUMBER` (NULL when
    ``value`` is NULL)."""
    return f"(isfinite({value}) AND abs({value}) <= {MAX_NUMBER!r})"


def build(stage: Warehouse, table: str, source_table: str, source: Source,
           mapping: dict[str, str | None], kinds: dict[str, Kind],
           id_type: str, keep_row: bool = False) -> list[DataValidationError]:  # fmt: skip
    """Create stage ``table`` (the standard columns) from ``source_table``; returns the
    values that did not convert, in the team's terms. ``keep_row`` keeps the source's row
    number as column ``_row``."""
    types = stage.columns(source_table)
    where = f"{_section(table)} ({describe_source(source)})"
    selects, problems = (["rowid AS _row"] if keep_row else []), []
    for role, kind in kinds.items():
        column = mapping.get(role)
        if column is None:
            if role == "amount":
                continue
            selects.append(f"CAST(NULL AS {_SQL_TYPE[kind]}) AS {quote_ident(role)}")
            continue
        try:
            value, bad = convert(column, types[column], kind, id_type)
        except ValueError as exc:
            problems.append(DataValidationError(
                where, column, f"wrong type {types[column]} for {role}: {exc}",
                count=int(stage.scalar(f"SELECT count(*) FROM {source_table}") or 0)))  # fmt: skip
            continue
        selects.append(f"{value} AS {quote_ident(role)}")
        if bad is not None:
            n = int(stage.scalar(f"SELECT count(*) FROM {source_table} WHERE {bad}") or 0)
            if n:
                examples = stage.query(
                    f"SELECT DISTINCT CAST({quoted(column)} AS VARCHAR) AS v "
                    f"FROM {source_table} WHERE {bad} ORDER BY v LIMIT 5"
                )["v"].tolist()
                problems.append(DataValidationError(
                    where, column, f"values that are not {_KIND_WORDS[kind]} (for {role})",
                    count=n, examples=examples))  # fmt: skip
    if not problems:
        stage.execute(f"CREATE TABLE {table} AS SELECT {', '.join(selects)} FROM {source_table}")
    return problems


_KIND_WORDS = {
    "time": "timestamps (ISO 8601, e.g. 2024-01-31 or 2024-01-31 14:05:00)",
    "number": "finite numbers of magnitude at most 1e15",
    "flag": "yes/no values (true/false, yes/no, y/n, 1/0)",
    "id": "ids",
    "text": "text",
}


def _section(table: str) -> str:
    return CONTACTS if table == "std_contacts" else table


def recode(stage: Warehouse, table: str, column: str, mapping: Mapping[str, str],
            select: str) -> None:  # fmt: skip
    """Rebuild stage ``table`` as ``SELECT select`` over itself (alias ``t``) left-joined to
    ``mapping`` (alias ``m``: ``token``, ``value``) on the lower-cased ``column``."""
    lookup = pa.table({"token": list(mapping), "value": list(mapping.values())})
    with stage.registered(f"_{table}_map", lookup) as view:
        stage.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM {table} t "
                      f"LEFT JOIN {view} m ON m.token = lower(t.{column})")  # fmt: skip


