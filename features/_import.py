"""Import: a team's sources, read through the contract into the warehouse's standard tables.

Contract of :func:`import_tables` (any contract; ``warehouse`` a DuckDB or PostgreSQL URL):

- Each source is read as it is: a CSV through pyarrow (any Python encoding, delimiter
  detected among ``, ; tab |`` unless given, ``.gz`` decompressed, empty fields missing), a
  Parquet file, a DuckDB or PostgreSQL table, or a table of the warehouse itself; into an
  in-memory DuckDB stage. The warehouse is not touched until every check below has passed.
- Every column the contract names must exist in its source: an error names the section, the
  source, the team's column and the role, the columns found and the closest match. A
  standard role the contract does not map is used when the source has a column of the
  role's own name.
- ``contacts.missing_values`` are read as missing first. Values are then converted to the
  contract's types, in the team's terms when they do not convert: timestamps (typed, or
  ISO 8601 text; an offset is converted to UTC), numbers (``1,200`` is 1200), yes/no flags
  (true/false, yes/no, y/n, t/f, 1/0), ids (text on every table when their types differ);
  outcomes through ``label``: won values become ``won``, lost ``lost``, rows with open
  values (and, for an outcome column on the contacts, empty ones) are left out and counted;
  any other value is an error listing the values found and how often.
- Every contact column that is not a role, the outcome, its close time, the existing score,
  excluded or known after contact is an attribute of the team's own, typed by
  :func:`~features._profile.profile_columns` (or ``column_types``) and kept under an
  identifier (``Lead Source`` -> ``lead_source_2`` when ``lead_source`` is a role);
  identifiers, free text, dates, constant and empty columns are left out, each reported
  with its reason (:attr:`ImportResult.left_out`). The catalogue of attributes (warehouse
  name, the team's name, kind) is written to table ``leadscore_columns``.
- An outcome column on the contacts becomes the ``outcomes`` table (one row per decided
  contact, ``closed_at`` from ``contacts.closed_at`` or empty); without events the
  ``events`` table is empty.
- The standard tables are validated in the stage (duplicate ids, unknown contacts, future
  timestamps, events before their contact ...), each problem re-named to the team's
  source and column. Only then are the tables written to the warehouse in one
  transaction that also records the import in ``leadscore_imports``. A table of those
  names that leadscore did not import itself is never replaced. A killed import leaves
  the previous tables in place; a rerun replaces, never duplicates.
- When the contract and every file source are unchanged since the last import (content
  hash), the import is skipped. When the contract's sources *are* the warehouse's
  standard tables (the packaged demo contract), nothing is copied: they are validated and
  used in place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from leadscore.features._contract import (
    ROW_ORDER,
    ContactsTable,
    Contract,
    EventsTable,
    OutcomesTable,
    Source,
    label_key,
    normalise_token,
)
from leadscore.features._conversion import (
    INTEGER_TYPES,
    Kind,
    base_type,
    build,
    check_named,
    convert,
    missing_column,
    quoted,
    recode,
)
from leadscore.features._errors import ConfigError, DataValidationError
from leadscore.features._import_store import (
    COLUMNS,
    IMPORTS,
    fingerprint,
    in_place,
    previous_imports_at,
    read_catalogue,
    write,
)
from leadscore.features._profile import ColumnProfile, profile_columns, typed_column
from leadscore.features._schema import CONTACTS, EVENT_TYPES, EVENTS, OUTCOMES
from leadscore.features._sources import describe_source, load_source
from leadscore.features._spec import ROLE_KINDS, unique_names
from leadscore.features._validation import ContractViolations, validate_warehouse
from leadscore.features._warehouse import Warehouse, WarehouseURL, quote_ident

log = logging.getLogger(__name__)

EXISTING_SCORE = "existing_score"
"""The contacts column holding the team's own score, when the contract names one."""
PROFILE_ROWS = 200_000
"""Attribute columns are typed on at most this many rows (then every row is converted)."""

_ROLE_IMPORT_KINDS: dict[str, Kind] = {"categorical": "text", "numeric": "number",
                                       "boolean": "flag"}  # fmt: skip
