"""The contract file (``leadscore.yaml``): where a team's data lives and what its columns mean.

Contract:

- :func:`load_contract` reads a YAML file into a typed :class:`Contract` (pydantic,
  ``extra="forbid"`` on every section). Anything wrong (bad YAML, a duplicate key, an unknown
  key, a missing key, a wrong value, a column given two roles) raises
  :class:`~features._errors.ConfigError` naming the file, the key path (``leads.source.kind``)
  and what was expected; every problem is listed, not only the first.
- Two modes (DESIGN.md section 2):

  * ``mode: tables``: ``contacts``, ``events`` and ``outcomes`` map the team's table and
    column names to the roles of the data contract (``columns:``; unmapped attribute roles
    default to their own names, ``null`` means "we do not have it"), ``events.event_types``
    maps the team's event values to the standard types, and ``label`` says which outcome
    values count as won, lost or still open and the horizon in days (the commands import
    such a contract with :func:`features._import.import_tables`);
  * ``mode: flat``: one ``leads`` table or file (a CRM export) with an optional ``id``
    (without one, rows are numbered in source order; an id growing with time may also be
    the ``order_by`` column), a
    ``label`` column, optional ``created_at`` *or* ``order_by`` (``row_order``: the source's
    rows are in time order, oldest first; or a column whose ascending order is time), and
    the column lists ``exclude`` (not used), ``known_after_contact`` (filled in after contact:
    never used), ``known_before_contact`` (declared safe: the leakage guard reports them but
    does not stop on them), ``rule_score`` (an existing score to compare the model against)
    and ``column_types`` (overrides of the automatic typing).

- Every table has a ``source``: ``kind: csv | parquet`` with ``path`` (relative paths are
  relative to the contract file's folder; a CSV may give ``delimiter``, detected among
  ``, ; tab |`` when left out, and ``encoding``, UTF-8 by default), ``kind: duckdb`` with
  ``path`` or ``url: duckdb:///...`` and ``table``, or ``kind: postgresql`` with ``url`` and
  ``table``. A
  PostgreSQL URL may leave the password to libpq (``PGPASSWORD``, ``~/.pgpass``), which keeps
  it out of the file.
- :func:`write_starting_contract` inspects a source and returns the text of a starting flat
  contract, with comments and TODOs where it could not decide; the text loads back with
  :func:`load_contract`.

In YAML only ``true``/``false`` are booleans here: ``yes``, ``no``, ``on`` and ``off`` stay
text, so ``label_values: {won: [yes]}`` means the string ``"yes"``.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import json
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pandas as pd
from leadscore.features._errors import ConfigError
from leadscore.features._yaml import load_yaml_mapping
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

if TYPE_CHECKING:
    from leadscore.features._flat import ColumnProfile

ROW_ORDER = "row_order"
"""``order_by: row_order``: the source's rows are in time order, oldest first."""

CSV_DELIMITERS = ",;\t|"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ColumnKind = Literal["numeric", "categorical", "boolean"]
"""How a feature column is used: a number, a category, or a yes/no flag (as 1.0/0.0)."""


def _column_name(value: object) -> object:
    # YAML reads a column called 2019 as an int; a column name is always text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


ColumnName = Annotated[str, BeforeValidator(_column_name), Field(min_length=1)]
"""A column name as the team spells it (numbers in YAML are read as text)."""


def _label_token(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}"
    return value


LabelToken = Annotated[str, BeforeValidator(_label_token), Field(min_length=1)]
"""A label value as it appears in the data (matched case-insensitively, trimmed)."""


def normalise_token(value: object) -> str:
    """The form label values are compared in: text, trimmed, lower case."""
    token = _label_token(value)
    return str(token).strip().casefold()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- sources


