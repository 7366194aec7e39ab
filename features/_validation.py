"""Checks the warehouse tables against the data contract before any work.

Contract: :func:`validate_warehouse` returns a :class:`ValidationReport` when every table
is usable, and raises :class:`ContractViolations` (a ``DataValidationError``) listing *every*
problem found otherwise: missing tables or columns, wrong types, null or duplicate ids,
outcome values outside ``won``/``lost``, events or outcomes for unknown contacts, timestamps
in the future or before the contact existed. Each problem names the table, the column, up to
five example values and the number of rows affected. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from leadscore.features._errors import DataValidationError, MissingColumnsError, MissingTableError
from leadscore.features._schema import (
    CONTACT_COLUMNS,
    CONTACTS,
    EVENT_COLUMNS,
    EVENTS,
    OUTCOME_COLUMNS,
    OUTCOME_VALUES,
    OUTCOMES,
)
from leadscore.features._warehouse import HASH_STATS_SQL, Warehouse, hash_stats, hashed_rows

log = logging.getLogger(__name__)

_TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
               "TIMESTAMP_S", "TIMESTAMPTZ")  # fmt: skip
_ID_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "HUGEINT", "UBIGINT", "UINTEGER", "VARCHAR")
_NUMERIC_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT",
                  "REAL", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")  # fmt: skip
_BOOL_TYPES = ("BOOLEAN", *_NUMERIC_TYPES)
_STRING_TYPES = ("VARCHAR",)

_EXPECTED_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    CONTACTS: {
        "contact_id": _ID_TYPES,
        "created_at": _TIME_TYPES,
        "title": _STRING_TYPES,
        "company_size": _NUMERIC_TYPES,
        "industry": _STRING_TYPES,
        "country": _STRING_TYPES,
        "lead_source": _STRING_TYPES,
        "email_domain": _STRING_TYPES,
        "phone_valid": _BOOL_TYPES,
        "buying_timeline": _STRING_TYPES,
        "requested_demo": _BOOL_TYPES,
    },
    EVENTS: {"contact_id": _ID_TYPES, "occurred_at": _TIME_TYPES, "event_type": _STRING_TYPES},
    OUTCOMES: {"contact_id": _ID_TYPES, "closed_at": _TIME_TYPES, "outcome": _STRING_TYPES},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    CONTACTS: CONTACT_COLUMNS,
    EVENTS: EVENT_COLUMNS,
    OUTCOMES: OUTCOME_COLUMNS,
}


class ContractViolations(DataValidationError):
    """One or more tables break the data contract; ``problems`` lists each one."""

    def __init__(self, problems: list[DataValidationError]) -> None:
        first = problems[0]
        super().__init__(first.table, first.column, first.problem, count=first.count,
                         examples=first.examples)  # fmt: skip
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        self.args = (f"{len(problems)} data contract problem(s) found:\n{lines}",)


@dataclass(frozen=True)
class ValidationReport:
    """Row counts of the validated tables and the time span of the data."""

    row_counts: dict[str, int]
    data_start: datetime | None
    data_end: datetime | None
    notes: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    """With ``validate_warehouse(fingerprint=True)``: :meth:`Warehouse.fingerprint` of the
    tables as validated (taken in the same scans), where the engine has one."""


def _type_ok(actual: str, allowed: tuple[str, ...]) -> bool:
    base = actual.split("(")[0].strip()
    return base in allowed or any(base.startswith(a) for a in allowed if a.startswith("TIMESTAMP"))


def _check_schema(wh: Warehouse, table: str) -> list[DataValidationError]:
    try:
        cols = wh.columns(table)
    except MissingTableError as exc:
        return [exc]
    missing = [c for c in _REQUIRED[table] if c not in cols]
    if missing:
        return [MissingColumnsError(table, _REQUIRED[table], missing)]
    problems: list[DataValidationError] = []
    for col, allowed in _EXPECTED_TYPES[table].items():
        if not _type_ok(cols[col], allowed):
            problems.append(
                DataValidationError(
                    table,
                    col,
                    f"expected a column of type {' or '.join(allowed[:3])}..., got {cols[col]}",
                )
            )
    return problems


def _offenders(
    wh: Warehouse,
    table: str,
    column: str,
    problem: str,
    where_sql: str,
    example_sql: str,
    params: list[object] | None = None,
) -> DataValidationError | None:
    """Count rows matching ``where_sql`` and collect up to five examples; None if none match."""
    count = int(wh.scalar(f"SELECT count(*) FROM {table} t WHERE {where_sql}", params) or 0)
    if count == 0:
        return None
    rows = wh.query(
        f"SELECT {example_sql} AS example FROM {table} t WHERE {where_sql} LIMIT 5", params
    )
    return DataValidationError(table, column, problem, count=count,
                               examples=rows["example"].tolist())  # fmt: skip


# Each events or outcomes row with its contact's id and creation time: the contacts as they
# are when their ids are unique, else grouped (a duplicated id must not repeat the row; the
# latest creation time is the one an EXISTS over every duplicate compares against).
_CONTACT_OF = "LEFT JOIN contacts c ON c.contact_id = t.contact_id"
_CONTACT_OF_DUPLICATED = ("LEFT JOIN (SELECT contact_id, max(created_at) AS created_at FROM "
                          "contacts GROUP BY contact_id) c ON c.contact_id = t.contact_id")
_DUPLICATE_IDS = "t.contact_id IN (SELECT contact_id FROM contacts GROUP BY 1 HAVING count(*) > 1)"
# The data span, read in the same scan as each table's checks.
_SPAN = {CONTACTS: ("min(t.created_at)", "max(t.created_at)"),
         EVENTS: (None, "max(t.occurred_at)"), OUTCOMES: (None, "max(t.closed_at)")}  # fmt: skip


@dataclass(frozen=True)
class _Check:
    """One rule: rows of ``table`` matching ``where_sql`` (over alias ``t``) break it.
    ``scan_sql`` is the same condition inside the table's one scan, over ``t`` and the row's
    contact ``c`` (see :data:`_CONTACT_OF`); None: the rule runs on its own."""

    table: str
    column: str
    problem: str
    where_sql: str
    example_sql: str
    scan_sql: str | None


def _row_rule(table: str, column: str, problem: str, where_sql: str, example_sql: str
              ) -> _Check:  # fmt: skip
    """A rule on each row's own values: the one scan checks it with the same condition."""
    return _Check(table, column, problem, where_sql, example_sql, where_sql)


