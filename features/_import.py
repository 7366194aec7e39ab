"""Tables mode: a team's contacts, events and outcomes, read through the contract into the
standard tables of DESIGN.md section 2, so every command runs on them unchanged.

Contract of :func:`import_tables` (``contract`` in mode ``tables``, ``warehouse`` a DuckDB or
PostgreSQL URL):

- Each source is read as it is: a CSV through pyarrow (any Python encoding, delimiter
  detected among ``, ; tab |`` unless given, ``.gz`` decompressed, empty fields missing), a
  Parquet file, a DuckDB table, or a PostgreSQL table through ADBC; into an in-memory DuckDB
  stage. The warehouse is not touched until every check below has passed.
- Every column the contract names must exist in its source: an error names the section, the
  source, the team's column and the role, the columns found and the closest match.
- Values are converted to the contract's types, in the team's terms when they do not
  convert: timestamps (typed, or ISO 8601 text; an offset or zone is converted to UTC and
  dropped), numbers (``1,200`` is 1200), yes/no flags (true/false, yes/no, y/n, t/f, 1/0),
  ids (text on all three tables when their types differ), event types through
  ``events.event_types``, outcomes through ``label``: ``won_values`` become ``won``,
  ``lost_values`` ``lost``, rows with ``open_values`` are left out and counted; any other
  outcome value is an error listing the values found and how often. A value that does not
  convert is an error naming the section, the source, the column, up to five examples and
  the rows affected. Roles mapped to ``null`` become empty columns.
- The standard tables are then validated (:func:`~features._validation.validate_warehouse`:
  duplicate ids, unknown contacts, future timestamps, events before their contact ...) in
  the stage, and each problem is re-named to the team's source and column.
- Only then are ``contacts``, ``events`` and ``outcomes`` written to the warehouse: bulk
  written to staging tables, then swapped in by one transaction that also records each
  import in table ``leadscore_imports``. A table of those names that leadscore did not
  import itself is never replaced (a ConfigError says so). A killed import leaves the
  previous tables in place; a rerun replaces, never duplicates.
- When the contract and every source are unchanged since the last import (file sources:
  path, size and modification time; database sources are always re-read), the import is
  skipped. When the contract's sources *are* the warehouse's standard tables with the
  standard names and values, nothing is copied: the tables are used in place.
- Contact columns without a role are not used as features (the model's features are the
  roles); they are listed in :attr:`ImportResult.unused_columns`, and ``exclude`` /
  ``known_after_contact`` columns must exist (a typo would otherwise go unnoticed).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from leadscore.features._contract import (
    ContactsTable,
    Contract,
    EventsTable,
    OutcomesTable,
    Source,
    csv_dialect,
    normalise_token,
)
from leadscore.features._errors import ConfigError, DataValidationError, MissingTableError
from leadscore.features._schema import CONTACTS, EVENT_TYPES, EVENTS, OUTCOMES
from leadscore.features._validation import ContractViolations, validate_warehouse
from leadscore.features._warehouse import Warehouse, WarehouseURL, quote_ident

log = logging.getLogger(__name__)

IMPORTS = "leadscore_imports"
"""The table recording which standard tables leadscore imported, from where, and when."""
STAGING = "_leadscore_import_"

Kind = Literal["id", "time", "number", "flag", "text"]
_CONTACT_KINDS: dict[str, Kind] = {
    "contact_id": "id", "created_at": "time", "title": "text", "company_size": "number",
    "industry": "text", "country": "text", "lead_source": "text", "email_domain": "text",
    "phone_valid": "flag", "buying_timeline": "text", "requested_demo": "flag",
}  # fmt: skip
_EVENT_KINDS: dict[str, Kind] = {"contact_id": "id", "occurred_at": "time", "event_type": "text"}
_OUTCOME_KINDS: dict[str, Kind] = {
    "contact_id": "id", "closed_at": "time", "outcome": "text", "amount": "number",
}  # fmt: skip
_SQL_TYPE = {"time": "TIMESTAMP", "number": "DOUBLE", "flag": "BOOLEAN", "text": "VARCHAR"}
_TRUE = ("true", "yes", "y", "t", "1", "1.0")
_FALSE = ("false", "no", "n", "f", "0", "0.0")
_INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
                  "USMALLINT", "UTINYINT")  # fmt: skip
_NUMBER_TYPES = (*_INTEGER_TYPES, "DOUBLE", "FLOAT", "DECIMAL")
_TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
               "TIMESTAMP_S")  # fmt: skip

Progress = Callable[[str], None]


@dataclass
class ImportResult:
    """What :func:`import_tables` did."""

    warehouse: str
    rows: dict[str, int]  # standard table -> rows now in the warehouse
    skipped: Literal["", "up to date", "in place"] = ""
    unused_columns: list[str] = field(default_factory=list)  # contact columns with no role
    open_outcomes: int = 0  # outcome rows with an open value, left out
    unmapped_event_types: dict[str, int] = field(default_factory=dict)  # top values, counts
    horizon_days: int = 90
    known_before_contact: list[str] = field(default_factory=list)  # as role names
    seconds: float = 0.0

    def notes(self) -> list[str]:
        """Sentences worth showing a person after the import."""
        out = []
        if self.skipped == "up to date":
            out.append("tables unchanged since the last import: not re-read")
        if self.unused_columns:
            out.append(
                f"{len(self.unused_columns)} contact column(s) have no role and are not used: "
                + ", ".join(self.unused_columns[:12])
                + (" ..." if len(self.unused_columns) > 12 else "")
            )
        if self.open_outcomes:
            out.append(f"{self.open_outcomes:,} outcome rows with an open value were left out")
        if self.unmapped_event_types:
            shown = ", ".join(f"{v!r} ({n:,})" for v, n in self.unmapped_event_types.items())
            out.append(
                "event types with no standard meaning (they count in all-activity features "
                f"only; map them under events.event_types): {shown}"
            )
        return out


def import_tables(
    contract: Contract, warehouse: str, *, now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportResult:  # fmt: skip
    """Read the contract's tables into ``warehouse`` as the standard tables (see the module
    docstring); returns what was done. Raises ConfigError (exit 2) for a contract that does
    not fit its sources, ContractViolations (exit 3) for data that breaks the contract."""
    say = progress or (lambda msg: log.info("%s", msg))
    started = time.perf_counter()
    contacts, events, outcomes, label = contract.tables
    engine = WarehouseURL.parse(warehouse).engine
    if engine not in ("duckdb", "postgresql"):
        raise ConfigError(
            f"a tables-mode contract is imported into a DuckDB or PostgreSQL warehouse, not "
            f"{engine}; import into one (--warehouse) and run Spark jobs on its tables"
        )
    now = now or datetime.now(UTC).replace(tzinfo=None)
    known_before = _known_before(contacts)
    base = ImportResult(warehouse=warehouse, rows={}, horizon_days=label.horizon_days,
                        known_before_contact=known_before)  # fmt: skip
    if _in_place(contract, warehouse):
        with Warehouse(warehouse, read_only=True) as wh:
            report = validate_warehouse(wh, now=now)
        base.rows, base.skipped = dict(report.row_counts), "in place"
        base.seconds = time.perf_counter() - started
        say(f"contract sources are the warehouse's own tables: used in place ({base.rows})")
        return base
    fingerprint = _fingerprint(contract)
    previous = _previous_imports_at(warehouse)
    if fingerprint is not None and all(
        previous.get(t, ("", 0))[0] == fingerprint for t in (CONTACTS, EVENTS, OUTCOMES)
    ):
        base.rows = {t: previous[t][1] for t in (CONTACTS, EVENTS, OUTCOMES)}
        base.skipped = "up to date"
        base.seconds = time.perf_counter() - started
        say(f"contract and sources unchanged since the last import into {warehouse}: reused")
        return base

    with Warehouse("duckdb:///:memory:") as stage:
        stage.execute("SET TimeZone = 'UTC'")
        say(f"reading contacts from {_describe_source(contacts.source)}")
        _load(stage, "src_contacts", contacts.source, contract.base_dir, "contacts")
        say(f"reading events from {_describe_source(events.source)}")
        _load(stage, "src_events", events.source, contract.base_dir, "events")
        say(f"reading outcomes from {_describe_source(outcomes.source)}")
        _load(stage, "src_outcomes", outcomes.source, contract.base_dir, "outcomes")
        unused = _check_contact_columns(stage, contacts)
        _check_named(stage, "events", events.source, "src_events", events.columns.model_dump())
        _check_named(stage, "outcomes", outcomes.source, "src_outcomes",
                     outcomes.columns.model_dump())  # fmt: skip
        problems: list[DataValidationError] = []
        id_type = _id_type(stage, contacts, events, outcomes)
        problems += _build(stage, CONTACTS, "src_contacts", contacts.source,
                           contacts.columns.model_dump(), _CONTACT_KINDS, id_type)  # fmt: skip
        problems += _build(stage, EVENTS, "src_events", events.source,
                           events.columns.model_dump(), _EVENT_KINDS, id_type)  # fmt: skip
        problems += _build(stage, OUTCOMES, "src_outcomes", outcomes.source,
                           outcomes.columns.model_dump(), _OUTCOME_KINDS, id_type)  # fmt: skip
        if problems:
            raise ContractViolations(problems)
        unmapped = _map_event_types(stage, events)
        open_rows = _map_outcomes(stage, outcomes, label.mapping())
        say("validating the standard tables")
        try:
            validate_warehouse(stage, now=now)
        except ContractViolations as exc:
            raise ContractViolations([_in_team_terms(p, contract) for p in exc.problems]) from None
        arrow = {t: stage.query_arrow(f"SELECT * FROM {t}")
                 for t in (CONTACTS, EVENTS, OUTCOMES)}  # fmt: skip
    say(f"writing contacts, events and outcomes to {warehouse}")
    rows = _write(warehouse, arrow, contract, fingerprint or "", now)
    return ImportResult(
        warehouse=warehouse, rows=rows, unused_columns=unused, open_outcomes=open_rows,
        unmapped_event_types=unmapped, horizon_days=label.horizon_days,
        known_before_contact=known_before, seconds=time.perf_counter() - started,
    )  # fmt: skip


# --------------------------------------------------------------------------- reading


def _describe_source(source: Source) -> str:
    if source.kind in ("csv", "parquet"):
        return f"{source.kind} file {source.path}"
    return f"{source.kind} table {source.table}"


def _load(stage: Warehouse, name: str, source: Source, base_dir: Path, section: str) -> None:
    """Read ``source`` whole into stage table ``name``."""
    where = f"{section}.source"
    if source.kind in ("duckdb", "postgresql"):
        url = source.checked_warehouse_url(base_dir, where)
        try:
            with Warehouse(url, read_only=True) as wh:
                wh.require_table(source.table or "")
                data = wh.query_arrow(f"SELECT * FROM {quote_ident(source.table or '')}")
        except MissingTableError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    else:
        path = source.file_path(base_dir)
        if not path.exists():
            raise ConfigError(
                f"{where}: file {str(path)!r} does not exist "
                f"(relative paths are relative to {str(base_dir)!r})"
            )
        data = _read_parquet(path, where) if source.kind == "parquet" else _read_csv(
            path, source, where)  # fmt: skip
    with stage.registered(f"_in_{name}", data) as view:
        stage.execute(f"CREATE TABLE {name} AS SELECT * FROM {view}")


def _read_parquet(path: Path, where: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"{where}: {str(path)!r} is not a readable Parquet file ({exc})") from exc


def _read_csv(path: Path, source: Source, where: str) -> pa.Table:
    encoding, delimiter = csv_dialect(path, source)
    try:
        data = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(encoding=encoding, block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter),
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{where}: cannot read CSV {str(path)!r} (delimiter {delimiter!r}, {encoding}): "
            f"{exc}; set {where}.delimiter or {where}.encoding (e.g. cp1252) if they are wrong"
        ) from exc
    names = data.column_names
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise ConfigError(f"{where}: the header of {str(path)!r} names {twice} twice")
    return data


# --------------------------------------------------------------------------- checks


def _missing_column(section: str, source: Source, column: str, role: str,
                    found: Sequence[str]) -> ConfigError:  # fmt: skip
    close = difflib.get_close_matches(column, list(found), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"{section} ({_describe_source(source)}): no column {column!r} (mapped to {role}); "
        f"its columns are {list(found)}{hint}"
    )


def _check_named(stage: Warehouse, section: str, source: Source, table: str,
                 mapping: dict[str, str | None]) -> list[str]:  # fmt: skip
    """Check each mapped column exists in stage ``table``; returns its columns."""
    found = list(stage.columns(table))
    for role, column in mapping.items():
        if column is not None and column not in found:
            raise _missing_column(section, source, column, role, found)
    return found


def _check_contact_columns(stage: Warehouse, contacts: ContactsTable) -> list[str]:
    found = _check_named(stage, "contacts", contacts.source, "src_contacts",
                         contacts.columns.model_dump())  # fmt: skip
    for key in ("exclude", "known_after_contact", "known_before_contact"):
        for column in getattr(contacts, key):
            if column not in found:
                raise _missing_column("contacts", contacts.source, column, key, found)
    mapped = {c for c in contacts.columns.model_dump().values() if c is not None}
    listed = set(contacts.exclude) | set(contacts.known_after_contact)
    return [c for c in found if c not in mapped and c not in listed]


def _known_before(contacts: ContactsTable) -> list[str]:
    """``known_before_contact`` columns that carry a role, as role names."""
    role_of = {column: role for role, column in contacts.columns.model_dump().items() if column}
    return [role_of[c] for c in contacts.known_before_contact if c in role_of]


def _base_type(duck_type: str) -> str:
    return duck_type.split("(")[0].strip()


def _id_type(stage: Warehouse, contacts: ContactsTable, events: EventsTable,
             outcomes: OutcomesTable) -> str:  # fmt: skip
    """BIGINT when every table's id column is an integer, else VARCHAR (ids compared as text)."""
    types = [
        _base_type(stage.columns(table)[columns.contact_id])
        for table, columns in (("src_contacts", contacts.columns), ("src_events", events.columns),
                               ("src_outcomes", outcomes.columns))
    ]  # fmt: skip
    return "BIGINT" if all(t in _INTEGER_TYPES for t in types) else "VARCHAR"