class Source(_Strict):
    """Where one table's rows come from (see the module docstring)."""

    kind: Literal["csv", "parquet", "duckdb", "postgresql"]
    path: str | None = Field(default=None, min_length=1)
    url: str | None = Field(default=None, min_length=1)
    table: str | None = Field(default=None, min_length=1)
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _keys_fit_the_kind(self) -> Source:
        kind = self.kind
        if kind in ("csv", "parquet"):
            if self.path is None:
                raise ValueError(f"a {kind} source needs 'path' (the file)")
            for key in ("url", "table"):
                if getattr(self, key) is not None:
                    raise ValueError(f"a {kind} source takes 'path' only, not {key!r}")
            if kind == "parquet":
                for key in ("delimiter", "encoding"):
                    if getattr(self, key) is not None:
                        raise ValueError(f"{key!r} applies to csv sources only")
            return self
        for key in ("delimiter", "encoding"):
            if getattr(self, key) is not None:
                raise ValueError(f"{key!r} applies to csv sources only")
        if self.table is None:
            raise ValueError(f"a {kind} source needs 'table' (the table's name)")
        if not _IDENT.match(self.table):
            raise ValueError(
                f"table must be a plain identifier (letters, digits, _), got {self.table!r}; "
                "for a PostgreSQL schema add ?schema=NAME to the url"
            )
        if kind == "duckdb":
            if (self.path is None) == (self.url is None):
                raise ValueError(
                    "a duckdb source needs exactly one of 'path' (the .duckdb "
                    "file) or 'url' (duckdb:///...)"
                )
            if self.url is not None and not self.url.startswith("duckdb:///"):
                raise ValueError(f"a duckdb url starts with 'duckdb:///', got {self.url!r}")
        else:
            if self.path is not None:
                raise ValueError("a postgresql source takes 'url', not 'path'")
            if self.url is None or not self.url.startswith(("postgresql://", "postgres://")):
                raise ValueError(
                    "a postgresql source needs 'url: postgresql://user@host:5432/db'"
                    + (f", got {self.url!r}" if self.url else "")
                )
        return self

    def warehouse_url(self, base_dir: Path) -> str:
        """The :class:`~features._warehouse.Warehouse` URL of a duckdb or postgresql source."""
        if self.kind not in ("duckdb", "postgresql"):
            raise ConfigError(f"a {self.kind} source is a file, not a warehouse")
        if self.url is not None:
            return self.url
        return f"duckdb:///{self.file_path(base_dir)}"

    def checked_warehouse_url(self, base_dir: Path, where: str) -> str:
        """:meth:`warehouse_url`, after checking a DuckDB file source exists (a ConfigError
        starting with ``where`` otherwise: opening it would create an empty database)."""
        if self.kind == "duckdb" and self.path is not None:
            path = self.file_path(base_dir)
            if not path.exists():
                raise ConfigError(f"{where}: DuckDB file {str(path)!r} does not exist")
        return self.warehouse_url(base_dir)

    def file_path(self, base_dir: Path) -> Path:
        """The source's file, relative paths resolved against ``base_dir``."""
        if self.path is None:
            raise ConfigError(f"a {self.kind} source given by url has no file path")
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else base_dir / path

    @property
    def name(self) -> str:
        """A short name for messages: the table, or the file name."""
        if self.table is not None:
            return self.table
        return Path(self.path or "").name


# --------------------------------------------------------------------------- flat mode


class LabelValues(_Strict):
    """Extra label spellings: values meaning won, lost, or not decided yet (``open``).

    They extend the built-in vocabulary (1/0, true/false, yes/no, won/lost) and win over it.
    Rows whose label is ``open`` are left out of training, counted and reported.
    """

    won: list[LabelToken] = Field(default_factory=list)
    lost: list[LabelToken] = Field(default_factory=list)
    open: list[LabelToken] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> LabelValues:
        if not (self.won or self.lost or self.open):
            raise ValueError("give at least one of 'won', 'lost', 'open'")
        seen: dict[str, str] = {}
        for outcome in ("won", "lost", "open"):
            for value in getattr(self, outcome):
                token = normalise_token(value)
                if token in seen and seen[token] != outcome:
                    raise ValueError(
                        f"value {value!r} is listed under both {seen[token]!r} and {outcome!r}"
                    )
                seen[token] = outcome
        return self

    def mapping(self) -> dict[str, str]:
        """Normalised value (see :func:`normalise_token`) to ``won``, ``lost`` or ``open``."""
        return {
            normalise_token(value): outcome
            for outcome in ("won", "lost", "open")
            for value in getattr(self, outcome)
        }


