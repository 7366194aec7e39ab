"""Hostile requests to the HTTP service, each once answered wrongly by it.

A real uvicorn server on 127.0.0.1 (in a thread of this process, so a test can reach the
app's scoring pool) serves a model trained on a small synthetic warehouse. The cases: an
empty API token that turned authentication off; JSON the 422 handler could not echo (NaN,
Infinity, 1e309, lone surrogates: 500); non-ASCII bytes in the bearer token (500); the docs
and the OpenAPI schema open without the token; chunked bodies over the limit (400, not 413);
scoring on the event loop (``/healthz`` waited for it; no bound on waiting requests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import mlflow
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir, storage_directory
from leadscore.features import ConfigError
from leadscore.serving._app import create_app
from leadscore.serving._settings import ServiceSettings, settings_from_env

from tests.servers import free_port, generate_and_train, tracking_store

if TYPE_CHECKING:
    from leadscore.serving._app import ScoringPool

AS_OF = datetime(2026, 1, 1)
TOKEN = "probe-T0ken.42"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
# The README's request: one lead with raw events (the point-in-time path).
README_LEAD: dict[str, Any] = {
    "lead_id": "42", "title": "VP Sales", "company_size": 400, "industry": "software",
    "country": "US", "lead_source": "webinar", "email_domain": "acme.io", "phone_valid": True,
    "requested_demo": True, "created_at": "2025-12-01T09:00:00Z",
    "events": [{"occurred_at": "2025-12-01T10:00:00Z", "event_type": "sales_touch"},
               {"occurred_at": "2025-12-10T16:20:00Z", "event_type": "pricing_page_view"}],
}  # fmt: skip
README_BODY = {"leads": [README_LEAD], "as_of": "2026-01-01T00:00:00"}


# ---------------------------------------------------------------------------------------------
# Settings: a token that is set must be one a client can send
# ---------------------------------------------------------------------------------------------

BLANK = ("LEADSCORE_API_TOKEN: Value error, the API token must not be blank, got {}; unset "
         "the variable to serve without authentication")  # fmt: skip
UNSENDABLE = ("LEADSCORE_API_TOKEN: Value error, the API token must be visible ASCII characters "
              "(no spaces or control characters), as an HTTP header carries it; got {}")  # fmt: skip


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", BLANK.format("an empty string")),  # used to mean: no authentication at all
        ("   ", BLANK.format("3 whitespace character(s)")),
        ("\t\n", BLANK.format("2 whitespace character(s)")),
        ("s3cret ", UNSENDABLE.format("U+0020 at position 6 of 7")),  # a header loses the space
        ("two words", UNSENDABLE.format("U+0020 at position 3 of 9")),
        ("sécret", UNSENDABLE.format("U+00E9 at position 1 of 6")),
    ],
)
def test_a_set_token_that_cannot_authenticate_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("LEADSCORE_API_TOKEN", value)
    with pytest.raises(ConfigError) as raised:
        settings_from_env()
    assert str(raised.value) == f"service settings: {problem}"
    assert value.strip() == "" or value.strip() not in str(raised.value)  # the secret is not shown


def test_unset_token_serves_without_authentication_and_other_empty_variables_mean_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEADSCORE_API_TOKEN", raising=False)
    monkeypatch.setenv("LEADSCORE_MAX_LEADS", "")
    assert settings_from_env() == ServiceSettings()
    assert (ServiceSettings().scoring_threads, ServiceSettings().max_queue) == (2, 64)


def test_serve_with_an_empty_token_exits_naming_the_variable(tmp_path: Path) -> None:
    env = {**os.environ, "LEADSCORE_API_TOKEN": "",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "leadscore.serving.cli", "serve", "--port", str(free_port())],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "LEADSCORE_API_TOKEN: Value error, the API token must not be blank" in done.stderr


# ---------------------------------------------------------------------------------------------
# A live server
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = tmp_path_factory.mktemp("probe")
    with tracking_store(root) as uri:
        mlflow.set_tracking_uri(uri)
        generate_and_train(root, n_contacts=4000, seed=3, as_of=AS_OF)
        yield


@contextmanager
def serving(settings: ServiceSettings) -> Iterator[tuple[str, FastAPI]]:
    """A real uvicorn server on 127.0.0.1 in a thread; yields its base URL and the app."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def guarded_settings(**changes: Any) -> ServiceSettings:
    return ServiceSettings(api_token=TOKEN, max_leads=20, max_body_bytes=200_000,
                           poll_seconds=3600, **changes)  # fmt: skip