def _q(column: str) -> str:
    """A team's column name quoted for the DuckDB stage (spaces, punctuation, any case)."""
    return '"' + column.replace('"', '""') + '"'


def _convert(column: str, duck_type: str, kind: Kind, id_type: str) -> tuple[str, str | None]:
    """SQL for the converted value of ``column`` and for "it did not convert" (None when
    every value converts); raises ValueError when the type cannot hold such values."""
    q = _q(column)
    base = _base_type(duck_type)
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
        if base in _NUMBER_TYPES:
            return f"CAST({q} AS DOUBLE)", None
        if base == "VARCHAR":
            value = f"try_cast(replace({text}, ',', '') AS DOUBLE)"
            return value, f"{text} IS NOT NULL AND {value} IS NULL"
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


def _build(stage: Warehouse, table: str, source_table: str, source: Source,
           mapping: dict[str, str | None], kinds: dict[str, Kind],
           id_type: str) -> list[DataValidationError]:  # fmt: skip
    """Create stage ``table`` (the standard columns) from ``source_table``; returns the
    values that did not convert, in the team's terms."""
    types = stage.columns(source_table)
    where = f"{table} ({_describe_source(source)})"
    selects, problems = [], []
    for role, kind in kinds.items():
        column = mapping.get(role)
        if column is None:
            if role == "amount":
                continue
            selects.append(f"CAST(NULL AS {_SQL_TYPE[kind]}) AS {quote_ident(role)}")
            continue
        try:
            value, bad = _convert(column, types[column], kind, id_type)
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
                    f"SELECT DISTINCT CAST({_q(column)} AS VARCHAR) AS v "
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
    "number": "numbers",
    "flag": "yes/no values (true/false, yes/no, y/n, 1/0)",
    "id": "ids",
    "text": "text",
}