class LeadsTable(_Strict):
    """The one table of flat mode (a CRM export): its source and what its columns mean."""

    source: Source
    id: ColumnName | None = None
    label: ColumnName
    label_values: LabelValues | None = None
    created_at: ColumnName | None = None
    order_by: ColumnName | None = None
    rule_score: ColumnName | None = None
    exclude: list[ColumnName] = Field(default_factory=list)
    known_after_contact: list[ColumnName] = Field(default_factory=list)
    known_before_contact: list[ColumnName] = Field(default_factory=list)
    column_types: dict[ColumnName, ColumnKind] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_role_per_column(self) -> LeadsTable:
        if self.created_at is not None and self.order_by is not None:
            raise ValueError(
                "give 'created_at' (a creation timestamp) or 'order_by' (row order as time), "
                "not both"
            )
        if self.order_by == ROW_ORDER and self.source.kind == "postgresql":
            raise ValueError(
                "order_by: row_order needs a source with a row order; a PostgreSQL table has "
                "none: name the column to order by instead"
            )
        # an id that grows with time (a lead number) may also be the order_by column
        ordered_by_id = self.order_by is not None and self.order_by == self.id
        roles = {
            "id": self.id,
            "label": self.label,
            "created_at": self.created_at,
            "order_by": None if self.order_by == ROW_ORDER or ordered_by_id else self.order_by,
            "rule_score": self.rule_score,
        }
        owner: dict[str, str] = {}
        for role, column in roles.items():
            if column is None:
                continue
            if column in owner:
                raise ValueError(f"column {column!r} is both {owner[column]!r} and {role!r}")
            owner[column] = role
        for key in ("exclude", "known_after_contact", "known_before_contact"):
            for column in getattr(self, key):
                if column in owner:
                    raise ValueError(
                        f"{key}: column {column!r} is already {owner[column]!r}; "
                        "a column has one role"
                    )
                owner[column] = key
        for column in self.column_types:
            if owner.get(column) in (*roles, "exclude", "known_after_contact"):
                raise ValueError(
                    f"column_types: column {column!r} is {owner[column]!r}, not a feature"
                )
        return self

    @property
    def time_column(self) -> str | None:
        """The column that orders rows in time (created_at or order_by), if any."""
        if self.created_at is not None:
            return self.created_at
        if self.order_by is not None and self.order_by != ROW_ORDER:
            return self.order_by
        return None

    def role_columns(self) -> list[str]:
        """The columns with a role (id, label, time, rule score), in that order, once each."""
        columns = [self.id, self.label, self.time_column, self.rule_score]
        return list(dict.fromkeys(c for c in columns if c is not None))

    def named_columns(self) -> list[str]:
        """Every column the contract names, which the source must therefore have."""
        named = [
            *self.role_columns(),
            *self.exclude,
            *self.known_after_contact,
            *self.known_before_contact,
            *self.column_types,
        ]
        return list(dict.fromkeys(named))


# --------------------------------------------------------------------------- tables mode


class _Columns(_Strict):
    """A table's role-to-column mapping."""

    def renames(self) -> dict[str, str]:
        """Team column name to role name, for every mapped role whose names differ (for
        ``frame.rename(columns=...)``)."""
        return {
            column: role
            for role, column in self.model_dump().items()
            if column is not None and column != role
        }

    def missing_roles(self) -> list[str]:
        """Roles mapped to ``null``: the team does not have them."""
        return [role for role, column in self.model_dump().items() if column is None]


class ContactsColumns(_Columns):
    """The team's column for each contacts role; ``null`` for attributes it does not have."""

    contact_id: ColumnName = "contact_id"
    created_at: ColumnName = "created_at"
    title: ColumnName | None = "title"
    company_size: ColumnName | None = "company_size"
    industry: ColumnName | None = "industry"
    country: ColumnName | None = "country"
    lead_source: ColumnName | None = "lead_source"
    email_domain: ColumnName | None = "email_domain"
    phone_valid: ColumnName | None = "phone_valid"
    buying_timeline: ColumnName | None = "buying_timeline"
    requested_demo: ColumnName | None = "requested_demo"


class EventsColumns(_Columns):
    """The team's column for each events role."""

    contact_id: ColumnName = "contact_id"
    occurred_at: ColumnName = "occurred_at"
    event_type: ColumnName = "event_type"


class OutcomesColumns(_Columns):
    """The team's column for each outcomes role (``amount`` is optional)."""

    contact_id: ColumnName = "contact_id"
    closed_at: ColumnName = "closed_at"
    outcome: ColumnName = "outcome"
    amount: ColumnName | None = None


def _distinct_columns(columns: BaseModel) -> None:
    owner: dict[str, str] = {}
    for role, column in columns.model_dump().items():
        if column is None:
            continue
        if column in owner:
            raise ValueError(f"column {column!r} is mapped to both {owner[column]!r} and {role!r}")
        owner[column] = role


