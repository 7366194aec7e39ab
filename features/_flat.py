"""Flat mode: one ``leads`` table or file (a CRM export) read, checked and typed for training.

Contract of :func:`load_flat`:

- It reads the contract's ``leads`` source (CSV through pandas with every value read as
  text; Parquet through pyarrow; a DuckDB or PostgreSQL table through
  :class:`~features._warehouse.Warehouse`) and checks it *before* any work. Every problem is
  collected and raised together as :class:`~features._validation.ContractViolations`: columns
  the contract names but the source lacks, an empty table, null or duplicate ids, null labels,
  label values outside the allowed set (listing every value found with its count), a label
  with a single outcome, created_at values that are empty, not dates or in the future, an
  order_by column that is empty or neither numbers nor dates, a rule score that is empty or
  not a number, and values that do not fit a type forced by ``column_types``. Each problem
  names the table (file), the column, up to five examples and the number of rows.
- Labels: ``1/0``, ``true/false``, ``yes/no``, ``won/lost`` (case-insensitive, trimmed;
  numbers equal to 1 or 0, and booleans, too), plus the contract's ``label_values``, which
  win over the built-in spellings and may mark values as ``open`` (not decided yet).
- Nothing vanishes silently. Rows with an ``open`` label are the only rows left out of
  training; they are counted in :attr:`FlatData.excluded_rows` and kept, typed, in
  :attr:`FlatData.open_rows` for scoring. Columns left out are listed in
  :attr:`FlatData.excluded` with the reason; text values that are not numbers in a column
  typed numeric become missing and are counted in :attr:`FlatData.notes`.
- Columns the contract does not give a role are typed automatically (see
  :func:`profile_columns`); the returned frames are new, the source is never changed, and
  their index is the row's 1-based position in the source (``row``).

:func:`flat_split` splits by time when the contract gives ``created_at`` or ``order_by`` (the
latest ``test_share`` of rows is the test set, the ``validation_share`` before it validation),
and stratified-random with a fixed seed otherwise; its ``description`` says which in words.
"""

from __future__ import annotations

import csv
import gzip
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd
from leadscore.features._contract import (
    ROW_ORDER,
    ColumnKind,
    Contract,
    LeadsTable,
    Source,
    csv_dialect,
    name_words,
    normalise_token,
)
from leadscore.features._errors import ConfigError, DataValidationError, MissingColumnsError
from leadscore.features._validation import ContractViolations
from leadscore.features._warehouse import Warehouse, quote_ident

log = logging.getLogger(__name__)

ProfileKind = Literal[
    "numeric",
    "categorical",
    "boolean",
    "datetime",
    "identifier",
    "free text",
    "constant",
    "empty",
]
"""What :func:`profile_columns` found; the first three are usable feature kinds."""
FEATURE_KINDS: tuple[str, ...] = ("numeric", "categorical", "boolean")

BUILTIN_LABELS: dict[str, Literal["won", "lost"]] = {
    "1": "won",
    "true": "won",
    "yes": "won",
    "won": "won",
    "0": "lost",
    "false": "lost",
    "no": "lost",
    "lost": "lost",
}
"""Label spellings every contract accepts (compared trimmed and lower-cased)."""

# --- typing thresholds (documented in profile_columns) -------------------------------
NUMERIC_SHARE = 0.95
"""A text column is numeric when at least this share of its non-empty values are numbers."""
DATE_SHARE = 0.95
"""A text column is a date column when at least this share of its values look like dates."""
PATTERN_SHARE = 0.8
"""A text column holds emails (phone numbers, web addresses) when this share of values do."""
HIGH_CARDINALITY_SHARE = 0.5
HIGH_CARDINALITY_MIN = 50
"""A text column is identifier-like when at least half its values are distinct and it has
at least 50 distinct values (names, company names, free-typed ids)."""
UNIQUE_MIN_ROWS = 20
"""A column different in every row is identifier-like only from this many rows on."""
FREE_TEXT_CHARS = 30
FREE_TEXT_WORDS = 4
"""Free text: values of at least 30 characters and 4 words on average, half of them distinct."""

_BOOL_TOKENS = {
    "true": 1.0,
    "yes": 1.0,
    "y": 1.0,
    "t": 1.0,
    "1": 1.0,
    "false": 0.0,
    "no": 0.0,
    "n": 0.0,
    "f": 0.0,
    "0": 0.0,
}
_THOUSANDS = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$"
_LEADING_ZERO = r"^0\d"
_ISO_DATE = (
    r"^\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_SLASH_DATE = r"^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}(?: \d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp][Mm])?)?$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_PHONE = r"^\+?[\d\s().\-/]{7,24}$"
_URL = r"^(?:https?://|www\.)\S+$"
_ID_WORDS = ("id", "key", "uuid", "guid", "number", "no")
_PHONE_WORDS = ("phone", "mobile", "fax", "tel", "telephone")


# --------------------------------------------------------------------------- reading


