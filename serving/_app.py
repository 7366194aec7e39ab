"""The HTTP scoring service: one lead (or many) in, model probability and rule score out.

Routes are thin: validation is pydantic's (422 with the field path), against the request
schema of the model being served (:func:`serving._schemas.request_models` of its feature
spec: a team's own attributes are fields of their own, and ``/openapi.json`` shows them),
lead rows come from
:mod:`serving._online` (the batch path's feature definitions evaluated in memory for a few
leads, :func:`features.point_in_time_values`, as columns without pandas),
scores from :func:`models._scoring.score_columns` (the code inside the pyfunc's and batch's
``score_leads``), and the body is one ``json.dumps`` of plain lists and dicts.

Contract: no request makes the service answer 500 for being malformed. A 422 names the field
path even when the value cannot be echoed as JSON (``NaN``, ``Infinity``, ``1e309``, a lone
surrogate: it comes back as ``"NaN"``, ``"Infinity"``, U+FFFD). Limits: more leads than
``max_leads`` or a body over ``max_body_bytes`` (declared or chunked) is 413; with
``api_token`` set every path but ``/healthz`` (``/docs`` and ``/openapi.json`` too, and
unknown paths) needs ``Authorization: Bearer TOKEN`` (else 401, checked before the body is
read). Scoring runs on ``scoring_threads`` worker threads, never on the event loop, so
``/healthz`` answers while requests are scored; when ``max_queue`` requests already wait for a
thread, another is 503 with ``Retry-After``. Lead attributes are never logged at INFO.
"""

# No `from __future__ import annotations`: FastAPI resolves the route annotations at
# definition time, and the dependency aliases live inside create_app().

import asyncio
import gc
import json
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from leadscore.features import DataValidationError, LeadscoreError
from leadscore.models._scoring import score_columns
from leadscore.serving._model_holder import LoadedModel, ModelHolder
from leadscore.serving._online import request_columns
from leadscore.serving._schemas import ModelInfo, ScoreResponse, request_models
from leadscore.serving._settings import ServiceSettings, get_settings
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
T = TypeVar("T")


def _demo_spec() -> Any:
    from leadscore.features._spec import demo_spec

    return demo_spec()


OPEN_PATHS = frozenset({"/healthz"})  # answer without a token
RETRY_AFTER_SECONDS = 1  # what a 503 for a full scoring queue tells the client to wait


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """A whole JSON response, from middleware (below FastAPI's exception handlers)."""
    data = json.dumps(body, separators=(",", ":")).encode()  # as JSONResponse renders
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *headers]})  # fmt: skip
    await send({"type": "http.response.body", "body": data})