class ContactsTable(_Strict):
    """The contacts table: one row per lead, attributes as known at creation."""

    source: Source
    columns: ContactsColumns = Field(default_factory=ContactsColumns)
    exclude: list[ColumnName] = Field(default_factory=list)
    known_after_contact: list[ColumnName] = Field(default_factory=list)
    known_before_contact: list[ColumnName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> ContactsTable:
        _distinct_columns(self.columns)
        mapped = {c for c in self.columns.model_dump().values() if c is not None}
        seen: dict[str, str] = {}
        for key in ("exclude", "known_after_contact", "known_before_contact"):
            for column in getattr(self, key):
                if column in (self.columns.contact_id, self.columns.created_at):
                    raise ValueError(f"{key}: {column!r} is a key column and is always used")
                if column in seen:
                    raise ValueError(f"column {column!r} is in both {seen[column]!r} and {key!r}")
                if key != "known_before_contact" and column in mapped:
                    raise ValueError(
                        f"{key}: {column!r} is mapped to a role in 'columns'; map the role to "
                        "null instead"
                    )
                seen[column] = key
        return self


class EventsTable(_Strict):
    """The events table: engagement history, one row per event.

    ``event_types`` maps the standard event types (DESIGN.md section 2: ``email_open``,
    ``pricing_page_view``, ``demo_request`` ...) to the team's own values, e.g.
    ``pricing_page_view: [Viewed Pricing, Pricing Page]`` (matched trimmed and
    case-insensitively). Values that are neither mapped nor standard are kept: they count in
    the all-activity features (totals, recency, active days) but in no per-type feature, and
    the import reports them.
    """

    source: Source
    columns: EventsColumns = Field(default_factory=EventsColumns)
    event_types: dict[str, list[LabelToken]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> EventsTable:
        from leadscore.features._schema import EVENT_TYPES, SALES_TOUCH

        _distinct_columns(self.columns)
        known = (*EVENT_TYPES, SALES_TOUCH)
        seen: dict[str, str] = {}
        for standard, values in self.event_types.items():
            if standard not in known:
                close = difflib.get_close_matches(standard, known, n=1)
                raise ValueError(
                    f"event_types: {standard!r} is not a standard event type"
                    + (f"; did you mean {close[0]!r}?" if close else "")
                    + f" (standard: {', '.join(known)})"
                )
            for value in values:
                token = normalise_token(value)
                if token in seen and seen[token] != standard:
                    raise ValueError(
                        f"event_types: value {value!r} is mapped to both {seen[token]!r} and "
                        f"{standard!r}"
                    )
                seen[token] = standard
        return self

    def type_mapping(self) -> dict[str, str]:
        """Normalised team value (see :func:`normalise_token`) to standard event type."""
        return {
            normalise_token(value): standard
            for standard, values in self.event_types.items()
            for value in values
        }


class OutcomesTable(_Strict):
    """The outcomes table: closed opportunities; a contact without one is open."""

    source: Source
    columns: OutcomesColumns = Field(default_factory=OutcomesColumns)

    @model_validator(mode="after")
    def _check(self) -> OutcomesTable:
        _distinct_columns(self.columns)
        return self


class LabelDefinition(_Strict):
    """Which outcome values count as won or lost, and how far ahead a snapshot looks."""

    won_values: list[LabelToken] = Field(default_factory=lambda: ["won"], min_length=1)
    lost_values: list[LabelToken] = Field(default_factory=lambda: ["lost"], min_length=1)
    open_values: list[LabelToken] = Field(default_factory=list)
    horizon_days: int = Field(default=90, gt=0, le=3650)

    def outcome_of(self, value: object) -> Literal["won", "lost", "open"] | None:
        """``won``, ``lost`` or ``open`` (not decided: the row is not an outcome) for an
        outcome value (trimmed, case-insensitive); None for any other value."""
        token = normalise_token(value)
        return self.mapping().get(token)

    def mapping(self) -> dict[str, Literal["won", "lost", "open"]]:
        """Normalised value (see :func:`normalise_token`) to ``won``, ``lost`` or ``open``."""
        out: dict[str, Literal["won", "lost", "open"]] = {}
        for value in self.open_values:
            out[normalise_token(value)] = "open"
        for value in self.lost_values:
            out[normalise_token(value)] = "lost"
        for value in self.won_values:
            out[normalise_token(value)] = "won"
        return out

    @model_validator(mode="after")
    def _disjoint(self) -> LabelDefinition:
        groups = {
            key: {normalise_token(v) for v in getattr(self, key)}
            for key in ("won_values", "lost_values", "open_values")
        }
        for a, b in (("won_values", "lost_values"), ("won_values", "open_values"),
                     ("lost_values", "open_values")):  # fmt: skip
            both = groups[a] & groups[b]
            if both:
                raise ValueError(f"values {sorted(both)} are in both {a} and {b}")
        return self


# --------------------------------------------------------------------------- the contract

_FLAT_ONLY = ("leads",)
_TABLES_ONLY = ("contacts", "events", "outcomes", "label")


class Contract(_Strict):
    """A whole contract file: flat mode (``leads``) or tables mode (the three tables)."""

    mode: Literal["flat", "tables"]
    leads: LeadsTable | None = None
    contacts: ContactsTable | None = None
    events: EventsTable | None = None
    outcomes: OutcomesTable | None = None
    label: LabelDefinition | None = None

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _sections_fit_the_mode(self) -> Contract:
        if self.mode == "flat":
            if self.leads is None:
                raise ValueError("mode 'flat' needs a 'leads' section")
            extra = [key for key in _TABLES_ONLY if getattr(self, key) is not None]
            if extra:
                raise ValueError(f"{extra} belong to mode 'tables', not 'flat'")
        else:
            missing = [
                key for key in ("contacts", "events", "outcomes") if getattr(self, key) is None
            ]
            if missing:
                raise ValueError(f"mode 'tables' needs sections {missing}")
            if self.leads is not None:
                raise ValueError("'leads' belongs to mode 'flat', not 'tables'")
            if self.label is None:
                self.label = LabelDefinition()
        return self

    @property
    def path(self) -> Path | None:
        """The file the contract was read from (None when built in memory)."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """The folder relative source paths are resolved against: the file's, else the cwd."""
        return self._path.parent if self._path is not None else Path.cwd()

    @property
    def tables(self) -> tuple[ContactsTable, EventsTable, OutcomesTable, LabelDefinition]:
        """The tables-mode sections; a ConfigError unless the contract is in tables mode."""
        if (self.contacts is None or self.events is None or self.outcomes is None
                or self.label is None):  # fmt: skip
            raise ConfigError(f"contract {self._where()} is in mode {self.mode!r}, not 'tables'")
        return self.contacts, self.events, self.outcomes, self.label

    @property
    def flat(self) -> LeadsTable:
        """The ``leads`` section; a ConfigError unless the contract is in flat mode."""
        if self.leads is None:
            raise ConfigError(f"contract {self._where()} is in mode {self.mode!r}, not 'flat'")
        return self.leads

    def _where(self) -> str:
        return repr(str(self._path)) if self._path is not None else "(in memory)"


# --------------------------------------------------------------------------- loading


def load_contract(path: str | Path) -> Contract:
    """Read and validate a contract file; relative source paths resolve against its folder.

    Raises :class:`ConfigError` naming the file, each problem's key path and what was
    expected.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"contract file {str(file)!r}: cannot read it ({exc})") from exc
    contract = parse_contract(text, str(file))
    contract._path = file.resolve()
    return contract


def parse_contract(text: str, source: str = "<in-memory contract>") -> Contract:
    """Validate a contract given as YAML text; ``source`` names it in error messages."""
    data = load_yaml_mapping(text, f"contract file {source!r}", _allowed_keys(Contract))
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        problems = list(dict.fromkeys(_describe(error) for error in exc.errors()))
        if len(problems) == 1:
            raise ConfigError(f"contract file {source!r}: {problems[0]}") from None
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            f"contract file {source!r} has {len(problems)} problems:\n{listing}"
        ) from None


def _allowed_keys(model: type[BaseModel]) -> str:
    return ", ".join(field.alias or name for name, field in model.model_fields.items())


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``Source | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _model_at(loc: Sequence[int | str]) -> type[BaseModel]:
    """The model whose key is the last part of ``loc`` (for "allowed keys" hints)."""
    model: type[BaseModel] = Contract
    for part in loc:
        if isinstance(part, int) or part not in model.model_fields:
            continue
        inner = _model_in(model.model_fields[part].annotation)
        if inner is None:
            break
        model = inner
    return model


_HINTS = {
    "horizon_days": "horizon_days applies to mode 'tables'; a flat export's label is already "
    "decided",
}


def _describe(error: Any) -> str:
    """One readable line for one pydantic error: the key path, then the problem."""
    loc: tuple[int | str, ...] = tuple(error["loc"])
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        unknown = str(loc[-1])
        problem = f"unknown key {unknown!r} (allowed: {_allowed_keys(parent)})"
        close = difflib.get_close_matches(unknown, list(parent.model_fields), n=1)
        if close:
            problem += f"; did you mean {close[0]!r}?"
        if unknown in _HINTS:
            problem += f"; {_HINTS[unknown]}"
        where = key.rsplit(".", 1)[0] if "." in key else ""
        return f"{where}: {problem}" if where else problem
    if kind == "missing":
        where = key.rsplit(".", 1)[0] if "." in key else ""
        problem = f"missing key {str(loc[-1])!r}"
        return f"{where}: {problem}" if where else problem
    if kind == "value_error" and "error" in error.get("ctx", {}):
        problem = str(error["ctx"]["error"])
    elif kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        problem = f"expected one of {expected}, got {error['input']!r}"
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
        problem = f"{message}, got {error['input']!r}"
    return f"{key}: {problem}" if key else problem


# --------------------------------------------------------------------------- init-contract

# Name hints, matched on a column's words (``Lead Status`` and ``leadStatus`` are
# ``lead``, ``status``) or on its snake_case form.
_LABEL_NAMES = frozenset(
    {
        "y",
        "label",
        "target",
        "won",
        "is_won",
        "converted",
        "is_converted",
        "conversion",
        "outcome",
        "result",
        "closed_won",
        "class",
        "status",
    }
)
_LABEL_WORDS = frozenset({"label", "target", "won", "converted", "outcome"})
_CREATED_WORDS = frozenset(
    {"created", "creation", "signup", "registered", "added", "inserted", "submitted"}
)
_CREATED_NAMES = frozenset({"create_date", "sign_up", "first_seen", "lead_date", "date_added"})
_ID_WORDS = frozenset({"id", "key", "uuid", "guid", "number", "no"})
_SCORE_WORDS = frozenset({"score", "grade", "rating"})
# Columns usually filled in during or after contact with sales.
_AFTER_CONTACT_WORDS = frozenset(
    {
        "status",
        "stage",
        "disposition",
        "outcome",
        "result",
        "reason",
        "notes",
        "note",
        "comment",
        "comments",
        "closed",
        "converted",
        "conversion",
        "won",
        "lost",
        "duration",
        "call",
        "calls",
        "contacted",
        "meeting",
        "meetings",
        "opportunity",
        "deal",
        "amount",
        "revenue",
        "modified",
        "updated",
    }
)
_AFTER_CONTACT_NAMES = ("last_activity", "last_contact", "last_touch", "last_call")
# Plain YAML scalars that would not be read back as the same text.
_YAML_WORDS = frozenset(
    {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "none", "~", ROW_ORDER}
)


def name_words(name: str) -> list[str]:
    """A column name's lower-case words: ``Lead Status``, ``leadStatus``, ``lead_status``
    all give ``['lead', 'status']``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _snake(name: str) -> str:
    return "_".join(name_words(name))


def _scalar(value: str) -> str:
    """``value`` as a one-line YAML scalar, quoted when YAML would misread it."""
    if _IDENT.match(value) and value.lower() not in _YAML_WORDS:
        return value
    if re.fullmatch(r"[A-Za-z_/.][\w .\-/]*[\w.]", value) and value.lower() not in _YAML_WORDS:
        return value  # plain text: Lead Number, emp.var.rate, /data/leads.csv
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def csv_dialect(path: Path, source: Source) -> tuple[str, str]:
    """The encoding and delimiter to read CSV source ``source`` at ``path`` with: UTF-8 is
    read byte-order-mark aware; a delimiter not given is detected (``,`` for ``.gz``)."""
    encoding = source.encoding or "utf-8"
    if encoding.lower().replace("-", "") == "utf8":
        encoding = "utf-8-sig"  # a byte-order mark is not part of the first column's name
    delimiter = source.delimiter
    if delimiter is None:
        delimiter = "," if path.suffix == ".gz" else detect_delimiter(path, encoding)
    return encoding, delimiter


def detect_delimiter(path: Path, encoding: str = "utf-8-sig") -> str:
    """The CSV delimiter among ``, ; tab |`` (``,`` when the sniffer cannot tell)."""
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(65536)
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _only_table(url: str, source: str) -> str:
    from leadscore.features._warehouse import Warehouse

    with Warehouse(url, read_only=True) as wh:
        found = wh.tables()
    if len(found) != 1:
        raise ConfigError(
            f"source {source!r} holds {len(found)} tables {found}; name the leads table with "
            "--table"
        )
    return found[0]


def _source_for(
    source: str, table: str | None, delimiter: str | None, contract_dir: Path | None
) -> Source:
    """The contract's ``source`` section for a path or URL given on the command line."""
    if source.startswith(("duckdb:///", "postgresql://", "postgres://")):
        kind: Literal["duckdb", "postgresql"] = (
            "duckdb" if source.startswith("duckdb:") else "postgresql"
        )
        return Source(kind=kind, url=source, table=table or _only_table(source, source))
    path = Path(source).expanduser()
    if not path.exists():
        raise ConfigError(f"source file {source!r} does not exist")
    written = str(path.resolve())
    if contract_dir is not None:
        with contextlib.suppress(ValueError):  # outside the folder: keep it absolute
            written = str(path.resolve().relative_to(contract_dir.resolve()))
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".parquet", ".pq")):
        return Source(kind="parquet", path=written)
    if suffix.endswith((".duckdb", ".db")):
        table = table or _only_table(f"duckdb:///{path}", source)
        return Source(kind="duckdb", path=written, table=table)
    if suffix.endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")):
        found = delimiter or ("," if suffix.endswith(".gz") else detect_delimiter(path))
        return Source(kind="csv", path=written, delimiter=None if found == "," else found)
    raise ConfigError(
        f"source {source!r}: expected a .csv, .parquet or .duckdb file, or a "
        "duckdb:///... or postgresql://... URL"
    )