def _recode(stage: Warehouse, table: str, column: str, mapping: Mapping[str, str],
            select: str) -> None:  # fmt: skip
    """Rebuild stage ``table`` as ``SELECT select`` over itself (alias ``t``) left-joined to
    ``mapping`` (alias ``m``: ``token``, ``value``) on the lower-cased ``column``."""
    lookup = pa.table({"token": list(mapping), "value": list(mapping.values())})
    with stage.registered(f"_{table}_map", lookup) as view:
        stage.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM {table} t "
                      f"LEFT JOIN {view} m ON m.token = lower(t.{column})")  # fmt: skip


def _map_event_types(stage: Warehouse, events: EventsTable) -> dict[str, int]:
    """Rewrite the team's event types to the standard ones; returns the most frequent values
    with no standard meaning and their counts."""
    known = {t: t for t in (*EVENT_TYPES, "sales_touch")}
    mapping = {**{normalise_token(t): t for t in known}, **events.type_mapping()}
    _recode(stage, "events", "event_type", mapping,
            "t.contact_id, t.occurred_at, coalesce(m.value, t.event_type) AS event_type")  # fmt: skip
    unmapped = stage.query(
        "SELECT event_type, count(*) AS n FROM events WHERE event_type NOT IN ("
        + ", ".join(f"'{t}'" for t in known)
        + ") GROUP BY 1 ORDER BY n DESC, event_type LIMIT 10"
    )
    return {str(v): int(n) for v, n in zip(unmapped["event_type"], unmapped["n"], strict=True)}