@pytest.fixture(scope="module")
def guarded(registry: None) -> Iterator[str]:
    """Base URL of a server with a token, a 200,000-byte body limit and default threads."""
    with serving(guarded_settings()) as (base, _):
        yield base


@pytest.fixture
def client(guarded: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded, headers=BEARER, timeout=60) as c:
        yield c


def _strict_json(response: httpx.Response) -> Any:
    """The body as strict JSON: UTF-8 without surrogates, no NaN or Infinity literals."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the response body")

    return json.loads(response.content.decode("utf-8", errors="strict"), parse_constant=refuse)


# ---------------------------------------------------------------------------------------------
# Malformed JSON values: 422 with the field path, never 500
# ---------------------------------------------------------------------------------------------

LEADS0 = ["body", "leads", 0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "loc", "echoed"),
    [
        # Python's JSON reader accepts NaN and Infinity; the 422 could not write them back.
        ('{"leads": [{"lead_id": "a", "company_size": NaN}]}', [*LEADS0, "company_size"], "NaN"),
        ('{"leads": [{"lead_id": "a", "days_since_created": Infinity}]}',
         [*LEADS0, "days_since_created"], "Infinity"),
        ('{"leads": [{"lead_id": "a", "engagement": {"events_30d": -Infinity}}]}',
         [*LEADS0, "engagement", "events_30d"], "-Infinity"),
        # a valid JSON number too large for a float: read as infinity
        ('{"leads": [{"lead_id": "a", "company_size": 1e309}]}', [*LEADS0, "company_size"],
         "Infinity"),
        ('{"leads": [{"lead_id": "a", "title": NaN}]}', [*LEADS0, "title"], "NaN"),
        ('{"leads": [{"lead_id": "a"}], "as_of": NaN}', ["body", "as_of"], "NaN"),
        ('{"leads": [{"lead_id": "a"}], "reasons": NaN}', ["body", "reasons"], "NaN"),
        ('{"leads": NaN}', ["body", "leads"], "NaN"),
        ('{"leads": [{"lead_id": "a"}], "pad": NaN}', ["body", "pad"], "NaN"),
    ],
)  # fmt: skip
def test_numbers_json_cannot_echo_are_422_with_the_field_path(
    client: httpx.Client, body: str, loc: list[Any], echoed: str
) -> None:
    response = client.post("/v1/score", content=body.encode(), headers=JSON)
    assert response.status_code == 422, response.text
    errors = _strict_json(response)["detail"]
    assert [(e["loc"], e["input"]) for e in errors] == [(loc, echoed)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "loc", "echoed"),
    [
        ('{"leads": [{"lead_id": "\\ud800"}]}', [*LEADS0, "lead_id"], "\ufffd"),
        ('{"leads": [{"lead_id": "a", "title": "VP \\udfff Sales"}]}', [*LEADS0, "title"],
         "VP \ufffd Sales"),
        ('{"leads": [{"lead_id": "a", "created_at": "2025-01-01T00:00:00", "events": '
         '[{"occurred_at": "2025-06-01T00:00:00", "event_type": "\\ud83d"}]}]}',
         [*LEADS0, "events", 0, "event_type"], "\ufffd"),
        ('{"leads": [{"lead_id": "a"}], "\\ud800": 1}', ["body"], "\ufffd"),  # a key
    ],
)  # fmt: skip
def test_lone_surrogates_are_422_and_the_answer_is_utf8(
    client: httpx.Client, body: str, loc: list[Any], echoed: str
) -> None:
    # A lone surrogate escape is JSON syntax but not Unicode text. Python's JSON reader reads
    # it into the field, which then fails with the field path (its input echoed as U+FFFD); a
    # strict reader (pydantic's) rejects the text itself: json_invalid, located at the body.
    response = client.post("/v1/score", content=body.encode(), headers=JSON)
    assert response.status_code == 422, response.text
    errors = _strict_json(response)["detail"]
    if errors[0]["type"] == "json_invalid":
        assert [e["loc"] for e in errors] == [["body"]]
    else:
        assert [(e["loc"], e["input"]) for e in errors] == [(loc, echoed)]


@pytest.mark.slow
def test_non_finite_numbers_inside_an_echoed_input_are_named_and_the_rest_kept(
    client: httpx.Client,
) -> None:
    # a lead that is a list, not an object: the error echoes the whole list
    body = b'{"leads": [[NaN, 1.5, -Infinity, "x", {"y": Infinity}]]}'
    response = client.post("/v1/score", content=body, headers=JSON)
    assert response.status_code == 422
    errors = _strict_json(response)["detail"]
    assert [(e["loc"], e["input"]) for e in errors] == [
        (LEADS0, ["NaN", 1.5, "-Infinity", "x", {"y": "Infinity"}])
    ]


# ---------------------------------------------------------------------------------------------
# The bearer token: every path but /healthz, compared as bytes
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("header", "status"),
    [
        (b"Bearer \xff\xfe", 401),  # not ASCII: compare_digest raised TypeError, a 500
        (f"Bearer {TOKEN}".encode() + b"\xff", 401),
        ("Bearer prob\xe9-T0ken.42".encode("latin-1"), 401),
        ("Bearer prob\xe9-T0ken.42".encode(), 401),
        (f"Basic {TOKEN}".encode(), 401),
        (TOKEN.encode(), 401),
        (b"Bearer", 401),
        (f"Bearer {TOKEN[:-1]}".encode(), 401),
        (f"bearer {TOKEN}".encode(), 200),  # the scheme is case-insensitive
        (f"Bearer   {TOKEN}".encode(), 200),  # 1*SP between scheme and token
    ],
)
def test_bearer_header_bytes(guarded: str, header: bytes, status: int) -> None:
    response = httpx.get(f"{guarded}/readyz", headers={"Authorization": header})
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json() == {"detail": "missing or wrong bearer token"}
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.slow
def test_two_authorization_headers_are_401_even_if_both_are_right(guarded: str) -> None:
    twice = [("Authorization", f"Bearer {TOKEN}")] * 2
    assert httpx.get(f"{guarded}/readyz", headers=twice).status_code == 401


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "with_token"),
    [("/openapi.json", 200), ("/docs", 200), ("/redoc", 200), ("/docs/oauth2-redirect", 200),
     ("/no-such-path", 404), ("/readyz", 200), ("/v1/model", 200)],
)  # fmt: skip
def test_docs_schema_and_unknown_paths_need_the_token(
    guarded: str, path: str, with_token: int
) -> None:
    bare = httpx.get(f"{guarded}{path}")
    assert (bare.status_code, bare.headers["www-authenticate"]) == (401, "Bearer")
    assert httpx.get(f"{guarded}{path}", headers=BEARER).status_code == with_token
    assert httpx.get(f"{guarded}/healthz").json() == {"status": "ok"}  # the one open path


@pytest.mark.slow
def test_the_token_is_checked_before_the_body_is_read(guarded: str) -> None:
    # without the token, malformed and oversized bodies alike are 401: nothing is parsed
    for body in (b"{not json", b'{"leads": NaN}', b"x" * 300_000):
        response = httpx.post(f"{guarded}/v1/score", content=body, headers=JSON)
        assert response.status_code == 401


# ---------------------------------------------------------------------------------------------
# Chunked bodies over the limit: 413, as a declared length is
# ---------------------------------------------------------------------------------------------


def _chunked(total: int) -> Iterator[bytes]:
    """A JSON body of about ``total`` bytes in 10,000-byte chunks (no Content-Length)."""
    yield b'{"leads": [{"lead_id": "a"}], "pad": "'
    for _ in range(total // 10_000):
        yield b"x" * 10_000
    yield b'"}'


@pytest.mark.slow
def test_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    response = client.post("/v1/score", content=_chunked(250_000), headers=JSON)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 200000 bytes"}
    assert "content-length" not in response.request.headers  # it was sent chunked
    # far over the limit, and then the service goes on answering
    assert client.post("/v1/score", content=_chunked(5_000_000), headers=JSON).status_code == 413
    assert client.post("/v1/score", json=README_BODY).status_code == 200


@pytest.mark.slow
def test_chunked_body_under_the_limit_is_scored(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        text = json.dumps(README_BODY).encode()
        yield from (text[i : i + 50] for i in range(0, len(text), 50))

    chunked = client.post("/v1/score", content=chunks(), headers=JSON)
    assert chunked.status_code == 200, chunked.text
    assert chunked.json() == client.post("/v1/score", json=README_BODY).json()


# ---------------------------------------------------------------------------------------------
# Scoring on worker threads behind a bounded queue
# ---------------------------------------------------------------------------------------------


@contextmanager
def held(pool: ScoringPool) -> Iterator[None]:
    """Occupy one of the pool's threads until the block ends (a real call on the real pool)."""
    gate = threading.Event()
    holding = pool.submit(gate.wait, 120)
    try:
        yield
    finally:
        gate.set()
        holding.result(timeout=120)


