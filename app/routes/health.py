"""Liveness, readiness and the service's own Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.auth import check_metrics_token
from app.core.broker import ping_broker
from app.core.strictquery import StrictQueryRoute
from app.core.threads import Lane
from app.deps import SettingsDep
from app.store import workers as store_workers

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"], route_class=StrictQueryRoute)
# The probes' own threads: with every request thread busy, readiness still answers.
PROBES = Lane(2)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the API process answers (no store or broker checked).

    For load balancers and container healthchecks; never needs a token. Answered on the
    event loop, with no thread or connection: it stays fast under any load.
    """
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "store or broker unreachable"}})
async def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    """Readiness: whether the store and the broker answer (503 if not), and how many
    workers are alive.

    Workers are reported, not required: the API serves and queues jobs without them.
    """
    store = request.app.state.probe_store  # its own pool, not the requests'
    checks: dict[str, str] = {}
    for name, check in (("store", store.ping), ("broker", lambda: ping_broker(settings))):
        try:
            await PROBES.run(check)
            checks[name] = "ok"
        except Exception as err:  # any failure means "not ready"; say which and why
            log.warning("readiness: %s unreachable: %s", name, err)
            checks[name] = f"unreachable: {type(err).__name__}"
    ready = all(v == "ok" for v in checks.values())
    if checks["store"] == "ok":  # not part of readiness: the API serves without workers

        def count() -> int:
            with store.session() as session:
                return len(
                    store_workers.live_workers(session, heartbeat_seconds=settings.worker_heartbeat_seconds)
                )

        alive = await PROBES.run(count)
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