def read_source(source: Source, base_dir: Path, *, limit: int | None = None) -> pd.DataFrame:
    """All rows (or the first ``limit``) of ``source`` as read, without typing.

    CSV values are read as text (pandas' default missing markers such as ``""``, ``NA``,
    ``null`` become missing); Parquet and database columns keep their types. Relative file
    paths resolve against ``base_dir``. A CSV header naming a column twice is an error.
    """
    if source.kind in ("duckdb", "postgresql"):
        url = source.checked_warehouse_url(base_dir, "leads source")
        table = source.table or ""
        with Warehouse(url, read_only=True) as wh:
            wh.require_table(table)
            sql = f"SELECT * FROM {quote_ident(table)}"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            return wh.query(sql)
    path = source.file_path(base_dir)
    if not path.exists():
        raise ConfigError(
            f"leads source: file {str(path)!r} does not exist"
            f" (relative paths are relative to {str(base_dir)!r})"
        )
    if source.kind == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        if limit is None:
            return parquet.read().to_pandas()
        batches = parquet.iter_batches(batch_size=max(int(limit), 1))
        first = next(batches, None)
        if first is None:
            return parquet.schema_arrow.empty_table().to_pandas()
        return first.to_pandas()
    encoding, delimiter = csv_dialect(path, source)
    try:
        with _open_text(path, encoding) as handle:
            header = next(csv.reader(handle, delimiter=delimiter), [])
        twice = sorted({c for c in header if header.count(c) > 1})
        if twice:
            raise ContractViolations(
                [DataValidationError(path.name, twice[0], f"the header names {twice} twice")]
            )
        return pd.read_csv(path, sep=delimiter, dtype=str, encoding=encoding, nrows=limit)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"leads source: file {str(path)!r} is not valid {encoding} text ({exc.reason} at "
            f"byte {exc.start}); set leads.source.encoding (e.g. cp1252)"
        ) from exc


def _open_text(path: Path, encoding: str) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return path.open(encoding=encoding, newline="")


# --------------------------------------------------------------------------- labels


def label_outcome(
    value: object, mapping: dict[str, str] | None = None
) -> Literal["won", "lost", "open"] | None:
    """``won``, ``lost`` or ``open`` for one label value; None when it is not an allowed one.

    ``mapping`` (from :meth:`LabelValues.mapping`) is consulted before the built-in
    spellings. Numbers count by value (``1.0`` is ``1``); missing values give None.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    token = normalise_token(value)
    if mapping and token in mapping:
        return mapping[token]  # type: ignore[return-value]
    if token not in BUILTIN_LABELS:
        try:
            number = float(token)
        except ValueError:
            return None
        token = "1" if number == 1 else "0" if number == 0 else token
    return BUILTIN_LABELS.get(token)


# --------------------------------------------------------------------------- typing


@dataclass(frozen=True)
class ColumnProfile:
    """What the automatic typing found for one column, and why.

    ``kind`` is a feature kind (numeric, categorical, boolean) or a reason to leave the
    column out (datetime, identifier, free text, constant, empty); ``reason`` explains it.
    """

    column: str
    kind: ProfileKind
    reason: str
    rows: int
    missing: int
    distinct: int
    examples: tuple[object, ...]
    unparsed: int = 0
    unparsed_examples: tuple[object, ...] = ()

    @property
    def usable(self) -> bool:
        """Whether the column becomes a feature."""
        return self.kind in FEATURE_KINDS

    def summary(self) -> str:
        """One line: kind, distinct values, missing share and examples (or the reason)."""
        missing = f", {self.missing / self.rows:.0%} missing" if self.rows and self.missing else ""
        numeric = self.kind in ("numeric", "boolean")
        shown = ", ".join(str(e) if numeric else _short(e) for e in self.examples[:3])
        text = f"{self.kind:<11} {self.distinct} distinct{missing}"
        if self.usable:
            return f"{text}; e.g. {shown}" if shown else text
        return f"{text}; left out: {self.reason}"


def _short(value: object, width: int = 24) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 4] + "...'"


def _as_text(values: pd.Series) -> pd.Series:
    """Non-missing values as trimmed text; empty text counts as missing."""
    text = values.astype(str).str.strip()
    return text[text != ""]


def parse_numbers(text: pd.Series) -> pd.Series:
    """Numbers from text, NaN where a value is not one.

    Accepts what :func:`pandas.to_numeric` accepts, plus thousands separators in the strict
    form ``1,234,567`` (a comma followed by exactly three digits), a trailing ``%`` (``12%`` is
    12.0: the number as written, not 0.12, so a column keeps one scale) and a leading
    currency sign (``$``, ``€``, ``£``). ``1,5`` is not a number (decimal commas are
    ambiguous with thousands separators). Infinite values count as not numbers.
    """
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    retry = numbers.isna() & text.notna()
    if retry.any():  # the slow path, once per distinct value
        distinct = pd.Series(text[retry].astype(str).unique())
        t = distinct.str.strip()
        t = t.str.replace(r"^([+-]?)[$€£]\s*", r"\1", regex=True)
        t = t.str.replace(r"\s*%$", "", regex=True)
        thousands = t.str.match(_THOUSANDS)
        t = t.where(~thousands, t.str.replace(",", "", regex=False))
        parsed = pd.to_numeric(t, errors="coerce").astype("float64")
        lookup = dict(zip(distinct, parsed, strict=True))
        numbers[retry] = text[retry].astype(str).map(lookup).astype("float64")
    return numbers.where(np.isfinite(numbers))


@dataclass(frozen=True)
class _Verdict:
    """The typing decision for one column: its kind, why, and its typed values if used."""

    kind: ProfileKind
    reason: str
    values: pd.Series | None = None
    unparsed: pd.Series | None = None


def _profile(column: str, values: pd.Series) -> tuple[ColumnProfile, pd.Series | None]:
    """The profile of one column and, for a feature, its typed values (a new Series)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        values = values.astype(categories.dtype if len(categories) else object)
    is_text = not (
        pd.api.types.is_numeric_dtype(values)
        or pd.api.types.is_bool_dtype(values)
        or pd.api.types.is_datetime64_any_dtype(values)
    )
    present = _as_text(values.dropna()) if is_text else values.dropna()
    distinct = int(present.nunique())
    verdict = _classify(column, values, present, is_text, distinct)
    unparsed = verdict.unparsed if verdict.unparsed is not None else present.iloc[:0]
    profile = ColumnProfile(
        column=column,
        kind=verdict.kind,
        reason=verdict.reason,
        rows=len(values),
        missing=len(values) - len(present),
        distinct=distinct,
        examples=tuple(_examples(present)),
        unparsed=len(unparsed),
        unparsed_examples=tuple(_examples(unparsed)),
    )
    return profile, verdict.values


