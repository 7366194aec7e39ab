"""The contract file (``leadscore.yaml``): where a team's data lives and what its columns mean.

Contract:

- :func:`load_contract` reads a YAML file into a typed :class:`Contract` (pydantic,
  ``extra="forbid"`` on every section). Anything wrong (bad YAML, a duplicate key, an unknown
  key, a missing key, a wrong value, a column given two roles) raises
  :class:`~features._errors.ConfigError` naming the file, the key path
  (``contacts.source.kind``) and what was expected; every problem is listed, not only the
  first.
- One format for every shape of data (DESIGN.md section 2): ``contacts`` (an id, an
  optional creation time, the standard roles the team has, every other column an attribute
  of its own), optional ``events`` (the team's own event types, with optional meanings),
  the outcomes as an ``outcomes`` table *or* an ``outcome`` column on the contacts (a single
  CRM export), ``label`` (which values are won, lost or open; the horizon) and ``decision``
  (handoff or pipeline). The commands import a contract with
  :func:`features._import.import_tables`.
- Every table has a ``source``: ``kind: csv | parquet`` with ``path`` (relative paths are
  relative to the contract file's folder; a CSV may give ``delimiter``, detected among
  ``, ; tab |`` when left out, and ``encoding``, UTF-8 by default), ``kind: duckdb`` with
  ``path`` or ``url: duckdb:///...`` and ``table``, ``kind: postgresql`` with ``url`` and
  ``table``, or ``kind: warehouse`` with ``table`` (a table of the ``--warehouse`` itself).
  A PostgreSQL URL may leave the password to libpq (``PGPASSWORD``, ``~/.pgpass``), which
  keeps it out of the file.
- :func:`default_contract` is the packaged contract of the demo warehouse (its own
  standard tables), so the demo runs through the same code as every team's data.

In YAML only ``true``/``false`` are booleans here: ``yes``, ``no``, ``on`` and ``off`` stay
text, so ``won_values: [yes]`` means the string ``"yes"``.
"""

from __future__ import annotations

import csv
import difflib
import re
import types
import typing
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

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