def _wait_until(check: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _post_score(base: str) -> httpx.Response:
    with httpx.Client(base_url=base, headers=BEARER, timeout=120) as c:
        return c.post("/v1/score", json=README_BODY)


@pytest.mark.slow
def test_full_scoring_queue_is_503_with_retry_after(registry: None) -> None:
    # One scoring thread, held; a queue of one. Of six requests at once exactly one may wait
    # for the thread, the other five are 503 at once; the one that waited is then scored.
    with serving(guarded_settings(scoring_threads=1, max_queue=1)) as (base, app):
        pool: ScoringPool = app.state.scoring
        with ThreadPoolExecutor(6) as clients, held(pool):
            sent = [clients.submit(_post_score, base) for _ in range(6)]
            finished = as_completed(sent, timeout=120)
            refused = [next(finished).result() for _ in range(5)]
            waiting = [f for f in sent if not f.done()]
            assert len(waiting) == 1 and pool.admitted == 2  # the held call and the waiter
            for response in refused:
                assert response.status_code == 503
                assert response.headers["retry-after"] == "1"
                assert response.json() == {"detail": "too busy: 1 scoring request(s) waiting "
                                                     "already; the queue holds 1"}  # fmt: skip
        scored = waiting[0].result(timeout=120)
        assert scored.status_code == 200, scored.text
        assert scored.json()["scores"][0]["lead_id"] == "42"
        _wait_until(lambda: pool.admitted == 0)


@pytest.mark.slow
def test_healthz_answers_while_scoring_requests_wait(registry: None) -> None:
    with serving(guarded_settings(scoring_threads=1, max_queue=4)) as (base, app):
        pool: ScoringPool = app.state.scoring
        with ThreadPoolExecutor(2) as clients, held(pool):
            sent = [clients.submit(_post_score, base) for _ in range(2)]
            _wait_until(lambda: pool.admitted == 3)  # both requests wait for the thread
            assert httpx.get(f"{base}/healthz", timeout=30).json() == {"status": "ok"}
            assert httpx.get(f"{base}/readyz", headers=BEARER, timeout=30).status_code == 200
            assert not any(f.done() for f in sent)
        assert [f.result(timeout=120).status_code for f in sent] == [200, 200]


@pytest.mark.slow
def test_leads_scored_on_threads_at_once_equal_leads_scored_alone(client: httpx.Client) -> None:
    # 16 different leads (ages 1..16 days) scored concurrently on the two default threads:
    # the same numbers, to the last bit, as each scored on its own afterwards.
    leads = [{**README_LEAD, "lead_id": str(i), "created_at": f"2025-12-{i:02d}T00:00:00",
              "events": [{"occurred_at": f"2025-12-{i:02d}T10:00:00",
                          "event_type": "pricing_page_view"}] * (i % 4)}
             for i in range(15, 31)]  # fmt: skip
    base = str(client.base_url)

    def one(lead: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=base, headers=BEARER, timeout=120) as c:
            return c.post("/v1/score", json={"leads": [lead], "as_of": "2026-01-01T00:00:00"})

    with ThreadPoolExecutor(len(leads)) as clients:
        together = list(clients.map(one, leads))
    alone = [one(lead) for lead in leads]
    assert [r.status_code for r in together] == [200] * len(leads)
    assert [r.json() for r in together] == [r.json() for r in alone]
    assert len({r.json()["scores"][0]["probability"] for r in alone}) > 1  # not all alike


# ---------------------------------------------------------------------------------------------
# Fuzz: arbitrary Authorization bytes and arbitrary bodies
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def hypothesis_home(tmp_path: Path) -> Iterator[None]:
    """Hypothesis caches constants under ``.hypothesis/``: keep that out of the repository."""
    previous = storage_directory(intent_to_write=False).home_directory
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    try:
        yield
    finally:
        set_hypothesis_home_dir(previous)


FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])  # fmt: skip
# What an HTTP/1.1 client may put in a header value: visible ASCII, space, tab, obs-text.
HEADER_BYTE = st.sampled_from([b for b in range(256) if b in (9, 32) or 33 <= b <= 126 or b >= 128])
HEADER_VALUES = st.one_of(
    st.lists(HEADER_BYTE, max_size=60).map(bytes),
    st.lists(HEADER_BYTE, max_size=20).map(lambda b: f"Bearer {TOKEN}".encode() + bytes(b)),
    st.lists(HEADER_BYTE, max_size=20).map(lambda b: b"Bearer " + bytes(b) + TOKEN.encode()),
).filter(lambda v: v == v.strip(b" \t"))  # a header value has no surrounding whitespace