def _classify(
    column: str, values: pd.Series, present: pd.Series, is_text: bool, distinct: int
) -> _Verdict:
    """The rules of :func:`profile_columns`, in order."""
    if len(present) == 0:
        return _Verdict("empty", "every value is missing")
    if distinct == 1 and len(present) == len(values):
        return _Verdict("constant", f"constant: every row is {_plain(present.iloc[0])!r}")
    words = name_words(column)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _Verdict("datetime", _DATE_REASON)
    if pd.api.types.is_bool_dtype(values):
        return _Verdict("boolean", "true/false values", values.astype("float64"))
    if not is_text:
        return _classify_numbers(words, values.astype("float64"))

    counts = present.value_counts(sort=False)  # the text checks run once per distinct value
    lower = pd.Series(counts.index, dtype="str").str.lower()
    if set(lower) <= set(_BOOL_TOKENS):
        typed = present.str.lower().map(_BOOL_TOKENS).reindex(values.index).astype("float64")
        return _Verdict("boolean", "yes/no values", typed)
    parsed = parse_numbers(present)
    codes = _share(counts, _LEADING_ZERO) > 0
    if float(parsed.notna().mean()) >= NUMERIC_SHARE and not codes:
        return _classify_numbers(words, parsed.reindex(values.index), present[parsed.isna()])
    if _share(counts, f"{_ISO_DATE}|{_SLASH_DATE}") >= DATE_SHARE:
        return _Verdict("datetime", _DATE_REASON)
    texts = pd.Series(counts.index, dtype="str")
    digits = texts.str.count(r"\d")
    for pattern, what in (
        (_EMAIL, "email addresses"),
        (_URL, "web addresses"),
        (_PHONE, "phone numbers"),
    ):
        share = _share(counts, pattern)
        if share >= PATTERN_SHARE and (pattern != _PHONE or _mean(counts, digits) >= 7):
            return _Verdict("identifier", f"identifier-like: {what} in {share:.0%} of values")
    n = len(present)
    if distinct == n and n >= UNIQUE_MIN_ROWS:
        return _Verdict("identifier", "identifier-like: a different value in every row")
    length = _mean(counts, texts.str.len())
    n_words = _mean(counts, texts.str.count(r"\s+") + 1)
    if (
        length >= FREE_TEXT_CHARS
        and n_words >= FREE_TEXT_WORDS
        and distinct >= HIGH_CARDINALITY_SHARE * n
    ):
        return _Verdict(
            "free text",
            f"free text: {distinct / n:.0%} distinct values, {length:.0f} characters on average",
        )
    if distinct >= HIGH_CARDINALITY_SHARE * n and distinct >= HIGH_CARDINALITY_MIN:
        return _Verdict(
            "identifier",
            f"identifier-like: {distinct} distinct values in {n} rows ({distinct / n:.0%})",
        )
    return _Verdict("categorical", f"{distinct} distinct values", present.reindex(values.index))


_DATE_REASON = (
    "a date other than created_at: dates are not turned into features (one "
    "filled in after contact would leak); use it as created_at or order_by"
)