def _map_outcomes(stage: Warehouse, outcomes: OutcomesTable,
                  mapping: Mapping[str, str]) -> int:  # fmt: skip
    """Rewrite outcome values to won/lost, leave out open rows (returned as a count); other
    values are an error listing every value found."""
    _recode(stage, "outcomes", "outcome", mapping,
            "t.* EXCLUDE (outcome), m.value AS mapped, t.outcome AS original")  # fmt: skip
    unknown = stage.query(
        "SELECT coalesce(original, '<missing>') AS v, count(*) AS n FROM outcomes "
        "WHERE mapped IS NULL GROUP BY 1 ORDER BY n DESC, v"
    )
    if len(unknown):
        pairs = list(zip(unknown["v"], unknown["n"], strict=True))[:10]
        listing = ", ".join(f"{v!r} ({n:,})" for v, n in pairs)
        raise ContractViolations([DataValidationError(
            f"outcomes ({_describe_source(outcomes.source)})", outcomes.columns.outcome,
            f"values that are neither label.won_values, lost_values nor open_values; found "
            f"{listing}. Add each to one of those lists", count=int(unknown["n"].sum()),
            examples=unknown["v"].tolist()[:5])])  # fmt: skip
    open_rows = int(stage.scalar("SELECT count(*) FROM outcomes WHERE mapped = 'open'") or 0)
    cols = ["contact_id", "closed_at", "mapped AS outcome"]
    if outcomes.columns.amount is not None:
        cols.append("amount")
    stage.execute(f"CREATE OR REPLACE TABLE outcomes AS SELECT {', '.join(cols)} FROM outcomes "
                  "WHERE mapped <> 'open'")  # fmt: skip
    return open_rows


