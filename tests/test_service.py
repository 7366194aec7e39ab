"""The HTTP service on a real uvicorn server: every endpoint, every error status, parity with
batch scoring, and following the registry alias (including a version that fails to load)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest
import uvicorn
from leadscore.features import ENGAGEMENT_FEATURE_NAMES, Warehouse, build_lead_frame
from leadscore.serving import ScoreConfig, score_warehouse
from leadscore.serving._app import create_app
from leadscore.serving._schemas import ScoreResponse
from leadscore.serving._settings import ServiceSettings
from leadscore.training import TrainResult
from mlflow.tracking import MlflowClient

from tests.servers import free_port, generate_and_train, tracking_store

pytestmark = pytest.mark.slow
AS_OF = datetime(2026, 1, 1)
SCORED_AT = datetime(2025, 12, 1)  # scoring time for parity checks


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TrainResult]]:
    root = tmp_path_factory.mktemp("service")
    with tracking_store(root) as uri:
        mlflow.set_tracking_uri(uri)
        yield generate_and_train(root, n_contacts=8000, seed=11, as_of=AS_OF)


@contextmanager
def running(settings: ServiceSettings) -> Iterator[httpx.Client]:
    """A real uvicorn server on 127.0.0.1 in a thread; yields a client for it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def client(registry: tuple[str, TrainResult]) -> Iterator[httpx.Client]:
    settings = ServiceSettings(max_leads=5, max_body_bytes=200_000, poll_seconds=3600)
    with running(settings) as c:
        yield c


LEAD: dict[str, Any] = {
    "lead_id": "L-1",
    "title": "VP Sales",
    "company_size": 300,
    "industry": "software",
    "country": "US",
    "lead_source": "webinar",
    "email_domain": "acme.io",
    "phone_valid": True,
    "requested_demo": False,
    "days_since_created": 5,
    "engagement": {"pricing_page_view_30d": 2, "events_30d": 6, "hours_to_first_touch": 3},
}