def write_starting_contract(
    source: str,
    *,
    table: str | None = None,
    delimiter: str | None = None,
    contract_dir: str | Path | None = None,
    sample_rows: int = 100_000,
) -> str:
    """The text of a starting flat-mode contract for ``source``, with comments and TODOs.

    ``source`` is a CSV or Parquet file, a ``.duckdb`` file or a ``duckdb:///`` or
    ``postgresql://`` URL (then ``table`` names the leads table; it may be left out when the
    database holds only one). The first ``sample_rows`` rows are read and every column is
    typed the way :func:`features._flat.load_flat` would type it. The id, label and
    created_at columns are guessed by name and content:

    - label: a column whose values all read as won or lost (both present), preferring
      label-like names (``converted``, ``won``, ``target``, ``y`` ...); without one, the
      label reads ``TODO`` (it loads, and fails by name until edited) with the spellings of
      a label-like column to map under ``label_values``;
    - id: a column unique and never empty in the rows read whose name ends like an id;
    - created_at: a date column named like a creation date; otherwise a TODO suggesting
      ``order_by``.

    Columns named like things filled in during or after contact (status, stage, notes, call
    duration ...) are listed under ``known_after_contact`` for the reader to confirm:
    leaving out a column wrongly costs a feature, keeping a leak fools everyone. ``source``
    paths are written relative to ``contract_dir`` (the folder the contract will be saved
    in) when the file lies inside it, else absolute. The text loads with
    :func:`load_contract`.
    """
    # _flat reads sources and types columns; it imports this module, hence the late import.
    from leadscore.features._flat import profile_columns, read_source

    base = Path(contract_dir) if contract_dir is not None else None
    src = _source_for(source, table, delimiter, base)
    frame = read_source(src, base or Path.cwd(), limit=sample_rows)
    profiles = profile_columns(frame)
    label, maybe_label, label_lines = _guess_label(frame, profiles)
    id_column, id_note = _guess_id(profiles)
    created, created_note = _guess_created(profiles)
    taken = {label, maybe_label, id_column, created}
    after = [p for p in profiles if p.column not in taken and _after_contact(p.column)]
    scores = [p.column for p in profiles if p.column not in taken and p.kind == "numeric"
              and set(name_words(p.column)) & _SCORE_WORDS]  # fmt: skip

    lines = [
        "# leadscore contract (flat mode): a starting point written by `leadscore init-contract`",
        f"# from {source} ({len(frame)} rows read, {len(frame.columns)} columns).",
        '# Check every line marked TODO. Reference: DESIGN.md section 2, "Flat mode".',
        "mode: flat",
        "leads:",
        "  source:",
        f"    kind: {src.kind}",
    ]
    lines += [f"    {key}: {_scalar(getattr(src, key))}" for key in ("path", "url", "table")
              if getattr(src, key) is not None]  # fmt: skip
    if src.delimiter is not None:
        lines.append(f"    delimiter: {json.dumps(src.delimiter)}  # detected")
    if id_column is not None:
        lines.append(f"  id: {_scalar(id_column)}  # {id_note}")
    else:
        lines.append(f"  # id: TODO {id_note}")
    lines += label_lines
    if created is not None:
        lines.append(f"  created_at: {_scalar(created)}  # {created_note}")
    else:
        lines.append(f"  # TODO {created_note}.")
        if src.kind == "postgresql":  # a PostgreSQL table has no row order
            lines += ["  # If a column grows with time (a lead number), name it here:",
                      "  # order_by: COLUMN"]  # fmt: skip
        else:
            lines += ["  # If the rows are in time order (oldest first), uncomment:",
                      f"  # order_by: {ROW_ORDER}"]  # fmt: skip
        lines += ["  # Without created_at or order_by, splits are stratified-random and every",
                  "  # report says so."]  # fmt: skip
    if scores:
        lines += [f"  # TODO: {scores} look like an existing lead score; to compare the model "
                  "with it, uncomment:", f"  # rule_score: {_scalar(scores[0])}"]  # fmt: skip
    lines += [
        "  # Columns filled in after contact with sales are never used. TODO: confirm",
        "  # (the names below suggest it); add any others, e.g. a status set after a call.",
    ]
    if after:
        lines.append("  known_after_contact:")
        lines += [f"    - {_scalar(p.column)}  # {p.summary()}" for p in after]
    else:
        lines.append("  known_after_contact: []")
    lines += [
        "  # Columns to leave out for other reasons:",
        "  exclude: []",
        "  # Columns the leakage guard may flag although they are known before contact:",
        "  known_before_contact: []",
        "  # Every column found, typed as leadscore would use it (first rows read):",
    ]
    width = max((len(p.column) for p in profiles), default=0)
    roles = {label: "label", maybe_label: "label?", id_column: "id", created: "created_at"}
    roles.update({p.column: "known_after_contact" for p in after})
    for p in profiles:
        role = roles.get(p.column)
        lines.append(f"  #   {p.column:<{width}}  " + (f"({role})" if role else p.summary()))
    return "\n".join(lines) + "\n"


