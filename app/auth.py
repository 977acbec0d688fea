"""Who is calling: bearer tokens, checked before anything reads the request's body.

With ``TFJOBS_AUTH=on`` the ``Authenticate`` middleware answers 401 for a missing or
unknown token straight from the headers, so an anonymous 50 MB upload is refused
without being read; the owner it finds travels in the ASGI scope to the ``OwnerDep``
dependency. ``/metrics`` takes a token of its own (``TFJOBS_METRICS_TOKEN``), so
Prometheus needs no user's token and users cannot read service-wide counts.
"""

from __future__ import annotations

import hmac

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.errors import Forbidden, Unauthorized
from app.store import tokens as store_tokens
from app.store.db import Store

__all__ = [
    "LOCAL_OWNER",
    "PUBLIC_PATHS",
    "PUBLIC_PREFIXES",
    "Authenticate",
    "check_metrics_token",
    "owner_of",
]

LOCAL_OWNER = "local"  # everything belongs to this owner with auth off
# Probes and the API's description are open; /metrics checks its own token. The
# dashboard's pages and static files are too: they hold no data, and what they fetch
# carries the token (app/ui.py).
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/",
        "/ui",
    }
)
PUBLIC_PREFIXES = ("/static/", "/ui/")


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send `Authorization: Bearer <token>` (create one: tfjobs token create)")
    return token.strip()


def owner_of(store: Store, authorization: str | None) -> str:
    """The owner of the request's bearer token; :class:`Unauthorized` if there is none."""
    token = _bearer(authorization)
    with store.session() as session:
        owner = store_tokens.owner_of_token(session, token=token)
    if owner is None:
        raise Unauthorized("unknown or revoked token")
    return owner


def check_metrics_token(settings: Settings, authorization: str | None) -> None:
    """``/metrics`` with auth on: only the metrics token, compared in constant time."""
    if not settings.auth:
        return
    if not settings.metrics_token:
        raise Forbidden("/metrics is closed while auth is on: set TFJOBS_METRICS_TOKEN and scrape with it")
    if not hmac.compare_digest(_bearer(authorization).encode(), settings.metrics_token.encode()):
        raise Unauthorized("not the metrics token (TFJOBS_METRICS_TOKEN)")


class Authenticate:
    """401 before the body is read; the owner goes into ``scope["state"]["owner"]``."""

    def __init__(self, app: ASGIApp, *, store: Store) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in PUBLIC_PATHS
            or scope["path"].startswith(PUBLIC_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization")
        try:
            owner = await run_in_threadpool(
                owner_of, self.store, header.decode("latin-1") if header else None
            )
        except Unauthorized as err:
            response = JSONResponse(
                {"detail": err.detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["owner"] = owner
        await self.app(scope, receive, send)
