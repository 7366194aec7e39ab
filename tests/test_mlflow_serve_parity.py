"""The registered pyfunc under ``mlflow models serve`` answers as ``leadscore serve`` does.

Both servers run as real processes on one freshly trained champion (temporary sqlite MLflow
store). The same leads go to ``POST /v1/score`` (attributes plus precomputed engagement) and
to MLflow's ``POST /invocations`` (raw lead rows, the pyfunc input schema): the probability,
the rule score, the grade, the tier, the reasons and the rule hits must agree.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.servers import both_servers, generate_and_train, tracking_store

pytestmark = pytest.mark.slow
AS_OF = datetime(2026, 1, 1)
ATTRIBUTES = ("title", "company_size", "industry", "country", "lead_source", "email_domain",
              "phone_valid", "buying_timeline", "requested_demo")  # fmt: skip

LEADS: list[dict[str, Any]] = [
    {   # a strong lead, every number a float (flags as 1.0)
        "lead_id": "vp-1", "title": "VP Sales", "company_size": 400.0, "industry": "software",
        "country": "US", "lead_source": "webinar", "email_domain": "acme.io",
        "phone_valid": 1.0, "buying_timeline": "0-3 months", "requested_demo": 1.0,
        "days_since_created": 12.5,
        "engagement": {"pricing_page_view_30d": 3.0, "events_30d": 7.0, "events_90d": 9.0,
                       "days_since_last_event": 2.0, "active_days_30d": 4.0,
                       "hours_to_first_touch": 5.5},
    },
    {   # categories never seen in training, missing attributes
        "lead_id": "new-2", "title": "Growth hacker", "company_size": None,
        "industry": "a-vertical-never-seen", "country": "ZZ", "lead_source": "brand-new-channel",
        "email_domain": "gmail.com", "phone_valid": None, "buying_timeline": None,
        "requested_demo": None, "days_since_created": 40.0,
        "engagement": {"giveaway_entry_180d": 2.0, "events_180d": 2.0},
    },
    {   # booleans and integers as inputs
        "lead_id": "int-3", "title": "Head of Operations", "company_size": 250,
        "industry": "manufacturing", "country": "DE", "lead_source": "referral",
        "email_domain": "example.de", "phone_valid": True, "buying_timeline": "3-6 months",
        "requested_demo": False, "days_since_created": 3,
        "engagement": {"demo_request_30d": 1, "meeting_held_30d": 2, "events_7d": 3,
                       "events_30d": 3, "events_90d": 3, "events_180d": 3},
    },
]  # fmt: skip


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{url}: HTTP {exc.code}: {exc.read()[:4000]!r}") from None


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Base URLs of ``leadscore serve`` and ``mlflow models serve`` on one trained champion."""
    root = tmp_path_factory.mktemp("parity")
    with tracking_store(root):
        generate_and_train(root, n_contacts=6000, seed=5, as_of=AS_OF)
    with both_servers(root, leadscore_log="leadscore.log", mlflow_log="mlflow.log") as (
        ours_port,
        mlflow_port,
    ):
        yield f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{mlflow_port}"


def test_mlflow_models_serve_gives_the_same_scores_as_leadscore_serve(
    servers: tuple[str, str],
) -> None:
    ours, theirs = servers
    answer = _post(f"{ours}/v1/score", {"leads": LEADS, "as_of": AS_OF.isoformat()})
    records = [
        {"contact_id": lead["lead_id"], **{a: lead[a] for a in ATTRIBUTES},
         "days_since_created": lead["days_since_created"], **lead["engagement"]}
        for lead in LEADS
    ]  # fmt: skip
    predictions = _post(f"{theirs}/invocations", {"dataframe_records": records})["predictions"]
    scores = answer["scores"]
    assert [s["lead_id"] for s in scores] == [lead["lead_id"] for lead in LEADS]
    assert [p["contact_id"] for p in predictions] == [lead["lead_id"] for lead in LEADS]
    for ours_score, theirs_score in zip(scores, predictions, strict=True):
        lead = ours_score["lead_id"]
        assert 0.0 < ours_score["probability"] < 1.0, lead
        assert ours_score["probability"] == pytest.approx(theirs_score["probability"], rel=1e-9), (
            lead
        )
        assert ours_score["rule_score"] == pytest.approx(theirs_score["rule_score"], rel=1e-9), lead
        assert ours_score["rule_grade"] == theirs_score["rule_grade"], lead
        assert ours_score["model_tier"] == theirs_score["model_tier"], lead
        # the pyfunc joins reasons and rule hits with "; ", the service returns lists
        assert "; ".join(ours_score["reasons"]) == theirs_score["reasons"], lead
        assert "; ".join(ours_score["rule_hits"]) == theirs_score["rule_hits"], lead
    # the leads differ, so equal numbers are not a constant answer
    assert len({s["probability"] for s in scores}) == len(LEADS)
    assert len({s["rule_score"] for s in scores}) == len(LEADS)