def _share(counts: pd.Series, pattern: str) -> float:
    """Share of rows (``counts``: rows per distinct text value) whose value matches."""
    matched = pd.Series(counts.index, dtype="str").str.match(pattern).to_numpy()
    return float(counts[matched].sum() / counts.sum())


def _mean(counts: pd.Series, per_value: pd.Series) -> float:
    """Mean over rows of a per-distinct-value measure."""
    return float((per_value.to_numpy() * counts.to_numpy()).sum() / counts.sum())


def _classify_numbers(
    words: list[str], numbers: pd.Series, unparsed: pd.Series | None = None
) -> _Verdict:
    """Numbers: 0/1 flags, integer identifiers, integer codes named like an id, numbers."""
    values = numbers.dropna()
    n = len(values)
    distinct = int(values.nunique())
    integer = bool(np.all(np.mod(values.to_numpy(), 1) == 0))
    if set(values.unique()) <= {0.0, 1.0}:
        return _Verdict("boolean", "0/1 values", numbers, unparsed)
    named_id = bool(words) and words[-1] in _ID_WORDS
    if integer and distinct == n and n >= UNIQUE_MIN_ROWS:
        if named_id:
            return _Verdict(
                "identifier",
                "identifier-like: an integer named like an id, different in every row",
                None,
                unparsed,
            )
        if float(values.max() - values.min() + 1) <= 2 * n:
            return _Verdict(
                "identifier",
                "identifier-like: a near-consecutive integer sequence, different in every row",
                None,
                unparsed,
            )
    if integer and set(words) & set(_PHONE_WORDS) and float(values.abs().min()) >= 10**6:
        return _Verdict("identifier", "identifier-like: phone numbers", None, unparsed)
    if integer and named_id:
        codes = numbers.map(_number_text, na_action="ignore").astype("str")
        return _Verdict(
            "categorical", "integer codes named like an id: used as categories", codes, unparsed
        )
    return _Verdict("numeric", "numbers", numbers, unparsed)


def profile_columns(frame: pd.DataFrame) -> list[ColumnProfile]:
    """The automatic typing of every column of ``frame``, in column order.

    Rules, in the order they are tried (thresholds are the module constants):

    1. every value missing: *empty*; one value in every row: *constant* (both left out);
    2. a datetime type: *datetime*, left out (only created_at is used as time: a date column
       is often filled in after contact); a boolean type: *boolean* (1.0/0.0);
    3. a numeric type, or text where >= 95% of the values are numbers as
       :func:`parse_numbers` reads them (the rest become missing and are counted in the
       notes): numbers that are all 0/1 are *boolean*; integers different in every row (from
       20 rows on) named like an id (``lead_no``, ``account_id``) or forming a
       near-consecutive sequence are *identifier*; integers named like phone numbers are
       *identifier*; other integers named like an id (``campaign_id``) are *categorical*
       codes; the rest is *numeric*. Text with a leading zero (``007``, ``02134``) is a code,
       not a number;
    4. text whose values are all yes/no, true/false, y/n, t/f or 1/0 (checked before 3):
       *boolean*;
    5. text where >= 95% of the values look like dates (ISO 8601 or ``d/m/y``-like):
       *datetime*, left out;
    6. text where >= 80% of the values are email addresses, web addresses or phone numbers
       (7+ digits): *identifier*; text different in every row (from 20 rows on):
       *identifier*; long text (>= 30 characters and 4 words on average, half of the values
       distinct): *free text*; text with >= 50 distinct values making up >= half the rows:
       *identifier* (names, company names);
    7. anything else: *categorical* (values trimmed; empty text is missing).
    """
    return [_profile(str(column), frame[column])[0] for column in frame.columns]


def _number_text(value: float) -> str:
    """A number as category text: ``2134`` for 2134.0, else Python's shortest repr."""
    return f"{value:.0f}" if float(value).is_integer() else repr(float(value))


def _typed_column(values: pd.Series, kind: ColumnKind) -> tuple[pd.Series, pd.Series]:
    """Values forced to ``kind`` (``column_types``): (typed values, values that do not fit)."""
    present = values.dropna()
    text = _as_text(present) if not pd.api.types.is_numeric_dtype(values) else present
    if kind == "categorical":
        if pd.api.types.is_float_dtype(values):
            typed = values.map(_number_text, na_action="ignore").astype("str")
        else:
            typed = _as_text(values.dropna().astype(str)).reindex(values.index).astype("str")
        return typed, present.iloc[:0]
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            numbers = values.astype("float64")
            bad = numbers[numbers.notna() & ~numbers.isin([0.0, 1.0])]
            return numbers.where(numbers.isin([0.0, 1.0])), bad
        lowered = text.astype(str).str.lower()
        mapped = lowered.map(_BOOL_TOKENS)
        return mapped.reindex(values.index).astype("float64"), text[mapped.isna()]
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64"), present.iloc[:0]
    numbers = parse_numbers(text)
    return numbers.reindex(values.index).astype("float64"), text[numbers.isna()]


