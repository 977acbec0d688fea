"""Liveness, readiness and the service's own Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from app.auth import check_metrics_token
from app.core.broker import ping_broker
from app.deps import SettingsDep, StoreDep
from app.routes.workers import live_workers

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the API process answers (no store or broker checked).

    For load balancers and container healthchecks; never needs a token.
    """
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "store or broker unreachable"}})
async def readyz(store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: whether the store and the broker answer (503 if not), and how many
    workers are alive.

    Workers are reported, not required: the API serves and queues jobs without them.
    """
    checks: dict[str, str] = {}
    for name, check in (("store", store.ping), ("broker", lambda: ping_broker(settings))):
        try:
            await run_in_threadpool(check)
            checks[name] = "ok"
        except Exception as err:  # any failure means "not ready"; say which and why
            log.warning("readiness: %s unreachable: %s", name, err)
            checks[name] = f"unreachable: {type(err).__name__}"
    ready = all(v == "ok" for v in checks.values())
    if checks["store"] == "ok":  # not part of readiness: the API serves without workers

        def count() -> int:
            with store.session() as session:
                return len(live_workers(session, settings))

        alive = await run_in_threadpool(count)
        checks["workers"] = (
            f"{alive} alive" if alive else "none alive: jobs wait until one starts (tfjobs worker)"
        )
    return JSONResponse(checks, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        401: {"description": "not the metrics token"},
        403: {"description": "auth on, no metrics token set"},
    },
)
def prometheus_metrics(
    request: Request, settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Prometheus metrics. With auth on, scrape with `Authorization: Bearer $TFJOBS_METRICS_TOKEN`."""
    check_metrics_token(settings, authorization)
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