def _after_contact(column: str) -> bool:
    snake = _snake(column)
    return bool(set(name_words(column)) & _AFTER_CONTACT_WORDS) or any(
        name in snake for name in _AFTER_CONTACT_NAMES
    )


def _guess_label(
    frame: pd.DataFrame, profiles: Sequence[ColumnProfile]
) -> tuple[str | None, str | None, list[str]]:
    """The label column (or None), a column that may be the label once its values are
    mapped (or None), and the contract lines that say so."""
    from leadscore.features._flat import label_outcome

    def outcomes(column: str) -> list[tuple[object, int, str | None]]:
        """(value, rows, won/lost/None) for each value of ``column``, most rows first."""
        counts = frame[column].value_counts()
        return [(v, int(n), label_outcome(v)) for v, n in counts.items()]

    def labelled(column: str) -> bool:
        return {outcome for _, _, outcome in outcomes(column)} == {"won", "lost"}

    def rank(column: str) -> tuple[int, int]:
        named = _snake(column) in _LABEL_NAMES or bool(set(name_words(column)) & _LABEL_WORDS)
        return (0 if named else 1, -list(frame.columns).index(column))  # named, then last

    candidates = [p.column for p in profiles if labelled(p.column)]
    if candidates:
        column = min(candidates, key=rank)
        shown = ", ".join(f"{_short(v)} {n} rows ({o})" for v, n, o in outcomes(column))
        lines = [f"  label: {_scalar(column)}  # guessed: {shown}"]
        others = [c for c in candidates if c != column]
        if others:
            lines.append(f"  # TODO: other columns holding only won/lost values: {others}")
        return column, None, lines
    named = [p.column for p in profiles if _snake(p.column) in _LABEL_NAMES]
    if named:
        column = named[-1]
        counts = frame[column].value_counts().head(8)
        shown = ", ".join(f"{_short(v)} ({int(n)})" for v, n in counts.items())
        return (
            None,
            column,
            [
                "  label: TODO  # TODO no column holds only won/lost values (1/0, yes/no ...)",
                f"  # TODO: {column!r} may be the label; its values: {shown}.",
                f"  # If so: label: {_scalar(column)}, and map its values, e.g.",
                "  # label_values: {won: [...], lost: [...], open: [...]}",
            ],
        )
    return (
        None,
        None,
        ["  label: TODO  # TODO no column holds only won/lost values (1/0, yes/no ...)"],
    )


