"""Lead attributes, worked by hand and against a row-by-row oracle."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from leadscore.features import derive_attributes, parse_title
from leadscore.features._attributes import (
    FREE_EMAIL_DOMAINS,
    Coded,
    activity_trend,
    company_size_band,
    distinct,
    email_is_free,
)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("VP Sales", ("vp", "sales")),
        ("Vice President, Marketing", ("vp", "marketing")),
        ("Marketing Intern", ("intern", "marketing")),
        ("Student", ("student", "other")),
        ("Chief Executive Officer", ("c_level", "executive")),
        ("Head of IT", ("director", "it")),
        ("HR Business Partner", ("unknown", "hr")),  # "partner" alone is not C-level
        ("n/a", ("unknown", "unknown")),
        (None, ("unknown", "unknown")),
    ],
)
def test_parse_title(title: str | None, expected: tuple[str, str]) -> None:
    assert parse_title(title) == expected


def test_company_size_band_edges() -> None:
    sizes = pd.Series([1, 10, 11, 50, 51, 200, 201, 1000, 1001, 5000, 5001, None, 0, -3])
    assert company_size_band(sizes).tolist() == [
        "1-10", "1-10", "11-50", "11-50", "51-200", "51-200", "201-1000", "201-1000",
        "1001-5000", "1001-5000", "5000+", "unknown", "unknown", "unknown",
    ]  # fmt: skip


def test_email_is_free_ignores_case_and_spaces_and_keeps_missing() -> None:
    domains = pd.Series(["gmail.com", " GMail.COM ", "acme.io", None, float("nan"), "gmail.com"])
    out = email_is_free(domains).to_numpy()
    np.testing.assert_array_equal(out[:3], [1.0, 1.0, 0.0])
    assert np.isnan(out[3]) and np.isnan(out[4]) and out[5] == 1.0


def test_activity_trend_by_hand() -> None:
    # 5 events in the last 30 days, 4 in the 60 before (2 per 30 days): (5+1)/(2+1) = 2.
    # No events at all: (0+1)/(0+1) = 1. Missing counts are no events.
    out = activity_trend(pd.Series([5, 0, None]), pd.Series([4, 0, 2]))
    np.testing.assert_allclose(out.to_numpy(), [2.0, 1.0, 0.5])


def test_derive_attributes_returns_a_new_frame() -> None:
    leads = pd.DataFrame({"title": ["VP Sales"], "company_size": [300], "email_domain": ["a.io"]})
    before = leads.copy()
    out = derive_attributes(leads)
    pd.testing.assert_frame_equal(leads, before)
    assert out.loc[0, "title_level"] == "vp" and out.loc[0, "company_size_band"] == "201-1000"
    assert out.loc[0, "email_is_free"] == 0.0 and out.loc[0, "activity_trend"] == 1.0


def _derived_one_row(title: object, size: object, domain: object, recent: object,
                     before: object) -> tuple[str, str, str, float, float]:  # fmt: skip
    """The derived attributes of one lead, worked out the slow, obvious way."""
    missing = title is None or (isinstance(title, float) and math.isnan(title))
    level, function = parse_title(None if missing else str(title))
    try:
        n = float(size)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        n = math.nan
    if math.isnan(n) or n <= 0:
        band = "unknown"
    elif n <= 10:
        band = "1-10"
    elif n <= 50:
        band = "11-50"
    elif n <= 200:
        band = "51-200"
    elif n <= 1000:
        band = "201-1000"
    elif n <= 5000:
        band = "1001-5000"
    else:
        band = "5000+"
    no_domain = domain is None or (isinstance(domain, float) and math.isnan(domain))
    free = math.nan if no_domain else float(str(domain).strip().lower() in FREE_EMAIL_DOMAINS)

    def count(v: object) -> float:
        return 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)  # type: ignore[arg-type]

    return level, function, band, free, (count(recent) + 1) / (count(before) / 2 + 1)


def varied_leads(n: int, seed: int) -> pd.DataFrame:
    """Leads with every kind of awkward value: missing ones of each sort, unicode and
    padded titles, blank titles, sizes as text, negative or zero sizes, odd-case domains."""
    rng = np.random.default_rng(seed)
    titles = ["VP Sales", "  vp   SALES ", "Directeur général", "Ingeniera de datos ñ",
              "首席执行官", "Head of IT", "n/a", "", "Marketing Intern", None, float("nan")]
    sizes = [1, 10, 11, 5000, 5001, 0, -3, None, float("nan"), "250", "lots"]
    domains = ["gmail.com", " GMail.COM ", "acme.io", "ÉCOLE.fr", None, float("nan")]
    return pd.DataFrame(
        {
            "title": pd.Series(rng.choice(np.array(titles, dtype=object), n), dtype=object),
            "company_size": pd.Series(rng.choice(np.array(sizes, dtype=object), n), dtype=object),
            "email_domain": pd.Series(rng.choice(np.array(domains, dtype=object), n), dtype=object),
            "events_30d": rng.choice([0.0, 3.0, np.nan, 10.0], n),
            "events_30_90d": rng.choice([0.0, 4.0, np.nan], n),
        }
    )


@pytest.mark.parametrize("rows", [1, 5, 64, 65, 400])  # the dict path and the factorize path
def test_derive_attributes_equals_working_each_row_out(rows: int) -> None:
    leads = varied_leads(rows, rows)
    out = derive_attributes(leads)
    expected = [_derived_one_row(*r) for r in leads.itertuples(index=False)]
    assert out["title_level"].tolist() == [e[0] for e in expected]
    assert out["title_function"].tolist() == [e[1] for e in expected]
    assert out["company_size_band"].tolist() == [e[2] for e in expected]
    np.testing.assert_array_equal(out["email_is_free"].to_numpy(), [e[3] for e in expected])
    np.testing.assert_array_equal(out["activity_trend"].to_numpy(), [e[4] for e in expected])
    # the texts are stored as pandas stores a list of texts, however many rows
    for col in ("title_level", "title_function", "company_size_band"):
        assert out[col].dtype == pd.Series([e[0] for e in expected]).dtype


def test_distinct_codes_values_in_order_of_appearance() -> None:
    # "b" first, then "a"; None, NaN and NA are missing (-1); 1 and 1.0 are one value.
    values = ["b", "a", None, "b", float("nan"), pd.NA, 1, 1.0, "ñ"]
    for times in (1, 10):  # 9 rows: a dict; 90 rows: pandas.factorize
        coded = distinct(np.array(values * times, dtype=object))
        assert coded.codes.tolist() == [0, 1, -1, 0, -1, -1, 2, 2, 3] * times
        assert coded.values == ["b", "a", 1, "ñ"]
        assert coded.decode().tolist() == ["b", "a", None, "b", None, None, 1, 1, "ñ"] * times


def test_coded_array_holds_what_a_list_of_the_texts_would() -> None:
    # 0 -> "x", 1 -> "yé", -1 -> missing; as a column, the same as the texts row by row
    for times in (2, 100):
        coded = Coded(np.array([0, 1, -1, 0] * times, dtype=np.intp), ["x", "yé"])
        column = pd.Series(coded.array())
        expected = pd.Series(["x", "yé", None, "x"] * times)
        pd.testing.assert_series_equal(column, expected)
    assert pd.Series(Coded(np.full(100, -1, dtype=np.intp), []).array()).dtype == object
