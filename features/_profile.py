"""Automatic typing of a team's columns: numbers, categories, yes/no flags, or left out.

Contract: :func:`profile_columns` returns one :class:`ColumnProfile` per column of a frame,
in column order, with the kind it would be used as (numeric, categorical, boolean) or why it
is left out (datetime, identifier, free text, constant, empty), never changing the frame.
:func:`typed_column` forces values to a kind and returns the values that do not fit;
:func:`parse_numbers` reads numbers written the way CRM exports write them; and
:func:`label_outcome` reads a label value as won, lost or open. The import of a contract
(:mod:`features._import`) and ``init-contract`` (:mod:`features._contract`) both type columns
with these rules, so what a starting contract says is what the import does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from leadscore.features._contract import name_words, normalise_token

ColumnKind = Literal["numeric", "categorical", "boolean"]
"""How a feature column is used: a number, a category, or a yes/no flag (as 1.0/0.0)."""

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


def typed_column(values: pd.Series, kind: ColumnKind) -> tuple[pd.Series, pd.Series]:
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


def _examples(values: pd.Series) -> list[object]:
    return [_plain(v) for v in values.drop_duplicates().head(5).tolist()]


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value)
    return value


