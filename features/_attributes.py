"""Attribute features derived from lead rows (no time, no events), and lead rows as columns.

Contract: :func:`derive_attributes` takes lead rows (the raw contact attributes plus the
engagement columns of :mod:`features._definitions`) and returns a *new* frame with the same
rows in the same order plus ``title_level``, ``title_function``, ``company_size_band``,
``email_is_free`` and ``activity_trend``. It never mutates its input. The batch path and the
online path both call it (through :func:`derive_columns`), so a lead gets the same features
wherever it is scored.

:class:`LeadColumns` is how the scorers read lead rows, from a DataFrame or from plain column
arrays (the HTTP service builds those without pandas): each column is converted once, and a
text column is read as a :class:`Coded` column, codes into its distinct values. Whatever is
decided per value (a parsed title, a category code, a rule condition) is then decided once
per distinct value and spread back by code: no Python loop over rows, and no pandas
machinery for a single lead. :func:`derive_columns` computes the derived attributes on
such columns and returns them as columns; :func:`derive_attributes` is that plus a frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import chain
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import DTypeLike, NDArray

TITLE_LEVELS: tuple[str, ...] = (
    "c_level",
    "vp",
    "director",
    "manager",
    "individual",
    "intern",
    "student",
    "unknown",
)
TITLE_FUNCTIONS: tuple[str, ...] = (
    "executive",
    "sales",
    "marketing",
    "engineering",
    "it",
    "finance",
    "operations",
    "hr",
    "other",
    "unknown",
)
COMPANY_SIZE_BANDS: tuple[str, ...] = (
    "1-10",
    "11-50",
    "51-200",
    "201-1000",
    "1001-5000",
    "5000+",
    "unknown",
)
_SIZE_EDGES = (10, 50, 200, 1000, 5000)

FREE_EMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com",
        "outlook.com", "live.com", "msn.com", "aol.com", "icloud.com", "me.com",
        "protonmail.com", "proton.me", "gmx.de", "gmx.net", "web.de", "mail.ru",
        "yandex.ru", "qq.com", "163.com", "126.com", "orange.fr", "free.fr",
        "libero.it", "btinternet.com", "comcast.net",
    }
)  # fmt: skip

# Checked in order; the first match wins. Word boundaries keep "it" out of "title".
_LEVEL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (level, re.compile(pattern))
    for level, pattern in (
        ("student", r"\bstudent\b|\bphd candidate\b|\bundergrad"),
        ("intern", r"\bintern\b|\binternship\b|\btrainee\b|\bapprentice\b|\bworking student\b"),
        ("c_level", r"\bchief\b|\bc[etfmoi]o\b|\bpresident\b(?<!vice president)|\bfounder\b"
                    r"|\bco-founder\b|\bowner\b|\bmanaging (director|partner)\b"),
        ("vp", r"\bvp\b|\bsvp\b|\bevp\b|\bvice[- ]president\b"),
        ("director", r"\bdirector\b|\bhead of\b|\bhead\b"),
        ("manager", r"\bmanager\b|\bmgr\b|\blead\b|\bsupervisor\b|\bteam lead"),
        ("individual", r"\bengineer\b|\bdeveloper\b|\banalyst\b|\bspecialist\b|\bconsultant\b"
                       r"|\bcoordinator\b|\brepresentative\b|\brep\b|\bassociate\b|\bexecutive\b"
                       r"|\badministrator\b|\badmin\b|\bassistant\b|\baccountant\b|\bdesigner\b"
                       r"|\bscientist\b|\barchitect\b|\bofficer\b|\bstaff\b|\bsdr\b|\bbdr\b"),
    )
)  # fmt: skip
_FUNCTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (function, re.compile(pattern))
    for function, pattern in (
        ("sales", r"\bsales\b|\baccount executive\b|\bbusiness development\b|\bsdr\b|\bbdr\b"
                  r"|\brevenue\b|\baccount manager\b"),
        ("marketing", r"\bmarketing\b|\bgrowth\b|\bbrand\b|\bdemand gen|\bcontent\b|\bcmo\b"
                      r"|\bcommunications\b|\bseo\b"),
        ("it", r"\bit\b|\binformation\b|\bsystems\b|\bcio\b|\bnetwork\b|\bsecurity\b"
               r"|\binfrastructure\b|\bhelpdesk\b"),
        ("engineering", r"\bengineer|\bdeveloper\b|\bsoftware\b|\btechnology\b|\bcto\b|\bdata\b"
                        r"|\bproduct\b|\barchitect\b"),
        ("finance", r"\bfinance\b|\bfinancial\b|\bcfo\b|\baccount(ing|ant)\b|\bcontroller\b"),
        ("operations", r"\boperations\b|\bops\b|\bcoo\b|\bsupply\b|\blogistics\b|\bprocurement\b"),
        ("hr", r"\bhr\b|\bhuman resources\b|\bpeople\b|\btalent\b|\brecruit"),
        ("executive", r"\bceo\b|\bchief executive\b|\bpresident\b|\bfounder\b|\bowner\b|\bmanaging director\b"
                      r"|\bgeneral manager\b|\bmanaging partner\b"),
    )
)  # fmt: skip
_BLANK_TITLES = frozenset({"", "n/a", "na", "none", "-", ".", "unknown", "null"})

DERIVED_COLUMNS: tuple[str, ...] = (
    "title_level",
    "title_function",
    "company_size_band",
    "email_is_free",
    "activity_trend",
)
# Up to this many rows, distinct values are found with a dict (no pandas call overhead);
# above it with pandas.factorize. Both give the same codes.
SMALL_ROWS = 64


@lru_cache(maxsize=65536)
def parse_title(title: str | None) -> tuple[str, str]:
    """Return ``(level, function)`` for a free-text job title.

    >>> parse_title("VP Sales")
    ('vp', 'sales')
    >>> parse_title("Marketing Intern")
    ('intern', 'marketing')
    """
    if title is None:
        return "unknown", "unknown"
    raw = " ".join(str(title).lower().split())
    if raw in _BLANK_TITLES:
        return "unknown", "unknown"
    text = " ".join(raw.replace(",", " ").replace("/", " ").split())
    if not text:
        return "unknown", "unknown"
    level = next((name for name, pat in _LEVEL_PATTERNS if pat.search(text)), "unknown")
    if level in ("student",):
        return level, "other"
    function = next((name for name, pat in _FUNCTION_PATTERNS if pat.search(text)), "other")
    return level, function


# --------------------------------------------------------------------------- columns


def is_missing(value: object) -> bool:
    """True for the values pandas treats as missing in a column (None, NaN, NA, NaT)."""
    if value is None:
        return True
    if isinstance(value, str):
        return False
    return bool(pd.api.types.is_scalar(value) and pd.isna(cast(Any, value)))


@dataclass(frozen=True)
class Coded:
    """A column as codes into a list of values: row ``i`` holds ``values[codes[i]]``, and
    code -1 is a missing value. ``values`` may repeat (a derived column keeps the codes of
    the column it comes from)."""

    codes: NDArray[np.intp]
    values: list[Any]

    def map(self, fn: Callable[[Any], Any], missing: Any, dtype: DTypeLike) -> NDArray[Any]:
        """``fn`` of every row's value (``missing`` where missing), calling ``fn`` once per
        entry of ``values``."""
        table = np.fromiter(chain(map(fn, self.values), [missing]), dtype=dtype,
                            count=len(self.values) + 1)  # fmt: skip
        return table[self.codes]  # code -1 picks the trailing ``missing``

    def decode(self) -> NDArray[np.object_]:
        """The values row by row, None where missing."""
        return self.map(lambda v: v, None, object)

    def array(self) -> Any:
        """The values row by row for a pandas column, stored as pandas stores a list of these
        texts: an Arrow-backed column is built from the distinct values alone (no Python
        string per row), once; otherwise the object array, for pandas to infer its dtype."""
        dtype = _inferred_text_dtype()
        if (
            len(self.codes) <= SMALL_ROWS
            or not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow")
            or not all(isinstance(v, str) for v in self.values)
            or not (self.codes >= 0).any()  # no text at all: pandas keeps object
        ):
            return self.decode()
        built = self.__dict__.get("_array")
        if built is None:
            indices = pa.array(self.codes.astype(np.int32), mask=self.codes < 0)
            dictionary = pa.array(self.values, type=pa.large_string())
            texts = pa.DictionaryArray.from_arrays(indices, dictionary).dictionary_decode()
            built = pd.array(texts, dtype=dtype)
            object.__setattr__(self, "_array", built)  # immutable: the same texts every time
        return built


@cache
def _inferred_text_dtype() -> Any:
    """What pandas makes of a column of Python strings ("str" on pandas 3, object before)."""
    return pd.Series(np.array(["text"], dtype=object)).dtype


def distinct(values: pd.Series | NDArray[Any]) -> Coded:
    """``values`` as codes into its distinct values, in order of first appearance; missing
    values (see :func:`is_missing`) get code -1. Values equal in Python (``1 == 1.0 ==
    True``) share a code, as they do in :func:`pandas.factorize`."""
    if len(values) > SMALL_ROWS:
        codes, uniques = pd.factorize(values)
        return Coded(np.asarray(codes, dtype=np.intp), uniques.tolist())
    seen: dict[Any, int] = {}
    small = [-1 if is_missing(v) else seen.setdefault(v, len(seen)) for v in values.tolist()]
    return Coded(np.array(small, dtype=np.intp), list(seen))


ColumnData = pd.Series | NDArray[Any] | Coded


class LeadColumns:
    """Lead rows as columns (see the module docstring), for ``n_rows`` rows.

    ``columns`` maps a column name to a pandas Series, a numpy array or a :class:`Coded`
    column (a DataFrame is such a mapping). A column of a numeric or boolean dtype is read
    as numbers, anything else (text, objects) as a :class:`Coded` column. Each conversion
    happens at most once; the input is never modified.
    """

    def __init__(self, columns: Mapping[str, ColumnData] | pd.DataFrame, n_rows: int) -> None:
        self.n_rows = n_rows
        self._base = columns
        self._added: dict[str, ColumnData] = {}
        self._floats: dict[str, NDArray[np.float64]] = {}
        self._coded: dict[str, Coded] = {}

    @classmethod
    def of(cls, rows: pd.DataFrame | LeadColumns) -> LeadColumns:
        """``rows`` as lead columns (LeadColumns are returned as they are)."""
        if isinstance(rows, LeadColumns):
            return rows
        return cls(rows, len(rows))

    def __contains__(self, name: str) -> bool:
        return name in self._added or name in self._base

    def _data(self, name: str) -> ColumnData:
        data = self._added.get(name)
        if data is None:  # taken from the input once (a frame makes a Series every time)
            data = self._added[name] = self._base[name]
        return data

    def with_columns(self, columns: Mapping[str, ColumnData]) -> LeadColumns:
        """New lead columns: these columns added, or replacing those of the same name."""
        out = LeadColumns(self._base, self.n_rows)
        out._added = {**self._added, **columns}
        out._floats = {k: v for k, v in self._floats.items() if k not in columns}
        out._coded = {k: v for k, v in self._coded.items() if k not in columns}
        return out

    def names(self) -> list[str]:
        """The column names, the input's first."""
        base = self._base.columns if isinstance(self._base, pd.DataFrame) else self._base
        return list(dict.fromkeys([*(str(name) for name in base), *self._added]))

    def rows(self, start: int, stop: int) -> LeadColumns:
        """Rows ``start`` to ``stop`` (views of these columns, with their conversions)."""
        stop = min(stop, self.n_rows)
        return self._select(slice(start, stop), max(stop - start, 0))

    def take(self, rows: NDArray[np.intp]) -> LeadColumns:
        """The rows at positions ``rows``, in that order (with these columns' conversions)."""
        return self._select(rows, len(rows))

    def _select(self, rows: slice | NDArray[np.intp], n_rows: int) -> LeadColumns:
        out = LeadColumns(_Rows(self, rows), n_rows)
        out._floats = {k: v[rows] for k, v in self._floats.items()}
        out._coded = {k: Coded(v.codes[rows], v.values) for k, v in self._coded.items()}
        return out

    def is_numeric(self, name: str) -> bool:
        """Whether column ``name`` has a numeric or boolean dtype."""
        data = self._data(name)
        if isinstance(data, Coded):
            return False
        if isinstance(data, np.ndarray):
            return data.dtype.kind in "biuf"
        return bool(pd.api.types.is_numeric_dtype(data.dtype) or
                    pd.api.types.is_bool_dtype(data.dtype))  # fmt: skip

    def floats(self, name: str) -> NDArray[np.float64]:
        """Column ``name`` as float64: numbers as they are (booleans as 0/1), anything else
        through ``pandas.to_numeric(errors="coerce")``; missing or unreadable values are NaN."""
        out = self._floats.get(name)
        if out is None:
            data = self._data(name)
            if isinstance(data, Coded):
                data = data.decode()
            if self.is_numeric(name):
                if isinstance(data, np.ndarray):
                    out = np.asarray(data, dtype="float64")
                else:
                    out = data.to_numpy(dtype="float64", na_value=np.nan)
            else:
                numbers = pd.to_numeric(pd.Series(data, copy=False), errors="coerce")
                out = numbers.to_numpy(dtype="float64", na_value=np.nan)
            self._floats[name] = out
        return out

    def fill_floats(self, name: str, out: NDArray[np.float64]) -> None:
        """Write :meth:`floats` of column ``name`` into ``out``: a plain numpy number column
        is cast straight into it, without a float copy in between."""
        data = self._data(name)
        if name not in self._floats and not isinstance(data, Coded):
            dtype = data.dtype
            if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
                out[...] = data if isinstance(data, np.ndarray) else data.to_numpy()
                return
        out[...] = self.floats(name)

    def objects(self, name: str) -> list[Any]:
        """Column ``name`` row by row as Python objects (missing values as stored)."""
        data = self._data(name)
        return data.decode().tolist() if isinstance(data, Coded) else data.tolist()

    def coded(self, name: str) -> Coded:
        """Column ``name`` as codes into its distinct values (see :func:`distinct`)."""
        out = self._coded.get(name)
        if out is None:
            data = self._data(name)
            out = data if isinstance(data, Coded) else distinct(data)
            self._coded[name] = out
        return out


