"""The audit trail: every request that asks to change something — allowed or refused —
leaves an append-only row: time, actor, action (``job.cancel``), target, status (the
HTTP status it was answered with), request id and client address.

:class:`Audit` is ASGI middleware inside the admission gate and outside authentication,
so a refused token (401), a refused origin (403) and a refused rule (404, 409, 422) are
recorded alike. The row is written when the response starts and before the client sees
it: an answer the client got always has its row, even if the process dies right after.
Every response carries ``X-Request-ID`` (the client's own, when it sends a sane one).
Reads are not audited; predictions are reads.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.periodic import Periodic
from app.store import audit as store_audit
from app.store.db import Store
from app.store.tables import utcnow

__all__ = ["ACTIONS", "Audit", "AuditRetention", "action_of"]

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
ID = r"[^/]+"
#: (method, path) → action; the path's groups are the target. Unknown changes are still
#: recorded, as "other".
ACTIONS: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(f"^{path}$"), action)
    for method, path, action in [
        ("POST", "/jobs", "job.create"),
        ("POST", f"/jobs/({ID})/cancel", "job.cancel"),
        ("DELETE", f"/jobs/({ID})", "job.delete"),
        ("POST", "/sweeps", "sweep.create"),
        ("POST", f"/sweeps/({ID})/cancel", "sweep.cancel"),
        ("POST", "/datasets", "dataset.upload"),
        ("DELETE", f"/datasets/({ID})", "dataset.delete"),
        ("POST", "/models", "model.create"),
        ("DELETE", f"/models/({ID})", "model.delete"),
        ("POST", f"/models/({ID})/versions", "model.version.create"),
        ("DELETE", f"/models/({ID}/versions/{ID})", "model.version.delete"),
        ("PUT", f"/models/({ID}/aliases/{ID})", "model.alias.set"),
        ("DELETE", f"/models/({ID}/aliases/{ID})", "model.alias.delete"),
        ("POST", "/webhooks", "webhook.create"),
        ("DELETE", f"/webhooks/({ID})", "webhook.delete"),
        ("POST", f"/webhooks/({ID}/deliveries/{ID})/redeliver", "webhook.redeliver"),
    ]
]
READS = re.compile(r"^/models/[^/]+/(versions/[^/]+|aliases/[^/]+)/predict$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def action_of(method: str, path: str) -> tuple[str, str | None] | None:
    """The audited action and its target for a request, or None when it changes nothing."""
    if method not in MUTATING or READS.match(path):
        return None
    for wanted, pattern, action in ACTIONS:
        found = pattern.match(path)
        if found and wanted == method:
            return action, found.group(1) if found.groups() else None
    return "other", f"{method} {path}"[:300]


class Audit:
    def __init__(self, app: ASGIApp, *, store: Store, auth: bool) -> None:
        self.app, self.store, self.auth = app, store, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        audited = action_of(scope["method"], scope["path"])

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
                if audited is not None:
                    await run_in_threadpool(self._record, scope, audited, message, request_id)
            await send(message)

        await self.app(scope, receive, send_recorded)

    def _record(
        self, scope: Scope, audited: tuple[str, str | None], message: Message, request_id: str
    ) -> None:
        action, target = audited
        status = int(message["status"])
        if target is None and 200 <= status < 300:  # a create: its Location names what was made
            location = dict(message["headers"]).get(b"location")
            target = location.decode("latin-1").rsplit("/", 1)[-1] if location else None
        state: dict[str, Any] = scope.get("state") or {}
        actor = state.get("owner") or ("anonymous" if self.auth else "local")
        client = scope.get("client")
        with self.store.session() as session:
            store_audit.append(
                session,
                time=utcnow(),
                actor=actor,
                action=action,
                target=target,
                project=None,
                status=status,
                request_id=request_id,
                client=client[0][:64] if client else None,
            )


class AuditRetention(Periodic):
    """Removes rows older than ``TFJOBS_AUDIT_RETENTION_DAYS``, hourly (the only delete)."""

    def __init__(self, store: Store, days: int) -> None:
        def work() -> None:
            with store.session() as session:
                store_audit.prune(session, older_than=utcnow() - timedelta(days=days))

        super().__init__("audit-retention", 3600.0, work)