CSV_DELIMITERS = ",;\t|"
ROW_ORDER = "row_order"
"""``order_by: row_order``: the source's rows are in time order, oldest first."""
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

    kind: Literal["csv", "parquet", "duckdb", "postgresql", "warehouse"]
    path: str | None = Field(default=None, min_length=1)
    url: str | None = Field(default=None, min_length=1)
    table: str | None = Field(default=None, min_length=1)
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _keys_fit_the_kind(self) -> Source:
        kind = self.kind
        if kind == "warehouse":
            for key in ("path", "url", "delimiter", "encoding"):
                if getattr(self, key) is not None:
                    raise ValueError(f"a warehouse source takes 'table' only, not {key!r}")
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
        if kind == "warehouse":
            return self
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

    def warehouse_url(self, base_dir: Path, warehouse: str | None = None) -> str:
        """The :class:`~features._warehouse.Warehouse` URL of a database source (a
        ``warehouse`` source: ``warehouse``, the command's own)."""
        if self.kind == "warehouse":
            if warehouse is None:
                raise ConfigError("a warehouse source needs the command's --warehouse")
            return warehouse
        if self.kind not in ("duckdb", "postgresql"):
            raise ConfigError(f"a {self.kind} source is a file, not a warehouse")
        if self.url is not None:
            return self.url
        return f"duckdb:///{self.file_path(base_dir)}"

    def checked_warehouse_url(self, base_dir: Path, where: str, warehouse: str | None = None
                              ) -> str:  # fmt: skip
        """:meth:`warehouse_url`, after checking a DuckDB file source exists (a ConfigError
        starting with ``where`` otherwise: opening it would create an empty database)."""
        if self.kind == "duckdb" and self.path is not None:
            path = self.file_path(base_dir)
            if not path.exists():
                raise ConfigError(f"{where}: DuckDB file {str(path)!r} does not exist")
        return self.warehouse_url(base_dir, warehouse)

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
    """The team's column for each contacts role.

    ``contact_id`` may be ``null`` for a single export without ids (rows are numbered in
    source order, from 1); ``created_at`` may be ``null`` (an export without any time:
    splits are then stratified-random, and every output says so, unless ``order_by`` gives
    the time order). An attribute role left
    out takes the column of the role's own name when the source has one; ``null`` means
    "we do not have it"."""

    contact_id: ColumnName | None = "contact_id"
    created_at: ColumnName | None = "created_at"
    title: ColumnName | None = "title"
    company_size: ColumnName | None = "company_size"
    industry: ColumnName | None = "industry"
    country: ColumnName | None = "country"
    lead_source: ColumnName | None = "lead_source"
    email_domain: ColumnName | None = "email_domain"
    phone_valid: ColumnName | None = "phone_valid"
    buying_timeline: ColumnName | None = "buying_timeline"
    requested_demo: ColumnName | None = "requested_demo"

    def given(self) -> set[str]:
        """Roles the contract maps explicitly (a missing column is then an error)."""
        return set(self.model_fields_set)


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
    """The contacts table: one row per lead, attributes as known at creation.

    Besides ``columns`` (the roles): ``outcome`` names a label column on the contacts (a
    single CRM export; its values are read through the contract's ``label``), with an
    optional ``closed_at``; ``existing_score`` a score the team already has (compared with
    the model like the rules, never a feature); ``exclude`` columns are not used,
    ``known_after_contact`` ones (filled in by sales) never, ``known_before_contact`` ones
    are declared safe for the leakage guard; ``missing_values`` are form defaults read as
    missing (a list for every column, or per column); ``column_types`` overrides the
    automatic typing of a column (numeric, categorical, boolean). Every other column is an
    attribute of the team's own, typed automatically. Without a creation time, ``order_by``
    (``row_order``: the rows are in time order, oldest first; or a column whose ascending
    order is time) gives the leads an order in time: they are split by it, and their
    stand-in creation times (one second apart from 2000-01-01, ties equal) say only that
    order."""

    source: Source
    columns: ContactsColumns = Field(default_factory=ContactsColumns)
    order_by: ColumnName | None = None
    outcome: ColumnName | None = None
    closed_at: ColumnName | None = None
    existing_score: ColumnName | None = None
    exclude: list[ColumnName] = Field(default_factory=list)
    known_after_contact: list[ColumnName] = Field(default_factory=list)
    known_before_contact: list[ColumnName] = Field(default_factory=list)
    missing_values: list[LabelToken] | dict[ColumnName, list[LabelToken]] = Field(
        default_factory=list)  # fmt: skip
    column_types: dict[ColumnName, ColumnKind] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ContactsTable:
        _distinct_columns(self.columns)
        if (self.order_by is not None and self.columns.created_at is not None
                and "created_at" in self.columns.given()):  # fmt: skip
            raise ValueError("give 'columns.created_at' (a creation time) or 'order_by' (time "
                             "order without a time), not both")  # fmt: skip
        if self.order_by == ROW_ORDER and self.source.kind == "postgresql":
            raise ValueError("order_by: row_order needs a source with a row order; a "
                             "PostgreSQL table has none: name the column to order by")  # fmt: skip
        if self.closed_at is not None and self.outcome is None:
            raise ValueError("closed_at applies to an 'outcome' column on the contacts; give "
                             "outcome: too")  # fmt: skip
        owner: dict[str, str] = {c: r for r, c in self.columns.model_dump().items() if c}
        for key in ("outcome", "closed_at", "existing_score"):
            column = getattr(self, key)
            if column is None:
                continue
            if column in owner and owner[column] in self.columns.given() | {
                    "contact_id", "outcome", "closed_at", "existing_score"}:  # fmt: skip
                raise ValueError(f"{key}: column {column!r} is already {owner[column]!r}; a "
                                 "column has one role")  # fmt: skip
            owner[column] = key
        seen: dict[str, str] = {}
        for key in ("exclude", "known_after_contact", "known_before_contact"):
            for column in getattr(self, key):
                if column in (self.columns.contact_id, self.columns.created_at):
                    raise ValueError(f"{key}: {column!r} is a key column and is always used")
                if column in seen:
                    raise ValueError(f"column {column!r} is in both {seen[column]!r} and {key!r}")
                if key != "known_before_contact" and owner.get(column) in (
                        *self.columns.given(), "outcome", "closed_at", "existing_score"):  # fmt: skip
                    raise ValueError(
                        f"{key}: {column!r} is mapped to {owner[column]!r}; map the role to "
                        "null instead"
                    )
                seen[column] = key
        for column in self.column_types:
            if seen.get(column) in ("exclude", "known_after_contact"):
                raise ValueError(f"column_types: column {column!r} is {seen[column]!r}, not a "
                                 "feature")  # fmt: skip
        return self

    def missing_tokens(self, column: str) -> set[str]:
        """The normalised values read as missing in ``column``."""
        if isinstance(self.missing_values, dict):
            return {normalise_token(v) for v in self.missing_values.get(column, [])}
        return {normalise_token(v) for v in self.missing_values}