def coerce_features(rows: pd.DataFrame, features: Mapping[str, ColumnKind]) -> pd.DataFrame:
    """Rows typed the way :func:`load_flat` types feature columns, for scoring new rows.

    Returns a new frame on ``rows``' index with exactly the columns of ``features``, in that
    order: *numeric* as float64 (text read by :func:`parse_numbers`; values that are not
    numbers become missing), *boolean* as 1.0/0.0 (yes/no, true/false, y/n, t/f, 1/0 and
    numbers 0/1; anything else missing), *categorical* as trimmed text (numbers written as
    ``load_flat`` writes integer codes, ``2134`` for 2134.0; empty text missing). A column
    ``rows`` lacks is all missing. Typed frames (``FlatData.frame``) come back unchanged, so
    raw export rows and typed rows score the same. ``rows`` is not modified.
    """
    out: dict[str, pd.Series] = {}
    for column, kind in features.items():
        if column not in rows.columns:
            dtype = "str" if kind == "categorical" else "float64"
            out[column] = pd.Series(np.nan, index=rows.index, dtype=dtype)
            continue
        values = rows[column]
        if values.dtype == object:
            values = values.infer_objects()  # Python numbers or booleans (e.g. from JSON)
        if kind == "categorical" and values.dtype == object:
            values = values.map(_category_value, na_action="ignore")
        out[column] = _typed_column(values, kind)[0]
    return pd.DataFrame(out, index=rows.index, columns=list(features))