class BearerAuth:
    """ASGI middleware: 401 for every HTTP request but to :data:`OPEN_PATHS` that lacks
    ``Authorization: Bearer TOKEN``: the routes, ``/docs``, ``/openapi.json`` and unknown
    paths alike, before the body is read. The header's raw bytes are compared in constant
    time, so non-ASCII bytes are a wrong token like any other."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode("ascii")  # the settings allow visible ASCII only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) in OPEN_PATHS or self._carried(scope):
            await self.app(scope, receive, send)
            return
        await _send_json(send, 401, {"detail": "missing or wrong bearer token"},
                         [(b"www-authenticate", b"Bearer")])  # fmt: skip

    def _carried(self, scope: Scope) -> bool:
        values = [value for name, value in scope["headers"] if name == b"authorization"]
        if len(values) != 1:  # none, or two that could disagree
            return False
        scheme, _, token = values[0].partition(b" ")
        return scheme.lower() == b"bearer" and secrets.compare_digest(
            token.lstrip(b" "), self.token
        )


def _route_path(scope: Scope) -> str:
    path, root = str(scope["path"]), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``max_bytes``, declared (before the app
    runs) or streamed, e.g. chunked (raised from ``receive`` as an HTTPException, which
    FastAPI passes on from reading the body instead of turning it into a 400)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(send, 413, {"detail": _TooLarge(self.max_bytes).detail})
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except _TooLarge as exc:  # read outside FastAPI's body parsing
            if started:
                raise
            await _send_json(send, 413, {"detail": exc.detail})


class _TooLarge(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes")


class QueueFull(Exception):
    """The scoring pool has ``max_queue`` calls waiting already."""


class ScoringPool:
    """Worker threads for CPU-bound scoring, with a bounded queue.

    Contract: at most ``threads`` calls run at once and at most ``max_queue`` more wait for a
    thread; :meth:`submit` beyond that raises :class:`QueueFull` at once and queues nothing.
    A call counts from :meth:`submit` until it returns. Threads start with :meth:`start`.
    """

    def __init__(self, threads: int, max_queue: int) -> None:
        self.threads = threads
        self.max_queue = max_queue
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Calls submitted and not finished: running plus waiting."""
        return self._admitted

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="leadscore-score")

    def stop(self) -> None:
        """Finish the calls admitted so far, then stop the threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on a worker thread (see the class docstring)."""
        if self._executor is None:
            raise RuntimeError("ScoringPool.submit before start()")
        with self._lock:
            if self._admitted >= self.threads + self.max_queue:
                raise QueueFull(f"{self._admitted - self.threads} scoring request(s) waiting "
                                f"already; the queue holds {self.max_queue}")  # fmt: skip
            self._admitted += 1
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, _: object = None) -> None:
        with self._lock:
            self._admitted -= 1


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_of_bytes(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _renderable(value: Any) -> Any:
    """``value`` (from :func:`jsonable_encoder`) with what strict JSON in UTF-8 cannot hold
    replaced: non-finite floats by their names, lone surrogates by U+FFFD (keys too)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_renderable(k): _renderable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_renderable(v) for v in value]
    return value


def create_app(
    settings: ServiceSettings | None = None, holder: ModelHolder | None = None
) -> FastAPI:
    """The service. ``settings`` default to the environment; ``holder`` to one following
    ``settings.model_uri`` (tests may pass their own)."""
    cfg = settings or get_settings()
    model_holder = holder or ModelHolder(cfg.model_uri, cfg.poll_seconds)
    pool = ScoringPool(cfg.scoring_threads, cfg.max_queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.start()
        model_holder.start()
        # What is loaded by now (libraries, the model) lives as long as the process: out of the
        # cyclic GC, whose full collections over it held the GIL for ~0.2 s (/healthz waited).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            model_holder.stop()
            pool.stop()

    app = FastAPI(
        title="leadscore",
        summary="Lead quality: a calibrated model probability beside the rule score.",
        version="1",
        lifespan=lifespan,
    )
    app.state.holder = model_holder
    app.state.settings = cfg
    app.state.scoring = pool

    async def loaded() -> LoadedModel:
        current = model_holder.current
        if current is None:
            raise HTTPException(503, f"no model loaded yet: {model_holder.last_error or 'loading'}")
        return current

    Model = Annotated[LoadedModel, Depends(loaded)]

    @app.exception_handler(RequestValidationError)
    async def _unprocessable(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes each input, and fails (500) on NaN, a lone surrogate
        # or a non-JSON body that is not UTF-8.
        errors = jsonable_encoder(exc.errors(), custom_encoder={bytes: _text_of_bytes})
        return JSONResponse({"detail": _renderable(errors)}, status_code=422)

    @app.exception_handler(DataValidationError)
    async def _invalid(_: Request, exc: DataValidationError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body", *str(exc.column or "").split(".")],
                                          "msg": str(exc), "type": "value_error"}]},
                            status_code=422)  # fmt: skip

    @app.exception_handler(LeadscoreError)
    async def _failed(_: Request, exc: LeadscoreError) -> JSONResponse:
        log.error("request failed: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=500)

    @app.get("/healthz", summary="The process is alive.")
    async def healthz() -> dict[str, str]:  # on the event loop: never waits for a thread
        return {"status": "ok"}

    @app.get("/readyz", summary="A model is loaded; reports the last reload failure, if any.")
    def readyz() -> JSONResponse:
        current = model_holder.current
        body: dict[str, Any] = {
            "ready": current is not None,
            "model_version": None if current is None else current.version,
            "last_reload_error": model_holder.last_error,
            "last_checked": None
            if model_holder.last_checked is None
            else model_holder.last_checked.isoformat(),
        }
        return JSONResponse(body, status_code=200 if current is not None else 503)

    @app.get("/v1/model", response_model=ModelInfo, summary="The model being served.")
    def model_info(current: Model) -> ModelInfo:
        meta = current.bundle.metadata
        return ModelInfo(
            model_name=current.name,
            model_version=current.version,
            alias=model_holder.alias,
            uri=current.uri,
            loaded_at=current.loaded_at,
            training_window={k: meta.get(k) for k in ("decision", "split", "test_start",
                                                      "data_end", "horizon_days")},
            metrics_at_registration=meta.get("test_metrics", {}),
        )  # fmt: skip

    def score_now(request: Any, current: LoadedModel) -> JSONResponse:
        """Score one request (on a worker thread: features, both scorers, the body)."""
        started = time.perf_counter()
        as_of = request.as_of if request.as_of else datetime.now(UTC).replace(tzinfo=None)
        leads = request_columns(request.leads, as_of, current.bundle.spec)
        scores = score_columns(current.bundle, leads, reasons=request.reasons)
        probability, rule_score = scores.probability.tolist(), scores.rule_score.tolist()
        tier, grade = scores.model_tier.decode().tolist(), scores.rule_grade.decode().tolist()
        reasons, hits = scores.reasons.decode().tolist(), scores.rule_hits.decode().tolist()
        out = [
            {
                "lead_id": lead.lead_id,
                "probability": probability[i],
                "model_tier": tier[i],
                "rule_score": rule_score[i],
                "rule_grade": grade[i],
                "reasons": [r for r in reasons[i].split("; ") if r],
                "rule_hits": [h for h in hits[i].split("; ") if h],
            }
            for i, lead in enumerate(request.leads)
        ]
        log.info("scored %d lead(s) with %s v%s in %.1f ms", len(out), current.name,
                 current.version, (time.perf_counter() - started) * 1000)  # fmt: skip
        # Built to match ScoreResponse (the documented schema) and returned as is: FastAPI
        # would otherwise validate the whole response a second time.
        return JSONResponse({"model_name": current.name, "model_version": current.version,
                             "as_of": as_of.isoformat(), "scores": out})  # fmt: skip

    def validate_and_score(body: bytes, current: LoadedModel) -> JSONResponse:
        """Validate the body against the served model's schema, then score it (on a worker
        thread: a large body's validation never holds the event loop)."""
        _, schema = request_models(current.bundle.spec)
        try:
            request: Any = schema.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None  # fmt: skip
        if len(request.leads) > cfg.max_leads:
            raise HTTPException(413, f"{len(request.leads)} leads in one request; the limit is "
                                     f"{cfg.max_leads}")  # fmt: skip
        return score_now(request, current)

    @app.post(
        "/v1/score",
        response_model=ScoreResponse,
        summary="Score leads with the model and the rules.",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ScoreRequest"}}}}},
        responses={413: {"description": "Too many leads or too large a body"},
                   401: {"description": "Bearer token required"},
                   503: {"description": "Scoring queue full (see Retry-After), or no model"}},
    )  # fmt: skip
    async def score(http: Request, current: Model) -> JSONResponse:
        body = await http.body()
        try:
            scored = pool.submit(validate_and_score, body, current)
        except QueueFull as exc:
            raise HTTPException(503, f"too busy: {exc}",
                                headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None  # fmt: skip
        return await asyncio.wrap_future(scored)

    def openapi() -> dict[str, Any]:
        """The schema, with the request body of the model being served (rebuilt when the
        model changes: a team's own attributes are fields of their own)."""
        current = model_holder.current
        spec_key = None if current is None else (current.name, current.version)
        cached = app.state.__dict__.get("openapi_cache")
        if cached is not None and cached[0] == spec_key:
            return dict(cached[1])
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                             routes=app.routes)  # fmt: skip
        request_model: type[BaseModel] = request_models(
            current.bundle.spec if current is not None else _demo_spec())[1]  # fmt: skip
        body = request_model.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(body.pop("$defs", {}))
        components["ScoreRequest"] = body
        app.state.openapi_cache = (spec_key, schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    if cfg.api_token is not None:  # added last: runs first, before the body is read
        app.add_middleware(BearerAuth, token=cfg.api_token)
    return app