def _in_team_terms(problem: DataValidationError, contract: Contract) -> DataValidationError:
    """The same problem, naming the team's source and column instead of the standard ones."""
    contacts, events, outcomes, _ = contract.tables
    sections: dict[str, ContactsTable | EventsTable | OutcomesTable] = {
        CONTACTS: contacts, EVENTS: events, OUTCOMES: outcomes}  # fmt: skip
    section = sections.get(problem.table)
    if section is None:
        return problem
    column = problem.column
    if column is not None:
        column = section.columns.model_dump().get(column) or column
    text = problem.problem
    for standard, sec in ((CONTACTS, contacts), (EVENTS, events), (OUTCOMES, outcomes)):
        text = text.replace(f"table {standard!r}", f"{standard} ({_describe_source(sec.source)})")
    return DataValidationError(f"{problem.table} ({_describe_source(section.source)})", column,
                               text, count=problem.count, examples=problem.examples)  # fmt: skip


# --------------------------------------------------------------------------- writing


def _same_warehouse(source: Source, base_dir: Path, warehouse: str) -> bool:
    if source.kind not in ("duckdb", "postgresql"):
        return False
    url = source.warehouse_url(base_dir)
    a, b = WarehouseURL.parse(url), WarehouseURL.parse(warehouse)
    if a.engine != b.engine:
        return False
    if a.engine == "duckdb":
        return Path(a.database).resolve() == Path(b.database).resolve()
    return url == warehouse