@dataclass
class _Scan:
    counts: dict[str, int]
    clean: set[_Check]
    start: datetime | None
    end: datetime | None
    fingerprint: str | None


def _one_scan_per_table(wh: Warehouse, checks: list[_Check], now: datetime, *,
                        fingerprint: bool = False) -> _Scan:  # fmt: skip
    """Each table's row count, the checks with a ``scan_sql`` and its part of the data span,
    in one scan per table (on PostgreSQL each scan of 60M events costs seconds; events and
    outcomes are joined to their contacts once, for both cross-table checks), after the
    duplicate-id rule (whose count decides that join); returns the
    counts, the checks that matched no row and the span. A check that matched rows is run
    again on its own for its count and examples. With ``fingerprint``, the same scans also
    take each table's row-hash statistics (:data:`features._warehouse.HASH_STATS_SQL`)."""
    counts: dict[str, int] = {}
    clean: set[_Check] = set()
    starts: list[datetime] = []
    ends: list[datetime] = []
    stats: dict[str, str] = {}
    # the duplicate-id rule first: it decides how the other tables join their contacts
    unique = not wh.scalar("SELECT count(*) FROM (SELECT contact_id FROM contacts GROUP BY 1 "
                           "HAVING count(*) > 1) d")  # fmt: skip
    if unique:
        clean |= {c for c in checks if c.where_sql == _DUPLICATE_IDS}
    with wh.full_scans():  # (PostgreSQL: JIT on)
        for table in (CONTACTS, EVENTS, OUTCOMES):
            mine = [c for c in checks if c.table == table and c.scan_sql is not None]
            first, last = _SPAN[table]
            cols = ["count(*) AS n", f"{first or 'NULL'} AS span_start", f"{last} AS span_end",
                    *(f"count(*) FILTER (WHERE {c.scan_sql}) AS c{i}" for i, c in enumerate(mine))]
            params: list[object] = [now for c in mine if "?" in str(c.scan_sql)]
            join = ""
            if any(" c." in f" {c.scan_sql}" for c in mine):
                join = _CONTACT_OF if unique else _CONTACT_OF_DUPLICATED
            row_hash = wh.row_hash_sql(table, "t") if fingerprint else None
            source = f"{table} t"
            if row_hash is not None:
                cols.append(HASH_STATS_SQL)
                source = hashed_rows(table, row_hash)
            row = wh.query(f"SELECT {', '.join(cols)} FROM {source} {join}", params or None).iloc[0]
            if row_hash is not None:
                stats[table] = hash_stats({str(k): v for k, v in row.items()})
            counts[table] = int(row["n"])
            clean |= {c for i, c in enumerate(mine) if int(row[f"c{i}"]) == 0}
            for value, into in ((row["span_start"], starts), (row["span_end"], ends)):
                if value is not None and not pd.isna(value):
                    into.append(pd.Timestamp(value).to_pydatetime())
    digest = wh.digest(stats) if len(stats) == len(counts) else None
    return _Scan(counts, clean, min(starts, default=None), max(ends, default=None), digest)