@pytest.mark.slow
@pytest.mark.usefixtures("hypothesis_home")
def test_any_authorization_bytes_are_401_unless_the_token(guarded: str) -> None:
    with httpx.Client(base_url=guarded, timeout=30) as c:

        @FUZZ
        @given(header=HEADER_VALUES)
        def run(header: bytes) -> None:
            scheme, _, token = header.partition(b" ")
            right = scheme.lower() == b"bearer" and token.lstrip(b" ") == TOKEN.encode()
            response = c.get("/readyz", headers={"Authorization": header})
            assert response.status_code == (200 if right else 401), header

        run()


CONTENT_TYPES = [None, "application/json", "application/json; charset=latin-1", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "application/vnd.api+json", "*/*"]  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"NaN", b"[]", b"null", b'{"leads": []}', b'{"leads": [NaN]}',
                     b'{"leads": [{"lead_id": "\xff"}]}', b'{"leads": [{"lead_id": 1e999}]}',
                     b'{"leads": [{"lead_id": "a", "events": [{}]}]}', b"\xef\xbb\xbf{}"]),
)  # fmt: skip


@pytest.mark.slow
@pytest.mark.usefixtures("hypothesis_home")
def test_any_body_with_the_token_gets_no_server_error(client: httpx.Client) -> None:
    @FUZZ
    @given(body=BODIES, content_type=st.sampled_from(CONTENT_TYPES))
    def run(body: bytes, content_type: str | None) -> None:
        headers = {} if content_type is None else {"content-type": content_type}
        response = client.post("/v1/score", content=body, headers=headers)
        assert response.status_code in (200, 400, 413, 422), (body, content_type, response.text)
        _strict_json(response)

    run()
