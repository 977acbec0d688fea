"""The FastAPI application: routers, error handling, limits, metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit import Audit, AuditRetention
from app.auth import Authenticate
from app.core.admission import Admission
from app.core.broker import make_celery
from app.core.config import Settings, get_settings
from app.core.datadir import prepare_data_dir
from app.core.hardening import Harden
from app.core.observability import ServiceMetrics
from app.core.origins import SameSiteOnly
from app.dispatcher import Dispatcher
from app.docs import document_errors_and_security, mount_docs
from app.errors import ServiceError, TooManyRequests, Unauthorized
from app.reconciler import Reconciler
from app.routes import artifacts, datasets, health, jobs, models, progress, sweeps, webhooks, workers
from app.scheduler import QueueView
from app.serving import model_server_client
from app.store import tokens as store_tokens
from app.store.db import Store, migrate
from app.streams import Feeds
from app.sweeps.schema import SweepRequest
from app.ui import router as ui_router
from app.webhooks.deliverer import Deliverer
from tfcore.spec import JobSpec
from tfjobs import __version__

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class BodySizeLimit:
    """413 for a request body over its limit, counted as it streams in (Content-Length
    can be absent or wrong), so an oversized body is never buffered whole."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.json_limit = settings.max_body_kb << 10
        self.upload_limit = (settings.max_upload_mb << 20) + (1 << 20)  # + multipart framing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"].rstrip("/") == "/datasets" else self.json_limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, limit)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await self._reject(send, limit)

    @staticmethod
    async def _reject(send: Send, limit: int) -> None:
        what = f"{limit >> 20} MB" if limit >= 1 << 20 else f"{limit >> 10} KB"
        response = JSONResponse({"detail": f"request body larger than the limit of {what}"}, 413)
        await response({"type": "http"}, _no_receive, send)


class RecordLatency:
    """Request latency by method, route template and status, for /metrics. A plain ASGI
    middleware: no request/response objects built around every call."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_seconds.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - start
            )


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _openapi_with_job_spec(app: FastAPI) -> dict[str, Any]:
    """POST /jobs and POST /sweeps validate their bodies themselves (for the configured
    limits); document them."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
    spec_schema = JobSpec.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(spec_schema.pop("$defs", {}))
    # The configured limits, which the static model cannot know (the API enforces them).
    spec_schema["properties"]["epochs"]["maximum"] = app.state.settings.max_epochs
    components["JobSpec"] = spec_schema
    sweep_schema = SweepRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(sweep_schema.pop("$defs", {}))
    # A sweep's base spec is a job spec (validated as one, with the configured limits).
    sweep_schema["properties"]["spec"] = {
        "$ref": "#/components/schemas/JobSpec",
        "description": "the job spec every trial starts from; `space` varies its fields",
    }
    components["SweepRequest"] = sweep_schema
    document_errors_and_security(schema, auth=app.state.settings.auth)
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    settings = settings or get_settings()
    prepare_data_dir(settings)  # private, and no debris of a killed process
    store = Store(settings.sqlalchemy_url)
    if run_migrations:
        migrate(store.engine)
    if settings.bootstrap_token:
        with store.session() as session:
            store_tokens.create_token(session, owner=settings.bootstrap_owner, token=settings.bootstrap_token)
    celery = make_celery(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The sync handlers' thread pool (anyio's default: 40). Their work is mostly Python
        # holding the GIL: under 50 clients 40 threads took 5.4 ms of CPU a request against
        # 4.6 ms with 4, and more latency (docs/benchmarks.md §5).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        # The loops have connections of their own: a flood of requests cannot starve them.
        background = Store(settings.sqlalchemy_url, pool=(2, 2))
        loops = [
            Reconciler(background, celery, settings).start(),
            Dispatcher(background, celery, settings).start(),
            Deliverer(background, settings).start(),
            AuditRetention(background, settings.audit_retention_days).start(),
        ]
        app.state.serve_client = model_server_client()
        yield
        await app.state.serve_client.aclose()
        for loop in loops:
            loop.stop()
        background.dispose()

    app = FastAPI(
        title="tfjobs",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own copies: no CDN, works offline
        redoc_url=None,
        description="Remote TensorFlow training jobs: submit a spec, follow live metrics, "
        "download verified models.",
    )
    app.state.settings = settings
    app.state.store = store
    # /readyz reads through its own small pool on its own thread: it answers while every
    # request thread and connection is taken (app/routes/health.py).
    app.state.probe_store = Store(settings.sqlalchemy_url, pool=(1, 1))
    app.state.celery = celery
    app.state.metrics = ServiceMetrics(store, settings)
    app.state.queue_view = QueueView()
    app.state.feeds = Feeds(store, page=settings.page_limit, max_per_owner=settings.max_streams_per_owner)

    for module in (jobs, progress, artifacts, datasets, sweeps, models, webhooks, workers, health):
        app.include_router(module.router)
    mount_docs(app)
    app.include_router(ui_router)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, err: ServiceError) -> JSONResponse:
        headers = {}
        if isinstance(err, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(err, TooManyRequests):
            headers["Retry-After"] = str(err.retry_after)
        return JSONResponse({"detail": jsonable_encoder(err.detail)}, status_code=err.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in err.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    app.add_middleware(RecordLatency, metrics=app.state.metrics)
    app.add_middleware(BodySizeLimit, settings=settings)
    if settings.auth:  # an unauthenticated request is answered before its body is read
        app.add_middleware(Authenticate, store=store)
    if settings.cors_origin_list:  # closed unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(settings.cors_origin_list),
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
        )
    app.add_middleware(
        SameSiteOnly, allowed_hosts=settings.host_allowlist, cors_origins=settings.cors_origin_list
    )
    # Every change asked for, allowed or refused (auth's 401 and the origin check's 403
    # included), is on record before its answer leaves (app/audit.py).
    app.add_middleware(Audit, store=store, auth=settings.auth)
    # Outer: excess load is shed before it costs a token lookup or a thread.
    app.add_middleware(
        Admission,
        limit=settings.max_concurrent_requests,
        waiting=settings.max_waiting_requests,
        wait_seconds=settings.request_wait_seconds,
    )
    app.add_middleware(Harden)  # outermost: every answer, a shed one included, is hardened
    app.openapi = lambda: _openapi_with_job_spec(app)  # type: ignore[method-assign]
    return app