def validate_warehouse(wh: Warehouse, *, now: datetime | None = None, dated: bool | None = None,
                       fingerprint: bool = False) -> ValidationReport:  # fmt: skip
    """Validate contacts, events and outcomes in ``wh`` (see the module docstring).

    ``dated=False`` accepts contacts without ``created_at`` (a single export with no time);
    by default that is what the data shows: undated when no contact has a creation time.
    Outcomes without any ``closed_at`` (a label column without a close time) are accepted;
    a mix of dated and undated outcomes is not.

    ``now`` (naive UTC) is the instant after which a timestamp counts as "in the future";
    it defaults to the wall clock. With ``fingerprint``, the report carries the tables'
    :meth:`Warehouse.fingerprint`, taken in the validating scans themselves (no scan of its
    own), so it describes exactly the rows validated.
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    problems: list[DataValidationError] = []
    for table in (CONTACTS, EVENTS, OUTCOMES):
        problems.extend(_check_schema(wh, table))
    if problems:
        raise ContractViolations(problems)

    if dated is None:
        dated = bool(wh.scalar("SELECT count(*) FROM contacts WHERE created_at IS NOT NULL"))
    future = f"timestamps must not be in the future (after {now:%Y-%m-%d %H:%M})"
    exists_contact = "EXISTS (SELECT 1 FROM contacts c WHERE c.contact_id = t.contact_id"
    checks = [
        _row_rule(CONTACTS, "contact_id", "contact_id must not be null", "t.contact_id IS NULL",
                  "t.created_at"),
        _Check(CONTACTS, "contact_id", "contact_id must be unique; duplicate ids found",
               _DUPLICATE_IDS, "t.contact_id", None),
        _row_rule(CONTACTS, "created_at", "created_at must not be null", "t.created_at IS NULL",
                  "t.contact_id"),
        _row_rule(CONTACTS, "created_at", future, "t.created_at > CAST(? AS TIMESTAMP)",
                  "t.created_at"),
        _Check(EVENTS, "contact_id", "events for contacts that are not in table 'contacts'",
               f"NOT {exists_contact})", "t.contact_id", "c.contact_id IS NULL"),
        _row_rule(EVENTS, "occurred_at", "occurred_at must not be null", "t.occurred_at IS NULL",
                  "t.contact_id"),
        _row_rule(EVENTS, "event_type", "event_type must not be null", "t.event_type IS NULL",
                  "t.contact_id"),
        _row_rule(EVENTS, "occurred_at", future, "t.occurred_at > CAST(? AS TIMESTAMP)",
                  "t.occurred_at"),
        _Check(EVENTS, "occurred_at", "events must not happen before the contact was created",
               f"{exists_contact} AND t.occurred_at < c.created_at)", "t.contact_id",
               "t.occurred_at < c.created_at"),
        _Check(OUTCOMES, "contact_id", "outcomes for contacts that are not in table 'contacts'",
               f"NOT {exists_contact})", "t.contact_id", "c.contact_id IS NULL"),
        _Check(OUTCOMES, "contact_id", "at most one outcome per contact; contacts with several "
               "found", "t.contact_id IN (SELECT contact_id FROM outcomes GROUP BY 1 HAVING "
               "count(*) > 1)", "t.contact_id", None),
        _row_rule(OUTCOMES, "outcome", f"outcome must be one of {list(OUTCOME_VALUES)}",
                  "t.outcome IS NULL OR t.outcome NOT IN ('won', 'lost')", "t.outcome"),
        _row_rule(OUTCOMES, "closed_at", "closed_at must not be null", "t.closed_at IS NULL",
                  "t.contact_id"),
        _row_rule(OUTCOMES, "closed_at", future, "t.closed_at > CAST(? AS TIMESTAMP)",
                  "t.closed_at"),
        _Check(OUTCOMES, "closed_at", "outcomes must not close before the contact was created",
               f"{exists_contact} AND t.closed_at < c.created_at)", "t.contact_id",
               "t.closed_at < c.created_at"),
    ]  # fmt: skip
    if not dated:
        checks = [c for c in checks if c.where_sql != "t.created_at IS NULL"]
    if not wh.scalar("SELECT count(*) FROM outcomes WHERE closed_at IS NOT NULL"):
        # a label column without a close time: outcomes are known, not when they closed
        checks = [c for c in checks if c.where_sql != "t.closed_at IS NULL"]
    scan = _one_scan_per_table(wh, checks, now, fingerprint=fingerprint)
    for check in checks:
        if check in scan.clean:
            continue
        params: list[object] | None = [now] if "?" in check.where_sql else None
        found = _offenders(wh, check.table, check.column, check.problem, check.where_sql,
                           check.example_sql, params)  # fmt: skip
        if found is not None:
            problems.append(found)
    if scan.counts[CONTACTS] == 0:
        problems.append(DataValidationError(CONTACTS, None, "table is empty; nothing to score"))
    if problems:
        raise ContractViolations(problems)
    log.info("validated warehouse %s: %s", wh.url, scan.counts)
    return ValidationReport(row_counts=scan.counts, data_start=scan.start, data_end=scan.end,
                            fingerprint=scan.fingerprint)  # fmt: skip
