"""Row-wise lead attributes, worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import derive_attributes, parse_title
from features._attributes import activity_trend, company_size_band, email_is_free


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