_CONTACT_KINDS: dict[str, Kind] = {
    "contact_id": "id", "created_at": "time",
    **{role: _ROLE_IMPORT_KINDS[kind] for role, kind in ROLE_KINDS.items()},
}  # fmt: skip
_EVENT_KINDS: dict[str, Kind] = {"contact_id": "id", "occurred_at": "time", "event_type": "text"}
_OUTCOME_KINDS: dict[str, Kind] = {
    "contact_id": "id", "closed_at": "time", "outcome": "text", "amount": "number",
}  # fmt: skip

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Attribute:
    """A contact attribute of the team's own: warehouse column, the team's name, kind."""

    name: str
    label: str
    kind: Literal["numeric", "categorical", "boolean"]


@dataclass
class ImportResult:
    """What :func:`import_tables` did."""

    warehouse: str
    rows: dict[str, int]  # standard table -> rows now in the warehouse
    skipped: Literal["", "up to date", "in place"] = ""
    attributes: list[Attribute] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # team column -> why
    open_outcomes: int = 0  # outcome rows with an open (or empty) value, left out
    unmapped_event_types: dict[str, int] = field(default_factory=dict)  # top values, counts
    horizon_days: int = 90
    known_before_contact: list[str] = field(default_factory=list)  # warehouse column names
    notes_: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def notes(self) -> list[str]:
        """Sentences worth showing a person after the import."""
        out = []
        if self.skipped == "up to date":
            out.append("tables unchanged since the last import: not re-read")
        if self.left_out:
            shown = "; ".join(f"{c!r}: {why}" for c, why in list(self.left_out.items())[:12])
            out.append(f"{len(self.left_out)} contact column(s) left out: {shown}"
                       + (" ..." if len(self.left_out) > 12 else ""))  # fmt: skip
        if self.open_outcomes:
            out.append(f"{self.open_outcomes:,} outcome rows with an open or empty value were "
                       "left out (not decided yet)")  # fmt: skip
        if self.unmapped_event_types:
            shown = ", ".join(f"{v!r} ({n:,})" for v, n in self.unmapped_event_types.items())
            out.append("event types with no standard meaning (features of their own; give them "
                       f"a meaning under events: high_intent, borrowed_interest, sales_owned): "
                       f"{shown}")  # fmt: skip
        return out + self.notes_


