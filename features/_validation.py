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
from leadscore.features._warehouse import Warehouse

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


def _one_scan_per_table(wh: Warehouse, checks: list[tuple[str, str]], now: datetime
                        ) -> tuple[dict[str, int], set[tuple[str, str]]]:  # fmt: skip
    """Each table's row count and its checks without a subquery, in one scan per table (on
    PostgreSQL each scan of 60M events costs seconds); returns the counts and the (table,
    condition) pairs that matched no row. A check that matched rows is run again on its own
    for its examples."""
    counts: dict[str, int] = {}
    clean: set[tuple[str, str]] = set()
    for table in (CONTACTS, EVENTS, OUTCOMES):
        simple = [w for t, w in checks if t == table and "SELECT" not in w.upper()]
        cols = ["count(*) AS n", *(f"count(*) FILTER (WHERE {w}) AS c{i}"
                                   for i, w in enumerate(simple))]  # fmt: skip
        params: list[object] = [now for w in simple if "?" in w]
        row = wh.query(f"SELECT {', '.join(cols)} FROM {table} t", params or None).iloc[0]
        counts[table] = int(row["n"])
        clean |= {(table, w) for i, w in enumerate(simple) if int(row[f"c{i}"]) == 0}
    return counts, clean


def validate_warehouse(wh: Warehouse, *, now: datetime | None = None, dated: bool | None = None
                       ) -> ValidationReport:  # fmt: skip
    """Validate contacts, events and outcomes in ``wh`` (see the module docstring).

    ``dated=False`` accepts contacts without ``created_at`` (a single export with no time);
    by default that is what the data shows: undated when no contact has a creation time.
    Outcomes without any ``closed_at`` (a label column without a close time) are accepted;
    a mix of dated and undated outcomes is not.

    ``now`` (naive UTC) is the instant after which a timestamp counts as "in the future";
    it defaults to the wall clock.
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    problems: list[DataValidationError] = []
    for table in (CONTACTS, EVENTS, OUTCOMES):
        problems.extend(_check_schema(wh, table))
    if problems:
        raise ContractViolations(problems)

    if dated is None:
        dated = bool(wh.scalar("SELECT count(*) FROM contacts WHERE created_at IS NOT NULL"))
    checks = [
        (CONTACTS, "contact_id", "contact_id must not be null", "t.contact_id IS NULL",
         "t.created_at"),
        (CONTACTS, "contact_id", "contact_id must be unique; duplicate ids found",
         "t.contact_id IN (SELECT contact_id FROM contacts GROUP BY 1 HAVING count(*) > 1)",
         "t.contact_id"),
        (CONTACTS, "created_at", "created_at must not be null", "t.created_at IS NULL",
         "t.contact_id"),
        (CONTACTS, "created_at", f"timestamps must not be in the future (after {now:%Y-%m-%d %H:%M})",
         "t.created_at > CAST(? AS TIMESTAMP)", "t.created_at"),
        (EVENTS, "contact_id", "events for contacts that are not in table 'contacts'",
         "NOT EXISTS (SELECT 1 FROM contacts c WHERE c.contact_id = t.contact_id)", "t.contact_id"),
        (EVENTS, "occurred_at", "occurred_at must not be null", "t.occurred_at IS NULL",
         "t.contact_id"),
        (EVENTS, "event_type", "event_type must not be null", "t.event_type IS NULL",
         "t.contact_id"),
        (EVENTS, "occurred_at", f"timestamps must not be in the future (after {now:%Y-%m-%d %H:%M})",
         "t.occurred_at > CAST(? AS TIMESTAMP)", "t.occurred_at"),
        (EVENTS, "occurred_at", "events must not happen before the contact was created",
         "EXISTS (SELECT 1 FROM contacts c WHERE c.contact_id = t.contact_id AND t.occurred_at < c.created_at)",
         "t.contact_id"),
        (OUTCOMES, "contact_id", "outcomes for contacts that are not in table 'contacts'",
         "NOT EXISTS (SELECT 1 FROM contacts c WHERE c.contact_id = t.contact_id)", "t.contact_id"),
        (OUTCOMES, "contact_id", "at most one outcome per contact; contacts with several found",
         "t.contact_id IN (SELECT contact_id FROM outcomes GROUP BY 1 HAVING count(*) > 1)",
         "t.contact_id"),
        (OUTCOMES, "outcome", f"outcome must be one of {list(OUTCOME_VALUES)}",
         "t.outcome IS NULL OR t.outcome NOT IN ('won', 'lost')", "t.outcome"),
        (OUTCOMES, "closed_at", "closed_at must not be null", "t.closed_at IS NULL",
         "t.contact_id"),
        (OUTCOMES, "closed_at", f"timestamps must not be in the future (after {now:%Y-%m-%d %H:%M})",
         "t.closed_at > CAST(? AS TIMESTAMP)", "t.closed_at"),
        (OUTCOMES, "closed_at", "outcomes must not close before the contact was created",
         "EXISTS (SELECT 1 FROM contacts c WHERE c.contact_id = t.contact_id AND t.closed_at < c.created_at)",
         "t.contact_id"),
    ]  # fmt: skip
    if not dated:
        checks = [c for c in checks if c[3] != "t.created_at IS NULL"]
    if not wh.scalar("SELECT count(*) FROM outcomes WHERE closed_at IS NOT NULL"):
        # a label column without a close time: outcomes are known, not when they closed
        checks = [c for c in checks if c[3] != "t.closed_at IS NULL"]
    counts, clean = _one_scan_per_table(wh, [(c[0], c[3]) for c in checks], now)
    for table, column, problem, where_sql, example_sql in checks:
        if (table, where_sql) in clean:
            continue
        params: list[object] | None = [now] if "?" in where_sql else None
        found = _offenders(wh, table, column, problem, where_sql, example_sql, params)
        if found is not None:
            problems.append(found)
    if counts[CONTACTS] == 0:
        problems.append(DataValidationError(CONTACTS, None, "table is empty; nothing to score"))
    if problems:
        raise ContractViolations(problems)
    span = wh.query(
        "SELECT min(created_at) AS start, greatest(max(created_at), "
        "(SELECT max(occurred_at) FROM events), (SELECT max(closed_at) FROM outcomes)) AS end "
        "FROM contacts"
    )
    start = span["start"].iloc[0]
    end = span["end"].iloc[0]
    log.info("validated warehouse %s: %s", wh.url, counts)
    return ValidationReport(
        row_counts=counts,
        data_start=None if start is None else start.to_pydatetime(),
        data_end=None if end is None else end.to_pydatetime(),
    )