class _Rows(Mapping[str, ColumnData]):
    """Some rows of lead columns, column by column (for :meth:`LeadColumns.rows` and
    :meth:`LeadColumns.take`)."""

    def __init__(self, columns: LeadColumns, rows: slice | NDArray[np.intp]) -> None:
        self._columns, self._rows = columns, rows

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._columns

    def __getitem__(self, name: str) -> ColumnData:
        if name not in self._columns:
            raise KeyError(name)
        data = self._columns._data(name)
        if isinstance(data, Coded):
            return Coded(data.codes[self._rows], data.values)
        if isinstance(data, np.ndarray):
            return data[self._rows]
        return data.iloc[self._rows]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns.names())

    def __len__(self) -> int:
        return len(self._columns.names())


def nan_to_zero(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.nan_to_num(values, nan=0.0)``; ``values`` itself when every value is finite (the
    usual case, and then no copy: do not write to the result)."""
    return values if np.isfinite(values).all() else np.nan_to_num(values, nan=0.0)


def missing_column(n_rows: int) -> Coded:
    """A column of ``n_rows`` missing values."""
    return Coded(np.full(n_rows, -1, dtype=np.intp), [])


# --------------------------------------------------------------------------- the attributes


def _size_band_codes(sizes: NDArray[np.float64]) -> NDArray[np.intp]:
    """Index into COMPANY_SIZE_BANDS per employee count; missing or non-positive: unknown."""
    codes = np.searchsorted(np.asarray(_SIZE_EDGES, dtype="float64"), sizes, side="left")
    codes = np.minimum(codes, len(_SIZE_EDGES)).astype(np.intp)
    codes[np.isnan(sizes) | (sizes <= 0)] = len(COMPANY_SIZE_BANDS) - 1
    return codes


def _is_free_domain(domain: object) -> float:
    return float(str(domain).strip().lower() in FREE_EMAIL_DOMAINS)


def _trend(recent: NDArray[np.float64], before: NDArray[np.float64]) -> NDArray[np.float64]:
    recent = nan_to_zero(recent)
    before = nan_to_zero(before)
    return np.asarray((recent + 1.0) / (before / 2.0 + 1.0), dtype="float64")


def company_size_band(size: pd.Series) -> pd.Series:
    """Employee count to a band label; missing or non-positive sizes are ``unknown``."""
    values = LeadColumns({"size": size}, len(size)).floats("size")
    labels = np.asarray(COMPANY_SIZE_BANDS, dtype=object)[_size_band_codes(values)]
    return pd.Series(labels, index=size.index, dtype="object", name="company_size_band")


def email_is_free(domain: pd.Series) -> pd.Series:
    """1.0 for free-mail domains, 0.0 for corporate ones, NaN when the domain is missing."""
    # decided once per distinct domain, then spread back (cheap for 1 row and for 1M)
    free = distinct(domain.to_numpy(dtype=object)).map(_is_free_domain, np.nan, "float64")
    return pd.Series(free, index=domain.index, name="email_is_free")


def activity_trend(events_30d: pd.Series, events_30_90d: pd.Series) -> pd.Series:
    """Activity in the last 30 days relative to the 60 days before (per-30-day rate, +1 smoothed)."""
    columns = LeadColumns({"recent": events_30d, "before": events_30_90d}, len(events_30d))
    trend = _trend(columns.floats("recent"), columns.floats("before"))
    return pd.Series(trend, index=events_30d.index, name="activity_trend")


def derive_columns(
    columns: LeadColumns, names: Iterable[str] = DERIVED_COLUMNS
) -> dict[str, NDArray[np.float64] | Coded]:
    """The derived attribute columns ``names`` (of :data:`DERIVED_COLUMNS`) of ``columns``:
    text ones as :class:`Coded` columns without missing codes, numbers as float64. Absent
    source columns are missing (no title, no size, no domain) or no events (the trend)."""
    n = columns.n_rows
    wanted = set(names)
    out: dict[str, NDArray[np.float64] | Coded] = {}
    if wanted & {"title_level", "title_function"}:
        titles = columns.coded("title") if "title" in columns else missing_column(n)
        # parse each distinct title once; leads repeat titles a lot
        parsed = [parse_title(str(t)) for t in titles.values]
        codes = titles.codes
        if codes.size and codes.min() < 0:  # no title: a value of its own, not a missing one
            codes = np.where(codes < 0, len(parsed), codes)
            parsed.append(parse_title(None))
        out["title_level"] = Coded(codes, [level for level, _ in parsed])
        out["title_function"] = Coded(codes, [function for _, function in parsed])
    if "company_size_band" in wanted:
        sizes = columns.floats("company_size") if "company_size" in columns else np.full(n, np.nan)
        out["company_size_band"] = Coded(_size_band_codes(sizes), list(COMPANY_SIZE_BANDS))
    if "email_is_free" in wanted:
        out["email_is_free"] = (
            columns.coded("email_domain").map(_is_free_domain, np.nan, "float64")
            if "email_domain" in columns
            else np.full(n, np.nan)
        )
    if "activity_trend" in wanted:
        zeros = np.zeros(n)
        recent = columns.floats("events_30d") if "events_30d" in columns else zeros
        before = columns.floats("events_30_90d") if "events_30_90d" in columns else zeros
        out["activity_trend"] = _trend(recent, before)
    return {name: out[name] for name in DERIVED_COLUMNS if name in out}


def derive_attributes(leads: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``leads`` with the derived attribute columns appended (see module doc)."""
    derived = derive_columns(LeadColumns.of(leads))
    added = pd.DataFrame(
        {name: col.array() if isinstance(col, Coded) else col for name, col in derived.items()},
        index=leads.index,
    )
    kept = leads.drop(columns=[c for c in derived if c in leads.columns])
    return pd.concat([kept, added], axis=1)