def import_tables(
    contract: Contract, warehouse: str, *, now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportResult:  # fmt: skip
    """Read the contract's tables into ``warehouse`` as the standard tables (see the module
    docstring); returns what was done. Raises ConfigError (exit 2) for a contract that does
    not fit its sources, ContractViolations (exit 3) for data that breaks the contract."""
    say = progress or (lambda msg: log.info("%s", msg))
    started = time.perf_counter()
    contacts, events, outcomes = contract.contacts, contract.events, contract.outcomes
    engine = WarehouseURL.parse(warehouse).engine
    now = now or datetime.now(UTC).replace(tzinfo=None)
    base = ImportResult(warehouse=warehouse, rows={}, horizon_days=contract.label.horizon_days)
    if in_place(contract, warehouse):
        with Warehouse(warehouse, read_only=True) as wh:
            report = validate_warehouse(wh, now=now)
        base.rows, base.skipped = dict(report.row_counts), "in place"
        base.known_before_contact = list(contacts.known_before_contact)
        base.seconds = time.perf_counter() - started
        say(f"contract sources are the warehouse's own tables: used in place ({base.rows})")
        return base
    if engine not in ("duckdb", "postgresql"):
        raise ConfigError(
            f"a contract is imported into a DuckDB or PostgreSQL warehouse, not {engine}; "
            "import into one (--warehouse) and run Spark jobs on its tables"
        )
    digest = fingerprint(contract)
    previous = previous_imports_at(warehouse)
    if digest is not None and all(
        previous.get(t, ("", 0))[0] == digest for t in (CONTACTS, EVENTS, OUTCOMES)
    ):
        base.rows = {t: previous[t][1] for t in (CONTACTS, EVENTS, OUTCOMES)}
        base.skipped = "up to date"
        with Warehouse(warehouse, read_only=True) as wh:
            base.attributes = read_catalogue(wh)
        base.known_before_contact = _known_before(contacts, base.attributes, {})
        base.seconds = time.perf_counter() - started
        say(f"contract and sources unchanged since the last import into {warehouse}: reused")
        return base

    with Warehouse("duckdb:///:memory:") as stage:
        stage.execute("SET TimeZone = 'UTC'")
        say(f"reading contacts from {describe_source(contacts.source)}")
        load_source(stage, "src_contacts", contacts.source, contract.base_dir, "contacts", warehouse)
        roles = _contact_roles(stage, contacts)
        _apply_missing_values(stage, contacts)
        roles = _stand_ins(stage, contacts, roles)
        if events is not None:
            say(f"reading events from {describe_source(events.source)}")
            load_source(stage, "src_events", events.source, contract.base_dir, "events", warehouse)
            check_named(stage, "events", events.source, "src_events", events.columns.model_dump())
        if outcomes is not None:
            say(f"reading outcomes from {describe_source(outcomes.source)}")
            load_source(stage, "src_outcomes", outcomes.source, contract.base_dir, "outcomes",
                  warehouse)  # fmt: skip
            check_named(stage, "outcomes", outcomes.source, "src_outcomes",
                         outcomes.columns.model_dump())  # fmt: skip
        id_type = _id_type(stage, str(roles["contact_id"]), events, outcomes)
        problems: list[DataValidationError] = []
        problems += build(stage, "std_contacts", "src_contacts", contacts.source, roles,
                           _CONTACT_KINDS, id_type, keep_row=True)  # fmt: skip
        say("typing the contacts' own attributes")
        attributes, left_out, notes, attr_problems = _attributes(stage, contacts, roles)
        problems += attr_problems
        problems += _existing_score(stage, contacts)
        if events is not None:
            problems += build(stage, EVENTS, "src_events", events.source,
                               events.columns.model_dump(), _EVENT_KINDS, id_type)  # fmt: skip
        else:
            stage.execute(f"CREATE TABLE {EVENTS} (contact_id {id_type}, occurred_at TIMESTAMP, "
                          "event_type VARCHAR)")  # fmt: skip
        if outcomes is not None:
            problems += build(stage, OUTCOMES, "src_outcomes", outcomes.source,
                               outcomes.columns.model_dump(), _OUTCOME_KINDS, id_type)  # fmt: skip
        else:
            problems += _outcomes_from_contacts(stage, contacts, str(roles["contact_id"]), id_type)
        if problems:
            raise ContractViolations(problems)
        _join_contacts(stage, attributes, contacts.existing_score is not None)
        unmapped = _map_event_types(stage, events) if events is not None else {}
        where = (f"outcomes ({describe_source(outcomes.source)})" if outcomes is not None
                 else f"contacts ({describe_source(contacts.source)})")  # fmt: skip
        column = outcomes.columns.outcome if outcomes is not None else str(contacts.outcome)
        open_rows = _map_outcomes(stage, contract.label.mapping(), where, column,
                                  amount=outcomes is not None and outcomes.columns.amount is not None)  # fmt: skip
        say("validating the standard tables")
        try:
            validate_warehouse(stage, now=now, dated=roles["created_at"] is not None)
        except ContractViolations as exc:
            raise ContractViolations([_in_team_terms(p, contract, roles) for p in exc.problems]
                                     ) from None  # fmt: skip
        arrow = {t: stage.query_arrow(f"SELECT * FROM {t}")
                 for t in (CONTACTS, EVENTS, OUTCOMES)}  # fmt: skip
    say(f"writing contacts, events and outcomes to {warehouse}")
    rows = write(warehouse, arrow, contract, digest or "", now, attributes)
    return ImportResult(
        warehouse=warehouse, rows=rows, attributes=attributes, left_out=left_out,
        open_outcomes=open_rows, unmapped_event_types=unmapped,
        horizon_days=contract.label.horizon_days,
        known_before_contact=_known_before(contacts, attributes, roles), notes_=notes,
        seconds=time.perf_counter() - started,
    )  # fmt: skip


# --------------------------------------------------------------------------- checks


def _contact_roles(stage: Warehouse, contacts: ContactsTable) -> dict[str, str | None]:
    """Role -> the team's column: mapped roles must exist; roles left out are used when the
    source has a column of the role's own name. Also checks every other named column."""
    found = list(stage.columns("src_contacts"))
    given = contacts.columns.given() | {"contact_id"}
    # a column the contract gives another part (the outcome, excluded, known after contact)
    # is not taken by a role left at its default name
    elsewhere = {c for c in (contacts.outcome, contacts.closed_at, contacts.existing_score,
                             *contacts.exclude, *contacts.known_after_contact) if c}  # fmt: skip
    roles: dict[str, str | None] = {}
    for role, column in contacts.columns.model_dump().items():
        if column is None or (role not in given and column in elsewhere):
            roles[role] = None
        elif column in found:
            roles[role] = column
        elif role in given or (role == "created_at" and "created_at" in given):
            raise missing_column("contacts", contacts.source, column, role, found)
        else:
            roles[role] = None
    named = [("outcome", contacts.outcome), ("closed_at", contacts.closed_at),
             ("existing_score", contacts.existing_score)]  # fmt: skip
    if contacts.order_by is not None and contacts.order_by != ROW_ORDER:
        named.append(("order_by", contacts.order_by))
    named += [(key, c) for key in ("exclude", "known_after_contact", "known_before_contact")
              for c in getattr(contacts, key)]  # fmt: skip
    named += [("column_types", c) for c in contacts.column_types]
    if isinstance(contacts.missing_values, dict):
        named += [("missing_values", c) for c in contacts.missing_values]
    for key, column in named:
        if column is not None and column not in found:
            raise missing_column("contacts", contacts.source, column, key, found)
    return roles


ROW_ID = "_leadscore_row"
ORDER_TIME = "_leadscore_order_time"


def _stand_ins(stage: Warehouse, contacts: ContactsTable, roles: dict[str, str | None]
               ) -> dict[str, str | None]:  # fmt: skip
    """Row numbers for a contacts source without ids; stand-in creation times (one second
    apart from 2000-01-01, ties equal) for one ordered by ``order_by`` without a time."""
    adds = []
    if contacts.columns.contact_id is None:
        adds.append(f"CAST(rowid + 1 AS BIGINT) AS {ROW_ID}")
        roles = {**roles, "contact_id": ROW_ID}
    if contacts.order_by is not None:
        key = "rowid" if contacts.order_by == ROW_ORDER else _order_key(stage, contacts)
        adds.append(f"TIMESTAMP '2000-01-01 00:00:00' + to_seconds(CAST(dense_rank() OVER "
                    f"(ORDER BY {key}) - 1 AS BIGINT)) AS {ORDER_TIME}")  # fmt: skip
        roles = {**roles, "created_at": ORDER_TIME}
    if adds:
        stage.execute(f"CREATE OR REPLACE TABLE src_contacts AS SELECT *, {', '.join(adds)} "
                      "FROM src_contacts ORDER BY rowid")  # fmt: skip
    return roles


def _order_key(stage: Warehouse, contacts: ContactsTable) -> str:
    """SQL for the values of the ``order_by`` column as numbers or timestamps (text holding
    either is converted: text sorts ``10`` before ``9``). ContractViolations names empty
    values (by row number) and values that are neither."""
    column = str(contacts.order_by)
    duck_type = stage.columns("src_contacts")[column]
    where = f"contacts ({describe_source(contacts.source)})"
    text = f"NULLIF(trim(CAST({quoted(column)} AS VARCHAR)), '')"
    problems = []
    empty = stage.query(f"SELECT rowid + 1 AS r FROM src_contacts WHERE {text} IS NULL "
                        "ORDER BY rowid")["r"].tolist()  # fmt: skip
    if empty:
        problems.append(DataValidationError(
            where, column, "order_by values must not be empty (examples are row numbers)",
            count=len(empty), examples=[int(r) for r in empty[:5]]))  # fmt: skip
    candidates = []
    for kind in ("number", "time"):
        try:
            value, bad = convert(column, duck_type, kind, "BIGINT")
        except ValueError:
            continue
        failed = 0 if bad is None else int(
            stage.scalar(f"SELECT count(*) FROM src_contacts WHERE {bad}") or 0)  # fmt: skip
        candidates.append((failed, value, bad))
    if not candidates:
        problems.append(DataValidationError(
            where, column, f"order_by values must be numbers or timestamps, not {duck_type}",
            count=int(stage.scalar("SELECT count(*) FROM src_contacts") or 0)))  # fmt: skip
        raise ContractViolations(problems)
    failed, value, bad = min(candidates, key=lambda c: c[0])
    if failed:
        examples = stage.query(f"SELECT DISTINCT CAST({quoted(column)} AS VARCHAR) AS v FROM "
                               f"src_contacts WHERE {bad} ORDER BY v LIMIT 5")["v"].tolist()  # fmt: skip
        problems.append(DataValidationError(
            where, column, "order_by values must be numbers or timestamps (ISO 8601)",
            count=failed, examples=examples))  # fmt: skip
    if problems:
        raise ContractViolations(problems)
    return value


def _apply_missing_values(stage: Warehouse, contacts: ContactsTable) -> None:
    """Text values listed in ``missing_values`` (trimmed, case-insensitive) become NULL."""
    types = stage.columns("src_contacts")
    changes = []
    for column, duck_type in types.items():
        tokens = sorted(contacts.missing_tokens(column))
        if not tokens or base_type(duck_type) != "VARCHAR":
            continue
        listed = ", ".join("'" + t.replace("'", "''") + "'" for t in tokens)
        changes.append(f"CASE WHEN lower(trim({quoted(column)})) IN ({listed}) THEN NULL "
                       f"ELSE {quoted(column)} END AS {quoted(column)}")  # fmt: skip
    if changes:
        stage.execute("CREATE OR REPLACE TABLE src_contacts AS SELECT * REPLACE ("
                      + ", ".join(changes) + ") FROM src_contacts ORDER BY rowid")  # fmt: skip


def _known_before(contacts: ContactsTable, attributes: Sequence[Attribute],
                  roles: Mapping[str, str | None]) -> list[str]:  # fmt: skip
    """``known_before_contact`` columns as warehouse column names."""
    by_label = {a.label: a.name for a in attributes}
    by_label.update({c: r for r, c in roles.items() if c})
    return [by_label.get(c, c) for c in contacts.known_before_contact]


def _id_type(stage: Warehouse, contact_id: str, events: EventsTable | None,
             outcomes: OutcomesTable | None) -> str:  # fmt: skip
    """BIGINT when every table's id column is an integer, else VARCHAR (ids compared as text)."""
    pairs = [("src_contacts", contact_id)]
    if events is not None:
        pairs.append(("src_events", events.columns.contact_id))
    if outcomes is not None:
        pairs.append(("src_outcomes", outcomes.columns.contact_id))
    types = [base_type(stage.columns(table)[column]) for table, column in pairs]
    return "BIGINT" if all(t in INTEGER_TYPES for t in types) else "VARCHAR"


# --------------------------------------------------------------------------- attributes


def _attributes(stage: Warehouse, contacts: ContactsTable, roles: Mapping[str, str | None]
                ) -> tuple[list[Attribute], dict[str, str], list[str], list[DataValidationError]]:  # fmt: skip
    """Type the team's own contact columns into stage table ``attrs`` (``_row`` + one
    column per attribute); returns the attributes, the columns left out and why, notes, and
    values that do not fit a type the contract forces."""
    found = list(stage.columns("src_contacts"))
    used = {c for c in roles.values() if c} | {c for c in (contacts.outcome, contacts.closed_at,
                                                          contacts.existing_score) if c}  # fmt: skip
    used |= {ROW_ID, ORDER_TIME}
    if contacts.order_by is not None:
        used.add(contacts.order_by)  # the time order: a clock, never a feature
    left_out = {c: "excluded in the contract" for c in contacts.exclude}
    left_out.update({c: "known after contact (filled in by sales)"
                     for c in contacts.known_after_contact})  # fmt: skip
    candidates = [c for c in found if c not in used and c not in left_out]
    cols = ", ".join(["rowid AS _row", *(quoted(c) for c in candidates)])
    frame = stage.query(f"SELECT {cols} FROM src_contacts ORDER BY rowid")
    sample = frame[candidates].head(PROFILE_ROWS)
    profiles = {p.column: p for p in profile_columns(sample)}
    where = f"contacts ({describe_source(contacts.source)})"
    kinds: dict[str, Literal["numeric", "categorical", "boolean"]] = {}
    for column in candidates:
        forced = contacts.column_types.get(column)
        profile: ColumnProfile = profiles[column]
        if forced is not None:
            kinds[column] = forced
        elif profile.usable:
            kinds[column] = profile.kind  # type: ignore[assignment]
        else:
            left_out[column] = f"{profile.kind}: {profile.reason}"
    names = unique_names(list(kinds), set(ROLE_KINDS) | {EXISTING_SCORE})
    attributes: list[Attribute] = []
    typed: dict[str, object] = {"_row": frame["_row"].to_numpy()}
    problems: list[DataValidationError] = []
    notes: list[str] = []
    for (column, kind), name in zip(kinds.items(), names, strict=True):
        values, bad = typed_column(frame[column], kind)
        if len(bad):
            examples = [str(v) for v in pd.unique(bad.astype(str))[:5]]
            if column in contacts.column_types:
                problems.append(DataValidationError(
                    where, column, f"values that are not {kind} (column_types says {kind})",
                    count=len(bad), examples=examples))  # fmt: skip
            else:
                notes.append(f"column {column!r}: {len(bad):,} value(s) that are not {kind} "
                             f"read as missing, e.g. {examples[:3]}")  # fmt: skip
        if kind == "categorical":
            typed[name] = pa.array(values.astype(object).where(values.notna(), None).tolist(),
                                   pa.string())  # fmt: skip
        elif kind == "boolean":
            floats = values.to_numpy(dtype="float64", na_value=np.nan)
            typed[name] = pa.array([None if np.isnan(v) else bool(v) for v in floats], pa.bool_())
        else:
            floats = values.to_numpy(dtype="float64", na_value=np.nan)
            typed[name] = pa.array(floats, pa.float64(), mask=~np.isfinite(floats))
        attributes.append(Attribute(name, column, kind))
    with stage.registered("_attrs", pa.table(typed)) as view:
        stage.execute(f"CREATE TABLE attrs AS SELECT * FROM {view}")
    return attributes, left_out, notes, problems


def _existing_score(stage: Warehouse, contacts: ContactsTable) -> list[DataValidationError]:
    """Stage table ``score`` (``_row``, ``existing_score``) from the contract's score column:
    numbers, gaps allowed; text that is not a number is an error naming the values."""
    if contacts.existing_score is None:
        return []
    column = contacts.existing_score
    value, bad = convert(column, stage.columns("src_contacts")[column], "number", "BIGINT")
    problems = []
    if bad is not None:
        n = int(stage.scalar(f"SELECT count(*) FROM src_contacts WHERE {bad}") or 0)
        if n:
            examples = stage.query(f"SELECT DISTINCT CAST({quoted(column)} AS VARCHAR) AS v FROM "
                                   f"src_contacts WHERE {bad} ORDER BY v LIMIT 5")["v"].tolist()  # fmt: skip
            problems.append(DataValidationError(
                f"contacts ({describe_source(contacts.source)})", column,
                "values that are not numbers (for existing_score; leave gaps empty)", count=n,
                examples=examples))  # fmt: skip
    stage.execute(f"CREATE TABLE score AS SELECT rowid AS _row, {value} AS {EXISTING_SCORE} "
                  "FROM src_contacts")  # fmt: skip
    return problems


def _join_contacts(stage: Warehouse, attributes: Sequence[Attribute], has_score: bool) -> None:
    """Stage table ``contacts``: the standard columns, the attributes, the existing score,
    in source order."""
    extra = "".join(f", a.{quote_ident(a.name)}" for a in attributes)
    score = f", s.{EXISTING_SCORE}" if has_score else ""
    join_score = "LEFT JOIN score s ON s._row = c._row" if has_score else ""
    stage.execute(f"CREATE TABLE {CONTACTS} AS SELECT c.* EXCLUDE (_row){extra}{score} "
                  f"FROM std_contacts c LEFT JOIN attrs a ON a._row = c._row {join_score} "
                  "ORDER BY c._row")  # fmt: skip


def _outcomes_from_contacts(stage: Warehouse, contacts: ContactsTable, contact_id: str,
                            id_type: str) -> list[DataValidationError]:  # fmt: skip
    """Stage table ``outcomes`` from the outcome column on the contacts (raw values; mapped
    by :func:`_map_outcomes`)."""
    mapping: dict[str, str | None] = {"contact_id": contact_id, "closed_at": contacts.closed_at,
                                      "outcome": contacts.outcome}  # fmt: skip
    problems = build(stage, "outcomes_raw", "src_contacts", contacts.source, mapping,
                      {"contact_id": "id", "closed_at": "time", "outcome": "text"}, id_type)  # fmt: skip
    if not problems:
        stage.execute("CREATE TABLE outcomes AS SELECT * FROM outcomes_raw")
    return problems


# --------------------------------------------------------------------------- recoding


def _map_event_types(stage: Warehouse, events: EventsTable) -> dict[str, int]:
    """Rewrite the team's values mapped under ``event_types`` to the standard types (the
    rest stay as they are: features of their own); returns the most frequent values with
    no standard meaning and their counts."""
    known = {t: t for t in (*EVENT_TYPES, "sales_touch")}
    mapping = {**{normalise_token(t): t for t in known}, **events.type_mapping()}
    recode(stage, "events", "event_type", mapping,
            "t.contact_id, t.occurred_at, coalesce(m.value, t.event_type) AS event_type")  # fmt: skip
    listed = {normalise_token(v) for v in [*(events.high_intent or []),
              *(events.borrowed_interest or []), *(events.sales_owned or [])]}  # fmt: skip
    unmapped = stage.query(
        "SELECT event_type, count(*) AS n FROM events WHERE event_type NOT IN ("
        + ", ".join(f"'{t}'" for t in known)
        + ") GROUP BY 1 ORDER BY n DESC, event_type LIMIT 10"
    )
    return {str(v): int(n) for v, n in zip(unmapped["event_type"], unmapped["n"], strict=True)
            if normalise_token(v) not in listed}  # fmt: skip


def _map_outcomes(stage: Warehouse, mapping: Mapping[str, str], where: str, column: str, *,
                  amount: bool) -> int:  # fmt: skip
    """Rewrite outcome values to won/lost through the label (numbers by value), leave out
    open and empty rows (returned as a count); other values are an error listing every
    value found."""
    raw = stage.query("SELECT DISTINCT outcome FROM outcomes WHERE outcome IS NOT NULL")["outcome"]
    lookup = {str(v): mapping.get(label_key(v)) for v in raw}
    table = pa.table({"raw": list(lookup), "mapped": [lookup[k] for k in lookup]},
                     schema=pa.schema([("raw", pa.string()), ("mapped", pa.string())]))  # fmt: skip
    with stage.registered("_outcome_map", table) as view:
        stage.execute("CREATE OR REPLACE TABLE outcomes AS SELECT t.*, m.mapped FROM outcomes t "
                      f"LEFT JOIN {view} m ON m.raw = t.outcome")  # fmt: skip
    unknown = stage.query(
        "SELECT outcome AS v, count(*) AS n FROM outcomes "
        "WHERE mapped IS NULL AND outcome IS NOT NULL GROUP BY 1 ORDER BY n DESC, v"
    )
    if len(unknown):
        pairs = list(zip(unknown["v"], unknown["n"], strict=True))[:10]
        listing = ", ".join(f"{v!r} ({n:,})" for v, n in pairs)
        raise ContractViolations([DataValidationError(
            where, column,
            f"values that are neither label.won_values, lost_values nor open_values; found "
            f"{listing}. Add each to one of those lists", count=int(unknown["n"].sum()),
            examples=unknown["v"].tolist()[:5])])  # fmt: skip
    open_rows = int(stage.scalar("SELECT count(*) FROM outcomes WHERE mapped = 'open' OR "
                                 "mapped IS NULL") or 0)  # fmt: skip
    cols = ["contact_id", "closed_at", "mapped AS outcome", *(["amount"] if amount else [])]
    stage.execute(f"CREATE OR REPLACE TABLE outcomes AS SELECT {', '.join(cols)} FROM outcomes "
                  "WHERE mapped IN ('won', 'lost')")  # fmt: skip
    return open_rows


def _in_team_terms(problem: DataValidationError, contract: Contract,
                   roles: Mapping[str, str | None]) -> DataValidationError:  # fmt: skip
    """The same problem, naming the team's source and column instead of the standard ones."""
    contacts, events, outcomes = contract.contacts, contract.events, contract.outcomes
    names: dict[str, tuple[Source, dict[str, str | None]]] = {CONTACTS: (contacts.source, dict(roles))}
    if events is not None:
        names[EVENTS] = (events.source, events.columns.model_dump())
    if outcomes is not None:
        names[OUTCOMES] = (outcomes.source, outcomes.columns.model_dump())
    else:  # outcomes came from the contacts
        names[OUTCOMES] = (contacts.source, {"contact_id": contacts.columns.contact_id,
                                             "closed_at": contacts.closed_at,
                                             "outcome": contacts.outcome})  # fmt: skip
    if problem.table not in names:
        return problem
    source, mapping = names[problem.table]
    column = problem.column
    if column is not None:
        column = mapping.get(column) or column
    text = problem.problem
    for standard, (src, _) in names.items():
        text = text.replace(f"table {standard!r}", f"{standard} ({describe_source(src)})")
    return DataValidationError(f"{problem.table} ({describe_source(source)})", column,
                               text, count=problem.count, examples=problem.examples)  # fmt: skip


# --------------------------------------------------------------------------- writing


__all__ = ["COLUMNS", "IMPORTS", "Attribute", "ImportResult", "import_tables", "read_catalogue"]