def _short(value: object, width: int = 24) -> str:
    text = repr(value.item() if hasattr(value, "item") else value)
    return text if len(text) <= width else text[: width - 4] + "...'"


def _guess_id(profiles: Sequence[ColumnProfile]) -> tuple[str | None, str]:
    unique = [p.column for p in profiles if p.rows and p.missing == 0 and p.distinct == p.rows]
    named = [c for c in unique if name_words(c) and name_words(c)[-1] in _ID_WORDS]
    if named:
        return named[0], "guessed: unique and never empty in the rows read"
    if unique:
        return None, (
            f"columns {unique} are unique in every row read; set id: to the one that "
            "identifies a lead (without id, rows are numbered in source order)"
        )
    return None, "no column is unique in every row; without id, rows are numbered in source order"


def _guess_created(profiles: Sequence[ColumnProfile]) -> tuple[str | None, str]:
    dates = [p.column for p in profiles if p.kind == "datetime"]
    named = [c for c in dates
             if set(name_words(c)) & _CREATED_WORDS or _snake(c) in _CREATED_NAMES]  # fmt: skip
    if named:
        note = "guessed: a date column named like a creation date"
        if len(dates) > 1:
            note += f"; other date columns: {[c for c in dates if c != named[0]]}"
        return named[0], note
    if dates:
        return None, (
            f"date columns {dates} found, none named like a creation date; set "
            "created_at: to the one recording when the lead was created"
        )
    return None, "no date column found"
