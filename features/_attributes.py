"""Row-wise attribute features derived from a lead row (no time, no events).

Contract: :func:`derive_attributes` takes lead rows (the raw contact attributes plus the
engagement columns of :mod:`features._definitions`) and returns a *new* frame with the same
rows in the same order plus ``title_level``, ``title_function``, ``company_size_band``,
``email_is_free`` and ``activity_trend``. It never mutates its input. The batch path and the
online path both call it, so a lead gets the same features wherever it is scored.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

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


def company_size_band(size: pd.Series) -> pd.Series:
    """Employee count to a band label; missing or non-positive sizes are ``unknown``."""
    values = pd.to_numeric(size, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    idx = np.searchsorted(np.asarray(_SIZE_EDGES, dtype="float64"), values, side="left")
    labels = np.asarray(COMPANY_SIZE_BANDS[:-1], dtype=object)[np.minimum(idx, 5)]
    labels = np.where(np.isnan(values) | (values <= 0), "unknown", labels)
    return pd.Series(labels, index=size.index, dtype="object", name="company_size_band")


def email_is_free(domain: pd.Series) -> pd.Series:
    """1.0 for free-mail domains, 0.0 for corporate ones, NaN when the domain is missing."""
    # decide once per distinct domain, then spread back (cheap for 1 row and for 1M)
    codes, uniques = pd.factorize(domain.to_numpy(dtype=object), use_na_sentinel=True)
    table = np.array(
        [float(str(d).strip().lower() in FREE_EMAIL_DOMAINS) for d in uniques] + [np.nan],
        dtype="float64",
    )
    return pd.Series(table[codes], index=domain.index, name="email_is_free")


def _floats(values: pd.Series) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(values.dtype):
        values = pd.to_numeric(values, errors="coerce")
    return values.to_numpy(dtype="float64", na_value=np.nan)


def activity_trend(events_30d: pd.Series, events_30_90d: pd.Series) -> pd.Series:
    """Activity in the last 30 days relative to the 60 days before (per-30-day rate, +1 smoothed)."""
    recent = np.nan_to_num(_floats(events_30d), nan=0.0)
    before = np.nan_to_num(_floats(events_30_90d), nan=0.0)
    trend = (recent + 1.0) / (before / 2.0 + 1.0)
    return pd.Series(trend, index=events_30d.index, name="activity_trend")


def derive_attributes(leads: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``leads`` with the derived attribute columns appended (see module doc)."""
    n = len(leads)
    index = leads.index
    titles = (
        leads["title"].astype("object")
        if "title" in leads
        else pd.Series([None] * n, index=index, dtype="object")
    )
    # parse each distinct title once; leads repeat titles a lot
    keys = titles.where(titles.notna(), None).tolist()
    parsed = {t: parse_title(None if t is None else str(t)) for t in set(keys)}
    zeros = pd.Series(0.0, index=index)
    derived = {
        "title_level": np.array([parsed[t][0] for t in keys], dtype=object),
        "title_function": np.array([parsed[t][1] for t in keys], dtype=object),
        "company_size_band": company_size_band(
            leads["company_size"] if "company_size" in leads else pd.Series(np.nan, index=index)
        ).to_numpy(),
        "email_is_free": email_is_free(
            leads["email_domain"] if "email_domain" in leads else pd.Series(None, index=index)
        ).to_numpy(),
        "activity_trend": activity_trend(
            leads.get("events_30d", zeros),
            leads.get("events_30_90d", zeros),
        ).to_numpy(),
    }
    kept = leads.drop(columns=[c for c in derived if c in leads.columns])
    return pd.concat([kept, pd.DataFrame(derived, index=index)], axis=1)