def _score(client: httpx.Client, leads: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return client.post("/v1/score", json={"leads": leads, "as_of": "2026-01-01T00:00:00", **extra})


def test_health_ready_model_and_openapi(
    client: httpx.Client, registry: tuple[str, TrainResult]
) -> None:
    _, trained = registry
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["model_version"] == trained.model_version
    info = client.get("/v1/model").json()
    assert (info["model_name"], info["model_version"], info["alias"]) == (
        "lead-quality", trained.model_version, "champion")  # fmt: skip
    assert info["training_window"]["test_start"] == "2025-10-01T00:00:00"
    assert info["training_window"]["decision"] == "pipeline"
    assert info["metrics_at_registration"]["model"]["roc_auc"] == pytest.approx(
        trained.metrics["model"]["roc_auc"]
    )
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/score", "/v1/model", "/healthz", "/readyz"} <= set(paths)


def test_score_returns_both_scores_and_reasons(client: httpx.Client) -> None:
    student = {**LEAD, "lead_id": "L-2", "title": "Student", "lead_source": "giveaway",
               "engagement": {"giveaway_entry_180d": 3}}  # fmt: skip
    body = _score(client, [LEAD, student]).json()
    ScoreResponse.model_validate(body)  # the body is the documented schema, field for field
    assert [s["lead_id"] for s in body["scores"]] == ["L-1", "L-2"]
    vp, kid = body["scores"]
    assert vp["probability"] > kid["probability"] and vp["rule_score"] > kid["rule_score"]
    assert "Senior title (C-level or VP) +15" in vp["rule_hits"]
    assert "Student -15" in kid["rule_hits"]
    assert len(vp["reasons"]) == 3 and all(
        r.endswith(("(raises)", "(lowers)")) for r in vp["reasons"]
    )
    assert _score(client, [LEAD], reasons=False).json()["scores"][0]["reasons"] == []


def test_leads_scored_together_equal_leads_scored_one_per_request(client: httpx.Client) -> None:
    # Three leads in one request, then each in a request of its own: the same numbers and
    # texts to the last bit. One comes with raw events (the point-in-time path), one with
    # engagement counts whose activity points decay with age (summed pairwise, as numpy sums
    # a lone row, its rule points give 56.48421361078047; rule after rule, as in any batch,
    # 56.48421361078048), one with nothing known.
    with_events = {k: v for k, v in LEAD.items() if k not in ("engagement", "days_since_created")}
    with_events |= {"lead_id": "E-1", "created_at": "2025-10-01T08:00:00", "events": [
        {"occurred_at": "2025-12-20T10:00:00", "event_type": "pricing_page_view"},
        {"occurred_at": "2025-12-30T10:00:00", "event_type": "pricing_page_view"},
        {"occurred_at": "2026-01-02T10:00:00", "event_type": "pricing_page_view"}]}  # fmt: skip
    decayed = {**LEAD, "lead_id": "D-1", "days_since_created": 137.25, "engagement": {
        "pricing_page_view_30d": 1, "webinar_attended_180d": 1, "email_click_30d": 1}}  # fmt: skip
    unknown = {"lead_id": "U-1"}
    leads = [with_events, decayed, unknown]
    together = _score(client, leads).json()["scores"]
    alone = [_score(client, [lead]).json()["scores"][0] for lead in leads]
    assert together == alone
    assert [s["lead_id"] for s in together] == ["E-1", "D-1", "U-1"]
    assert together[1]["rule_score"] == 56.48421361078048
    assert together[2]["rule_hits"] == [] and together[2]["rule_grade"] == "D"


def test_unknown_category_is_scored_not_rejected(client: httpx.Client) -> None:
    known = _score(client, [{**LEAD, "lead_source": None}]).json()["scores"][0]
    unseen = _score(client, [{**LEAD, "lead_source": "launched-yesterday"}]).json()["scores"][0]
    assert unseen["probability"] == known["probability"]  # both take the "unknown" branch


@pytest.mark.parametrize(
    ("lead", "path", "fragment"),
    [
        ({**LEAD, "company_size": -5}, ["body", "leads", 0, "company_size"], "greater than or equal"),
        ({**LEAD, "engagement": {"pricing_views": 1}}, ["body", "leads", 0, "engagement", "pricing_views"], "Extra inputs"),
        ({**LEAD, "phone_valid": "maybe"}, ["body", "leads", 0, "phone_valid"], "valid boolean"),
        ({**LEAD, "events": [], "created_at": "2025-12-01T00:00:00"}, ["body", "leads", 0], "not both"),
        ({k: v for k, v in LEAD.items() if k != "engagement"} | {"events": []}, ["body", "leads", 0], "'created_at' is required"),
        ({k: v for k, v in LEAD.items() if k != "lead_id"}, ["body", "leads", 0, "lead_id"], "Field required"),
    ],
)  # fmt: skip
def test_validation_errors_are_422_with_the_field_path(
    client: httpx.Client, lead: dict[str, Any], path: list[Any], fragment: str
) -> None:
    response = _score(client, [lead])
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"] == path and fragment in e["msg"] for e in errors), errors


def test_lead_created_after_as_of_is_422_naming_it(client: httpx.Client) -> None:
    lead = {**LEAD, "created_at": "2026-02-01T00:00:00"}
    response = _score(client, [lead])
    assert response.status_code == 422
    assert "lead 'L-1' was created at or after as_of" in response.json()["detail"][0]["msg"]


def test_limits_are_413(client: httpx.Client) -> None:
    too_many = _score(client, [{**LEAD, "lead_id": str(i)} for i in range(6)])
    assert too_many.status_code == 413
    assert too_many.json()["detail"] == "6 leads in one request; the limit is 5"
    huge = {**LEAD, "title": "x" * 400, "events": None}
    body = json.dumps({"leads": [huge] * 5, "pad": "y" * 250_000})
    too_big = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert too_big.status_code == 413
    assert "larger than 200000 bytes" in too_big.json()["detail"]


def test_bearer_token(registry: tuple[str, TrainResult]) -> None:
    with running(ServiceSettings(api_token="s3cret", poll_seconds=3600)) as c:
        assert c.get("/healthz").status_code == 200
        for method, path in (("GET", "/readyz"), ("GET", "/v1/model"), ("POST", "/v1/score")):
            bare = c.request(method, path, json={"leads": [LEAD]})
            assert bare.status_code == 401, path
            assert bare.headers["www-authenticate"] == "Bearer"
            wrong = c.request(method, path, json={"leads": [LEAD]},
                              headers={"Authorization": "Bearer nope"})  # fmt: skip
            assert wrong.status_code == 401
            good = c.request(method, path, json={"leads": [LEAD]},
                             headers={"Authorization": "Bearer s3cret"})  # fmt: skip
            assert good.status_code == 200, (path, good.text)


def test_no_lead_attributes_in_info_logs(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        lead = {**LEAD, "title": "Zorblax Overlord", "email_domain": "secret-corp.example"}
        assert _score(client, [lead]).status_code == 200
    assert "scored 1 lead(s)" in caplog.text
    assert "Zorblax" not in caplog.text and "secret-corp" not in caplog.text


def test_http_scores_equal_batch_scores(
    client: httpx.Client, registry: tuple[str, TrainResult]
) -> None:
    url, _ = registry
    # Five real leads of the warehouse, open at SCORED_AT, with their whole event history:
    # the service must drop events at or after as_of exactly as the batch SQL does.
    with Warehouse(url, read_only=True) as wh:
        frame = build_lead_frame(wh, [SCORED_AT]).frame
        ids = frame.sort_values("events_180d", ascending=False)["contact_id"].head(5).tolist()
        contacts = wh.query(
            f"SELECT * FROM contacts WHERE contact_id IN ({','.join(map(str, ids))})"
        )
        events = wh.query(f"SELECT * FROM events WHERE contact_id IN ({','.join(map(str, ids))})")
    score_warehouse(ScoreConfig(warehouse=url, model_uri="models:/lead-quality@champion", reasons="all",
                                as_of=SCORED_AT))  # fmt: skip
    with Warehouse(url, read_only=True) as wh:
        batch = wh.query("SELECT * FROM lead_scores WHERE as_of = ?", [SCORED_AT]).set_index(
            "contact_id"
        )
    assert (events["occurred_at"] >= SCORED_AT).any()  # there ARE later events to ignore
    leads = []
    for c in contacts.itertuples(index=False):
        leads.append(
            {
                "lead_id": str(c.contact_id),
                "created_at": c.created_at.isoformat(),
                **{k: (None if pd.isna(getattr(c, k)) else getattr(c, k)) for k in (
                    "title", "industry", "country", "lead_source", "email_domain", "buying_timeline")},
                "company_size": None if pd.isna(c.company_size) else float(c.company_size),
                "phone_valid": bool(c.phone_valid),
                "requested_demo": bool(c.requested_demo),
                "events": [
                    {"occurred_at": e.occurred_at.isoformat(), "event_type": e.event_type}
                    for e in events[events["contact_id"] == c.contact_id].itertuples(index=False)
                ],
            }
        )  # fmt: skip
    via_events = client.post("/v1/score", json={"leads": leads, "as_of": SCORED_AT.isoformat()})
    assert via_events.status_code == 200, via_events.text
    # The same leads with the engagement counts the batch frame computed.
    rows = frame.set_index("contact_id")
    counted = []
    for lead in leads:
        row = rows.loc[int(lead["lead_id"])]
        engagement = {k: float(row[k]) for k in ENGAGEMENT_FEATURE_NAMES if pd.notna(row[k])}
        counted.append({k: v for k, v in lead.items() if k not in ("events",)}
                       | {"engagement": engagement})  # fmt: skip
    via_counts = client.post("/v1/score", json={"leads": counted, "as_of": SCORED_AT.isoformat()})
    for response in (via_events, via_counts):
        for s in response.json()["scores"]:
            b = batch.loc[int(s["lead_id"])]
            assert s["probability"] == b["probability"], s["lead_id"]
            assert s["rule_score"] == b["rule_score"]
            assert (s["model_tier"], s["rule_grade"]) == (b["model_tier"], b["rule_grade"])
            assert "; ".join(s["reasons"]) == b["reasons"]
            assert "; ".join(s["rule_hits"]) == b["rule_hits"]


def _wait_for(check: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_follows_the_alias_and_survives_a_broken_version(
    registry: tuple[str, TrainResult], tmp_path: Path
) -> None:
    _, trained = registry
    client = MlflowClient()
    name = "lead-quality"
    with running(ServiceSettings(poll_seconds=0.3)) as c:
        first = c.get("/v1/model").json()["model_version"]
        # a new version of the same model, then the alias moves to it: no restart needed
        new = mlflow.register_model(f"runs:/{trained.run_id}/model", name)
        client.set_registered_model_alias(name, "champion", str(new.version))
        _wait_for(lambda: c.get("/v1/model").json()["model_version"] == str(new.version))
        assert str(new.version) != first
        # a version whose files are missing: the old one keeps serving, /readyz says why
        broken_dir = tmp_path / "not-a-model"
        broken_dir.mkdir()
        broken = client.create_model_version(name, source=str(broken_dir), run_id=None)
        client.set_registered_model_alias(name, "champion", str(broken.version))
        ready = _wait_for(lambda: (r := c.get("/readyz").json())["last_reload_error"] and r)
        assert ready["ready"] is True and ready["model_version"] == str(new.version)
        assert _score(c, [LEAD]).json()["model_version"] == str(new.version)
        client.set_registered_model_alias(name, "champion", str(new.version))
        _wait_for(lambda: c.get("/readyz").json()["last_reload_error"] is None)


def test_aware_timestamps_are_read_as_utc(client: httpx.Client) -> None:
    # 05:00 at UTC+5 is midnight UTC: both leads are exactly 31 days old on 2026-01-01.
    base = {k: v for k, v in LEAD.items() if k != "days_since_created"}
    naive = _score(client, [{**base, "created_at": "2025-12-01T00:00:00"}]).json()
    aware = _score(client, [{**base, "created_at": "2025-12-01T05:00:00+05:00"}]).json()
    explicit = _score(client, [{**LEAD, "days_since_created": 31}]).json()
    # the decaying activity points move with the age to the second: a wrong conversion shows
    points = {body["scores"][0]["rule_score"] for body in (naive, aware, explicit)}
    assert len(points) == 1
    wrong = _score(client, [{**base, "created_at": "2025-12-01T05:00:00"}]).json()
    assert wrong["scores"][0]["rule_score"] not in points