class EventsTable(_Strict):
    """The events table: engagement history, one row per event.

    The team's own event types stay features of their own. ``event_types`` may map the
    standard types (``email_open``, ``pricing_page_view``, ``demo_request`` ...) to the
    team's values, e.g. ``pricing_page_view: [Viewed Pricing]`` (matched trimmed and
    case-insensitively), so the standard meanings apply to them. ``high_intent``,
    ``borrowed_interest`` and ``sales_owned`` list event types (the team's values or standard
    types) with that meaning; sales-owned activity is never a feature of the handoff score.
    The standard types keep their standard meanings unless listed otherwise.
    """

    source: Source
    columns: EventsColumns = Field(default_factory=EventsColumns)
    event_types: dict[str, list[LabelToken]] = Field(default_factory=dict)
    high_intent: list[LabelToken] | None = None
    borrowed_interest: list[LabelToken] | None = None
    sales_owned: list[LabelToken] | None = None

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
    """Which outcome values count as won, lost or still open, and the horizon in days.

    The defaults read the usual spellings: won / 1 / true / yes and lost / 0 / false / no
    (numbers by value: ``1.0`` is ``1``)."""

    won_values: list[LabelToken] = Field(default_factory=lambda: ["won", "1", "true", "yes"],
                                         min_length=1)  # fmt: skip
    lost_values: list[LabelToken] = Field(default_factory=lambda: ["lost", "0", "false", "no"],
                                          min_length=1)  # fmt: skip
    open_values: list[LabelToken] = Field(default_factory=list)
    horizon_days: int = Field(default=90, gt=0, le=3650)

    def outcome_of(self, value: object) -> Literal["won", "lost", "open"] | None:
        """``won``, ``lost`` or ``open`` (not decided: the row is not an outcome) for an
        outcome value (trimmed, case-insensitive; numbers by value); None for any other."""
        return self.mapping().get(label_key(value))

    def mapping(self) -> dict[str, Literal["won", "lost", "open"]]:
        """Normalised value (see :func:`label_key`) to ``won``, ``lost`` or ``open``."""
        out: dict[str, Literal["won", "lost", "open"]] = {}
        for value in self.open_values:
            out[label_key(value)] = "open"
        for value in self.lost_values:
            out[label_key(value)] = "lost"
        for value in self.won_values:
            out[label_key(value)] = "won"
        return out

    @model_validator(mode="after")
    def _disjoint(self) -> LabelDefinition:
        groups = {
            key: {label_key(v) for v in getattr(self, key)}
            for key in ("won_values", "lost_values", "open_values")
        }
        for a, b in (("won_values", "lost_values"), ("won_values", "open_values"),
                     ("lost_values", "open_values")):  # fmt: skip
            both = groups[a] & groups[b]
            if both:
                raise ValueError(f"values {sorted(both)} are in both {a} and {b}")
        return self


def label_key(value: object) -> str:
    """How label values are compared: :func:`normalise_token`, numbers by value (``1.0``,
    ``1`` and ``01`` are ``1``)."""
    token = normalise_token(value)
    try:
        number = float(token)
    except ValueError:
        return token
    return f"{number:g}" if number == number else token


class DecisionMoment(_Strict):
    """When a lead is scored: ``handoff`` (each lead once, ``handoff_delay_hours`` after its
    creation, with only what marketing knows then) or ``pipeline`` (open leads at quarterly
    snapshots). Default: ``pipeline`` for contacts with events and an outcomes table,
    ``handoff`` otherwise (a single export is scored at its creation)."""

    moment: Literal["handoff", "pipeline"] | None = None
    handoff_delay_hours: float = Field(default=1.0, ge=0, le=24 * 365)


# --------------------------------------------------------------------------- the contract

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


