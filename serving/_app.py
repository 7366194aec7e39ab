"""The HTTP scoring service: one lead (or many) in, model probability and rule score out.

Routes are thin: validation is pydantic's (422 with the field path), lead rows come from
:mod:`serving._online` (the batch path's point-in-time code, as columns without pandas),
scores from :func:`models._scoring.score_columns` (the code inside the pyfunc's and batch's
``score_leads``), and the body is one ``json.dumps`` of plain lists and dicts. Limits: more
leads than ``max_leads`` or a body over ``max_body_bytes`` is 413; with ``api_token`` set
every route but ``/healthz`` needs ``Authorization: Bearer TOKEN`` (else 401). Lead
attributes are never logged at INFO.
"""

# No `from __future__ import annotations`: FastAPI resolves the route annotations at
# definition time, and the dependency aliases live inside create_app().

import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from leadscore.features import DataValidationError, LeadscoreError
from leadscore.models._scoring import score_columns
from leadscore.serving._model_holder import LoadedModel, ModelHolder
from leadscore.serving._online import request_columns
from leadscore.serving._schemas import ModelInfo, ScoreRequest, ScoreResponse
from leadscore.serving._settings import ServiceSettings, get_settings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = (f'{{"detail":"request body larger than {self.max_bytes} bytes"}}').encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def create_app(
    settings: ServiceSettings | None = None, holder: ModelHolder | None = None
) -> FastAPI:
    """The service. ``settings`` default to the environment; ``holder`` to one following
    ``settings.model_uri`` (tests may pass their own)."""
    cfg = settings or get_settings()
    model_holder = holder or ModelHolder(cfg.model_uri, cfg.poll_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        model_holder.start()
        try:
            yield
        finally:
            model_holder.stop()

    app = FastAPI(
        title="leadscore",
        summary="Lead quality: a calibrated model probability beside the rule score.",
        version="1",
        lifespan=lifespan,
    )
    app.state.holder = model_holder
    app.state.settings = cfg

    # Dependencies and the scoring route are async: the work is CPU-bound and short, and a
    # hop to the thread pool costs more than it buys (one process scores one request at a
    # time either way; use --workers for parallelism).
    async def authorized(request: Request) -> None:
        if cfg.api_token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token, cfg.api_token):
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    async def loaded() -> LoadedModel:
        current = model_holder.current
        if current is None:
            raise HTTPException(503, f"no model loaded yet: {model_holder.last_error or 'loading'}")
        return current

    Auth = Annotated[None, Depends(authorized)]
    Model = Annotated[LoadedModel, Depends(loaded)]

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
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="A model is loaded; reports the last reload failure, if any.")
    def readyz(_: Auth) -> JSONResponse:
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
    def model_info(_: Auth, current: Model) -> ModelInfo:
        meta = current.bundle.metadata
        return ModelInfo(
            model_name=current.name,
            model_version=current.version,
            alias=model_holder.alias,
            uri=current.uri,
            loaded_at=current.loaded_at,
            training_window={k: meta.get(k) for k in ("train_snapshots", "validation_snapshot",
                                                      "test_snapshot", "data_end", "horizon_days")},
            metrics_at_registration=meta.get("test_metrics", {}),
        )  # fmt: skip

    @app.post(
        "/v1/score",
        response_model=ScoreResponse,
        summary="Score leads with the model and the rules.",
        responses={413: {"description": "Too many leads or too large a body"},
                   401: {"description": "Bearer token required"}},
    )  # fmt: skip
    async def score(request: ScoreRequest, _: Auth, current: Model) -> JSONResponse:
        started = time.perf_counter()
        if len(request.leads) > cfg.max_leads:
            raise HTTPException(413, f"{len(request.leads)} leads in one request; the limit is "
                                     f"{cfg.max_leads}")  # fmt: skip
        as_of = request.as_of if request.as_of else datetime.now(UTC).replace(tzinfo=None)
        leads = request_columns(request.leads, as_of)
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

    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    return app