def _in_place(contract: Contract, warehouse: str) -> bool:
    """True when the contract describes the warehouse's own standard tables as they are."""
    contacts, events, outcomes, label = contract.tables
    sections = ((CONTACTS, contacts), (EVENTS, events), (OUTCOMES, outcomes))
    for name, section in sections:
        if section.source.table != name or not _same_warehouse(
                section.source, contract.base_dir, warehouse):  # fmt: skip
            return False
        if section.columns.renames():
            return False
    if contacts.columns.missing_roles() or events.event_types or outcomes.columns.amount:
        return False
    mapping = label.mapping()
    return mapping == {"won": "won", "lost": "lost"}


def _fingerprint(contract: Contract) -> str | None:
    """A digest of the contract's tables sections and its file sources' sizes and times;
    None when a source is a database table (it cannot be checked cheaply)."""
    contacts, events, outcomes, label = contract.tables
    parts: list[object] = [label.model_dump(mode="json")]
    for section in (contacts, events, outcomes):
        parts.append(section.model_dump(mode="json"))
        source = section.source
        if source.kind not in ("csv", "parquet"):
            return None
        path = source.file_path(contract.base_dir).resolve()
        try:
            stat = path.stat()
        except OSError:
            return None
        parts.append([str(path), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def _previous_imports_at(warehouse: str) -> dict[str, tuple[str, int]]:
    parsed = WarehouseURL.parse(warehouse)
    if parsed.engine == "duckdb" and not Path(parsed.database).exists():
        return {}
    with Warehouse(warehouse, read_only=True) as wh:
        return _previous_imports(wh)


def _previous_imports(wh: Warehouse) -> dict[str, tuple[str, int]]:
    """Standard table -> (fingerprint, rows) of its last import into ``wh``."""
    if not wh.has_table(IMPORTS):
        return {}
    rows = wh.query(f"SELECT table_name, fingerprint, row_count FROM {IMPORTS}")
    return {str(t): (str(f), int(n)) for t, f, n in zip(
        rows["table_name"], rows["fingerprint"], rows["row_count"], strict=True)}  # fmt: skip


def _write(warehouse: str, arrow: dict[str, pa.Table], contract: Contract, fingerprint: str,
           now: datetime) -> dict[str, int]:  # fmt: skip
    contacts, events, outcomes, _ = contract.tables
    sources = {CONTACTS: contacts.source, EVENTS: events.source, OUTCOMES: outcomes.source}
    with Warehouse(warehouse) as wh:
        previous = _previous_imports(wh)
        foreign = [t for t in arrow if wh.has_table(t) and t not in previous]
        if foreign:
            raise ConfigError(
                f"warehouse {warehouse} already has table(s) {foreign} that leadscore did not "
                "import; they are never replaced. Import into another warehouse (e.g. "
                "--warehouse duckdb:///leadscore.duckdb in another folder) or drop them first"
            )
        for table, data in arrow.items():
            wh.drop_table(STAGING + table)
            wh.write_table(STAGING + table, data, replace=True)
        if not wh.has_table(IMPORTS):
            wh.write_table(IMPORTS, pa.table({
                "table_name": pa.array([], pa.string()), "source": pa.array([], pa.string()),
                "contract": pa.array([], pa.string()), "fingerprint": pa.array([], pa.string()),
                "row_count": pa.array([], pa.int64()),
                "imported_at": pa.array([], pa.timestamp("us"))}), replace=False)  # fmt: skip
        contract_path = str(contract.path) if contract.path else "(in memory)"
        with wh.transaction():
            for table, data in arrow.items():
                wh.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
                wh.execute(f"ALTER TABLE {quote_ident(STAGING + table)} RENAME TO "
                           f"{quote_ident(table)}")  # fmt: skip
                wh.execute(f"DELETE FROM {IMPORTS} WHERE table_name = ?", [table])
                wh.execute(
                    f"INSERT INTO {IMPORTS} VALUES (?, ?, ?, ?, ?, CAST(? AS TIMESTAMP))",
                    [table, _describe_source(sources[table]), contract_path, fingerprint,
                     data.num_rows, now],
                )  # fmt: skip
        for table, data in arrow.items():
            log.info("imported %s rows into %s.%s", data.num_rows, warehouse, table)
        return {table: data.num_rows for table, data in arrow.items()}


__all__ = ["IMPORTS", "ImportResult", "import_tables"]