def _category_value(value: object) -> object:
    """A number among text categories written as load_flat writes integer codes."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_):
        number = float(value)
        return _number_text(number) if math.isfinite(number) else value
    return value


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Excluded:
    """A column left out of the features, and why."""

    column: str
    reason: str


@dataclass(frozen=True)
class ExcludedRows:
    """Rows left out of training by a rule: how many, why, and up to five example ids."""

    reason: str
    count: int
    examples: tuple[object, ...] = ()


@dataclass(frozen=True)
class TimeInfo:
    """How rows are ordered in time: by ``created_at``, by ``order_by``, or not at all."""

    kind: Literal["created_at", "order_by", "none"]
    column: str | None
    description: str


@dataclass(frozen=True)
class FlatData:
    """A validated, typed flat table (see the module docstring).

    ``frame`` holds the feature columns of the labelled rows (numeric and boolean as
    float64, categorical as text); ``label`` (1 = won, 0 = lost), ``ids``, ``order`` (the
    time key: created_at timestamps, order_by values or the row position; None without
    time) and ``rule_score`` are aligned with it on the ``row`` index. ``open_rows``,
    ``open_ids`` and ``open_rule_score`` are the rows whose label is not decided yet, typed
    the same way.
    """

    table: str
    frame: pd.DataFrame
    label: pd.Series
    ids: pd.Series
    features: dict[str, ColumnKind]
    time: TimeInfo
    order: pd.Series | None
    rule_score: pd.Series | None
    excluded: list[Excluded]
    excluded_rows: list[ExcludedRows]
    open_rows: pd.DataFrame
    open_ids: pd.Series
    rows_read: int
    known_before_contact: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    open_rule_score: pd.Series | None = None

    @property
    def positives(self) -> int:
        """Number of won rows."""
        return int(self.label.sum())

    def describe(self) -> str:
        """A plain-text account of what was read, used, left out and why."""
        won = self.positives
        lines = [
            f"{self.table}: {self.rows_read} rows read; {len(self.frame)} labelled "
            f"({won} won, {len(self.frame) - won} lost, won rate "
            f"{won / max(len(self.frame), 1):.1%})",
            f"time: {self.time.description}",
        ]
        lines.extend(f"rows left out: {r.count} ({r.reason})" for r in self.excluded_rows)
        kinds = ", ".join(
            f"{sum(1 for k in self.features.values() if k == kind)} {kind}"
            for kind in FEATURE_KINDS
        )
        lines.append(f"features: {len(self.features)} ({kinds})")
        lines.extend(f"left out: {e.column!r}: {e.reason}" for e in self.excluded)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


# --------------------------------------------------------------------------- loading


def _examples(values: pd.Series) -> list[object]:
    return [_plain(v) for v in values.drop_duplicates().head(5).tolist()]


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value)
    return value


def load_flat(
    contract: Contract, base_dir: str | Path | None = None, *, now: datetime | None = None
) -> FlatData:
    """Read, check and type the contract's ``leads`` source (see the module docstring).

    ``base_dir`` resolves relative source paths (default: the contract file's folder);
    ``now`` (naive UTC) is the instant after which a created_at is "in the future" (default:
    the wall clock). Raises :class:`ContractViolations` listing every problem found.
    """
    spec = contract.flat
    base = Path(base_dir) if base_dir is not None else contract.base_dir
    now = now or datetime.now(UTC).replace(tzinfo=None)
    raw = read_source(spec.source, base)
    table = spec.source.name
    raw.columns = [str(c) for c in raw.columns]
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row")

    problems: list[DataValidationError] = []
    missing = [c for c in spec.named_columns() if c not in raw.columns]
    if missing:
        problems.append(MissingColumnsError(table, spec.named_columns(), missing))
    if len(raw) == 0:
        problems.append(DataValidationError(table, None, "table is empty; nothing to train on"))
    if problems:
        raise ContractViolations(problems)

    ids = _check_ids(raw, spec, table, problems)
    outcome = _check_labels(raw, spec, table, ids, problems)
    order, time = _check_time(raw, spec, table, ids, now, problems)
    rule_score = _check_rule_score(raw, spec, table, ids, problems)
    forced: dict[str, pd.Series] = {}
    for column, kind in spec.column_types.items():
        typed, bad = _typed_column(raw[column], kind)
        if len(bad):
            problems.append(
                DataValidationError(
                    table,
                    column,
                    f"column_types says {kind}, but values are not {kind}",
                    count=len(bad),
                    examples=_examples(bad),
                )
            )
        forced[column] = typed
    if problems:
        raise ContractViolations(problems)

    features, typed_columns, excluded, notes = _type_features(raw, spec, forced)
    labelled = outcome.isin(["won", "lost"])
    is_open = outcome == "open"
    excluded_rows = []
    if is_open.any():
        excluded_rows.append(
            ExcludedRows(
                "label not decided yet (label_values.open): left out of training, kept for scoring",
                int(is_open.sum()),
                tuple(_examples(ids[is_open])),
            )
        )
        log.info("%s: %d rows with an open label left out of training", table, int(is_open.sum()))
    frame = pd.DataFrame(typed_columns, index=raw.index)[list(features)]
    label = (outcome[labelled] == "won").astype("int8").rename("label")
    return FlatData(
        table=table,
        frame=frame[labelled],
        label=label,
        ids=ids[labelled],
        features=features,
        time=time,
        order=None if order is None else order[labelled],
        rule_score=None if rule_score is None else rule_score[labelled],
        excluded=excluded,
        excluded_rows=excluded_rows,
        open_rows=frame[is_open],
        open_ids=ids[is_open],
        rows_read=len(raw),
        known_before_contact=tuple(spec.known_before_contact),
        notes=notes,
        open_rule_score=None if rule_score is None else rule_score[is_open],
    )


def _check_ids(
    raw: pd.DataFrame, spec: LeadsTable, table: str, problems: list[DataValidationError]
) -> pd.Series:
    if spec.id is None:
        return pd.Series(raw.index, index=raw.index, name="row")
    ids = raw[spec.id]
    if not pd.api.types.is_numeric_dtype(ids):
        ids = ids.astype(str).str.strip().where(ids.notna())
        ids = ids.where(ids != "")
    null = ids.isna()
    if null.any():
        problems.append(
            DataValidationError(
                table,
                spec.id,
                "id must not be empty (examples are row numbers)",
                count=int(null.sum()),
                examples=_examples(pd.Series(raw.index[null])),
            )
        )
    duplicated = ids.notna() & ids.duplicated(keep=False)
    if duplicated.any():
        problems.append(
            DataValidationError(
                table,
                spec.id,
                f"id must be unique; {ids[duplicated].nunique()} ids appear more than once",
                count=int(duplicated.sum()),
                examples=_examples(ids[duplicated]),
            )
        )
    return ids.rename(spec.id)


def _check_labels(
    raw: pd.DataFrame,
    spec: LeadsTable,
    table: str,
    ids: pd.Series,
    problems: list[DataValidationError],
) -> pd.Series:
    values = raw[spec.label]
    mapping = spec.label_values.mapping() if spec.label_values else None
    counts = values.value_counts(dropna=True)
    outcome_of = {value: label_outcome(value, mapping) for value in counts.index}
    outcome = values.map(outcome_of)
    if not pd.api.types.is_numeric_dtype(values):  # blank text is a missing label
        blank = values.astype(str).str.strip() == ""
        outcome = outcome.where(~blank)
    else:
        blank = pd.Series(False, index=values.index)
    null = values.isna() | blank
    if null.any():
        problems.append(
            DataValidationError(
                table,
                spec.label,
                "label must not be empty (examples are row ids)",
                count=int(null.sum()),
                examples=_examples(ids[null]),
            )
        )
    bad = [value for value, out in outcome_of.items() if out is None and str(value).strip()]
    if bad:
        allowed = "won (1, true, yes, won) or lost (0, false, no, lost)"
        if mapping:
            extra = {o: [v for v, m in mapping.items() if m == o] for o in ("won", "lost", "open")}
            allowed += "; label_values: " + ", ".join(f"{o} {v}" for o, v in extra.items() if v)
        found = ", ".join(f"{_plain(v)!r} ({_rows(int(n))})" for v, n in counts.head(20).items())
        more = f" and {len(counts) - 20} more" if len(counts) > 20 else ""
        problems.append(
            DataValidationError(
                table,
                spec.label,
                f"label must be {allowed}; values found: {found}{more}. "
                "Map other values with label_values: {won: [...], lost: [...], open: [...]}",
                count=int(values.isin(bad).sum()),
                examples=[_plain(v) for v in bad],
            )
        )
    decided = set(outcome.dropna()) - {"open"}
    if not bad and not null.any() and len(decided) == 1:
        only = decided.pop()
        problems.append(
            DataValidationError(
                table,
                spec.label,
                f"every labelled row is {only}; a model needs won and lost rows",
                count=int((outcome == only).sum()),
                examples=_examples(values[outcome == only]),
            )
        )
    return outcome


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _parse_dates(values: pd.Series) -> pd.Series:
    """Timestamps (naive UTC) from a column; NaT where a value is not a date."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
        if getattr(values.dt, "tz", None) is not None:
            out = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[us]")
    text = values.astype(str).str.strip().where(values.notna())
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce", utc=True)
    return parsed.dt.tz_localize(None).astype("datetime64[us]")


def _check_time(
    raw: pd.DataFrame,
    spec: LeadsTable,
    table: str,
    ids: pd.Series,
    now: datetime,
    problems: list[DataValidationError],
) -> tuple[pd.Series | None, TimeInfo]:
    if spec.created_at is not None:
        column = spec.created_at
        values = raw[column]
        parsed = _parse_dates(values)
        null = values.isna() | (values.astype(str).str.strip() == "")
        if null.any():
            problems.append(
                DataValidationError(
                    table,
                    column,
                    "created_at must not be empty (examples are row ids)",
                    count=int(null.sum()),
                    examples=_examples(ids[null]),
                )
            )
        bad = parsed.isna() & ~null
        if bad.any():
            problems.append(
                DataValidationError(
                    table,
                    column,
                    "created_at values are not dates (expected e.g. 2024-03-31 or "
                    "2024-03-31 14:05:00)",
                    count=int(bad.sum()),
                    examples=_examples(values[bad]),
                )
            )
        future = parsed > pd.Timestamp(now)
        if future.any():
            problems.append(
                DataValidationError(
                    table,
                    column,
                    f"timestamps must not be in the future (after {now:%Y-%m-%d %H:%M})",
                    count=int(future.sum()),
                    examples=_examples(values[future]),
                )
            )
        return parsed.rename(column), TimeInfo(
            "created_at", column, f"rows ordered by created_at (column {column!r})"
        )
    if spec.order_by == ROW_ORDER:
        position = pd.Series(raw.index, index=raw.index, name=ROW_ORDER)
        return position, TimeInfo(
            "order_by", ROW_ORDER, "rows in source order, taken as time order (order_by: row_order)"
        )
    if spec.order_by is not None:
        column = spec.order_by
        values = raw[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            key = values if pd.api.types.is_numeric_dtype(values) else _parse_dates(values)
        else:
            numbers = parse_numbers(values.where(values.notna(), ""))
            dates = _parse_dates(values)
            key = numbers if numbers.notna().sum() >= dates.notna().sum() else dates
        null = values.isna()
        if null.any():
            problems.append(
                DataValidationError(
                    table,
                    column,
                    "order_by column must not be empty (examples are row ids)",
                    count=int(null.sum()),
                    examples=_examples(ids[null]),
                )
            )
        bad = key.isna() & ~null
        if bad.any():
            problems.append(
                DataValidationError(
                    table,
                    column,
                    "order_by column must hold numbers or dates",
                    count=int(bad.sum()),
                    examples=_examples(values[bad]),
                )
            )
        return key.rename(column), TimeInfo(
            "order_by", column, f"rows ordered by column {column!r} (order_by)"
        )
    return None, TimeInfo("none", None, "no time column (neither created_at nor order_by)")


def _check_rule_score(
    raw: pd.DataFrame,
    spec: LeadsTable,
    table: str,
    ids: pd.Series,
    problems: list[DataValidationError],
) -> pd.Series | None:
    if spec.rule_score is None:
        return None
    column = spec.rule_score
    values = raw[column]
    if pd.api.types.is_numeric_dtype(values):
        scores = values.astype("float64")
        bad = pd.Series(False, index=values.index)
    else:
        scores = parse_numbers(values.where(values.notna(), ""))
        bad = scores.isna() & values.notna() & (values.astype(str).str.strip() != "")
    null = scores.isna() & ~bad
    if null.any():
        problems.append(
            DataValidationError(
                table,
                column,
                "rule_score must not be empty: every lead needs the score to "
                "compare against (examples are row ids)",
                count=int(null.sum()),
                examples=_examples(ids[null]),
            )
        )
    if bad.any():
        problems.append(
            DataValidationError(
                table,
                column,
                "rule_score values must be numbers",
                count=int(bad.sum()),
                examples=_examples(values[bad]),
            )
        )
    return scores.rename(column)


def _type_features(
    raw: pd.DataFrame, spec: LeadsTable, forced: dict[str, pd.Series]
) -> tuple[dict[str, ColumnKind], dict[str, pd.Series], list[Excluded], list[str]]:
    roles = set(spec.role_columns())
    features: dict[str, ColumnKind] = {}
    typed: dict[str, pd.Series] = {}
    excluded: list[Excluded] = []
    notes: list[str] = []
    for column in raw.columns:
        if column in roles:
            continue
        if column in spec.exclude:
            excluded.append(Excluded(column, "excluded by the contract (exclude)"))
            continue
        if column in spec.known_after_contact:
            excluded.append(
                Excluded(column, "known only after contact (known_after_contact); never used")
            )
            continue
        if column in forced:
            features[column] = spec.column_types[column]
            typed[column] = forced[column]
            continue
        profile, values = _profile(column, raw[column])
        if values is None:
            excluded.append(Excluded(column, profile.reason))
            continue
        features[column] = profile.kind  # type: ignore[assignment]
        typed[column] = values
        if profile.unparsed:
            notes.append(
                f"column {column!r} is numeric; {profile.unparsed} values that are not numbers "
                f"count as missing (e.g. {', '.join(repr(e) for e in profile.unparsed_examples)})"
            )
    for e in excluded:
        log.info("column %r left out: %s", e.column, e.reason)
    return features, typed, excluded, notes


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class FlatSplit:
    """Row labels (the ``row`` index) of each part, and how the split was made, in words."""

    train: pd.Index
    validation: pd.Index
    test: pd.Index
    by_time: bool
    description: str


def flat_split(
    data: FlatData, test_share: float = 0.2, validation_share: float = 0.2, *, seed: int = 0
) -> FlatSplit:
    """Split the labelled rows into train, validation and test.

    With a time order (``data.order``), rows are sorted by it (ties keep source order); the
    last ``ceil(test_share * n)`` rows are the test set and the ``ceil(validation_share * n)``
    before them validation. Without one, a stratified random split with ``seed`` keeps the
    won rate equal across the parts, and the description says the test rows are not later
    than the training rows.
    """
    for name, share in (("test_share", test_share), ("validation_share", validation_share)):
        if not 0 < share < 1:
            raise ConfigError(f"{name} must be between 0 and 1, got {share!r}")
    if test_share + validation_share >= 1:
        raise ConfigError(
            f"test_share + validation_share must leave rows to train on, got "
            f"{test_share} + {validation_share}"
        )
    n = len(data.frame)
    n_test = math.ceil(test_share * n)
    n_val = math.ceil(validation_share * n)
    if data.order is not None:
        order = data.order.sort_index()
        ranked = order.sort_values(kind="stable").index
        train, val, test = (
            ranked[: n - n_test - n_val],
            ranked[n - n_test - n_val : n - n_test],
            ranked[n - n_test :],
        )
        description = (
            f"time split; {data.time.description}. Train {_span(order, train)}, validation "
            f"{_span(order, val)}, test (the latest {test_share:.0%}) {_span(order, test)}"
        )
        return FlatSplit(train, val, test, True, description)
    from sklearn.model_selection import train_test_split

    y = data.label
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < 3:
        raise DataValidationError(
            data.table,
            str(y.name),
            "a stratified split needs at least 3 "
            f"won and 3 lost rows; the smaller class has {minority}",
        )
    rest, test = train_test_split(y.index, test_size=n_test, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, stratify=y.loc[rest], random_state=seed)
    description = (
        f"no time column: stratified random split (seed {seed}): train "
        f"{len(train)} rows, validation {len(val)}, test {len(test)}; the test rows "
        "are not later than the training rows, so these figures do not show how the "
        "model holds up on later leads"
    )
    return FlatSplit(
        pd.Index(sorted(train)), pd.Index(sorted(val)), pd.Index(sorted(test)), False, description
    )


def describe_span(order: pd.Series, rows: pd.Index) -> str:
    """Where ``rows`` sit in time order ``order`` (``FlatData.order``), in words, e.g.
    ``rows 1-24712 (24712 rows)`` or ``2024-01-01..2024-03-31 (812 rows)``; ``rows`` must be
    in time order."""
    return _span(order, rows)


def _span(order: pd.Series, rows: pd.Index) -> str:
    if len(rows) == 0:
        return "(no rows)"
    values = order.loc[rows]
    first, last = values.iloc[0], values.iloc[-1]
    if isinstance(first, pd.Timestamp):
        return f"{first:%Y-%m-%d}..{last:%Y-%m-%d} ({len(rows)} rows)"
    if order.name == ROW_ORDER:
        return f"rows {first}-{last} ({len(rows)} rows)"
    return f"{order.name} {_plain(first)}..{_plain(last)} ({len(rows)} rows)"