class Contract(_Strict):
    """A whole contract file (DESIGN.md section 2): the contacts, optional events, outcomes
    as a table or as a column on the contacts, the label values and the decision moment."""

    name: str | None = None
    contacts: ContactsTable
    events: EventsTable | None = None
    outcomes: OutcomesTable | None = None
    label: LabelDefinition = Field(default_factory=LabelDefinition)
    decision: DecisionMoment = Field(default_factory=DecisionMoment)

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_label_source(self) -> Contract:
        if self.name is not None and not _NAME.match(self.name):
            raise ValueError(f"name must be letters, digits, '_', '-' or '.', got {self.name!r}")
        if self.outcomes is None and self.contacts.outcome is None:
            raise ValueError("give the outcomes: an 'outcomes' table, or 'contacts.outcome' "
                             "(a label column on the contacts)")  # fmt: skip
        if self.outcomes is not None and self.contacts.outcome is not None:
            raise ValueError("give the outcomes once: an 'outcomes' table or "
                             "'contacts.outcome', not both")  # fmt: skip
        if self.contacts.columns.contact_id is None and (self.events or self.outcomes):
            raise ValueError("contacts.columns.contact_id: null (rows numbered in source order) "
                             "needs a single export: events and outcomes name contacts by id")  # fmt: skip
        if self.contacts.order_by is not None:
            timed = [key for key, given in (("events", self.events is not None),
                                            ("outcomes", self.outcomes is not None),
                                            ("contacts.closed_at", self.contacts.closed_at is not None))
                     if given]  # fmt: skip
            if timed:
                raise ValueError(
                    f"contacts.order_by gives stand-in creation times that only say the rows' "
                    f"order; it fits a single export without times, not one with {timed} "
                    "(real times would be compared with them): give columns.created_at")
        if self.decision.moment == "pipeline":
            if self.contacts.columns.created_at is None or self.contacts.order_by is not None:
                raise ValueError("decision.moment 'pipeline' needs contacts.columns.created_at "
                                 "(snapshots are points in time)")  # fmt: skip
            if self.outcomes is None and self.contacts.closed_at is None:
                raise ValueError("decision.moment 'pipeline' needs outcome close times: an "
                                 "'outcomes' table or contacts.closed_at (a snapshot's label is "
                                 "a win closed within the horizon after it)")  # fmt: skip
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
    def model_name(self) -> str:
        """The registered model name: ``name``, else derived from the file (its stem, or its
        folder's name for a file called ``leadscore.yaml``)."""
        if self.name is not None:
            return self.name
        if self._path is None:
            return "leads"
        stem = self._path.stem if self._path.stem != "leadscore" else self._path.parent.name
        slugged = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
        return f"{slugged or 'leads'}-leads" if not slugged.endswith("leads") else slugged

    def at_decision(self, moment: Literal["handoff", "pipeline"] | None = None, *,
                    handoff_delay_hours: float | None = None) -> Contract:  # fmt: skip
        """This contract scored at ``moment`` (default: its own), ``handoff_delay_hours``
        after creation at the handoff (``0``: at creation). At a moment other than its own
        the model registers under a name of its own, :meth:`name_at` of that moment, so the
        two decisions' champions live side by side. A delay with the pipeline decision is
        an error: a pipeline snapshot has no handoff."""
        target = moment or self.decision_moment
        if handoff_delay_hours is not None and target != "handoff":
            raise ConfigError("--handoff-after applies to the handoff decision only; this "
                              f"contract is scored at the {target} decision (add --decision "
                              "handoff)")  # fmt: skip
        if handoff_delay_hours is not None and not 0 <= handoff_delay_hours <= 24 * 365:
            raise ConfigError(f"--handoff-after must be between 0 and {24 * 365} hours, got "
                              f"{handoff_delay_hours!r}")  # fmt: skip
        decision = self.decision.model_copy(update={
            "moment": target,
            "handoff_delay_hours": (self.decision.handoff_delay_hours if handoff_delay_hours
                                    is None else float(handoff_delay_hours))})  # fmt: skip
        return self.model_copy(update={"decision": decision, "name": self.name_at(target)})

    def name_at(self, moment: Literal["handoff", "pipeline"]) -> str:
        """The registered model name at ``moment``: :attr:`model_name` at the contract's own
        decision, ``<model_name>-<moment>`` at the other."""
        own = self.decision_moment
        return self.model_name if moment == own else f"{self.model_name}-{moment}"

    @property
    def decision_moment(self) -> Literal["handoff", "pipeline"]:
        """The decision moment (see :class:`DecisionMoment` for the default)."""
        if self.decision.moment is not None:
            return self.decision.moment
        if self.events is not None and self.outcomes is not None:
            return "pipeline"
        return "handoff"

    @property
    def has_time(self) -> bool:
        """Whether the contacts have a creation time (or an order in time)."""
        return self.contacts.columns.created_at is not None or self.contacts.order_by is not None


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
    "horizon_days": "horizon_days belongs under 'label'",
    "mode": "contracts have no modes any more: one export is 'contacts' with an 'outcome' "
    "column (see the README)",
    "leads": "a single export is now 'contacts' (with 'outcome: <label column>')",
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




# --------------------------------------------------------------------------- helpers

def name_words(name: str) -> list[str]:
    """A column name's lower-case words: ``Lead Status``, ``leadStatus``, ``lead_status``
    all give ``['lead', 'status']``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _snake(name: str) -> str:
    return "_".join(name_words(name))


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




DEFAULT_CONTRACT = "demo_contract.yaml"


def default_contract() -> Contract:
    """The packaged contract of the demo warehouse: its own standard tables, in place."""
    text = resources.files("leadscore.features").joinpath(DEFAULT_CONTRACT).read_text("utf-8")
    return parse_contract(text, f"{DEFAULT_CONTRACT} (packaged)")
