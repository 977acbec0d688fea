"""/webhooks: tell another service when something happens — a job or sweep ends, a model
version is registered, an alias moves — with a signed JSON POST, retried until it gets a
2xx, every attempt on record (app/webhooks/)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.core.strictquery import StrictQueryRoute
from app.deps import OwnerDep, SettingsDep, StoreDep
from app.errors import InvalidInput, NotFound
from app.schemas import (
    DeliveriesPublic,
    DeliveryAttemptPublic,
    DeliveryPublic,
    WebhookCreate,
    WebhookPublic,
    WebhooksPublic,
    json_response,
)
from app.store import webhooks as store_webhooks
from app.store.tables import Webhook
from app.webhooks.ssrf import Refused, allowed_networks, check_url

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=StrictQueryRoute)
Id = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the webhook's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such webhook or delivery"}}


def _public(hook: Webhook) -> WebhookPublic:
    return WebhookPublic(id=hook.id, url=hook.url, events=list(hook.events), created_at=hook.created_at)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookPublic,
    responses={422: {"description": "a bad body, or a URL that is not a public address"}},
)
async def create_webhook(
    body: WebhookCreate, request: Request, store: StoreDep, owner: OwnerDep, settings: SettingsDep
) -> Response:
    """Subscribes a URL to events. Each delivery is a POST of `{"id", "event", "time",
    "data"}` with `X-Tfjobs-Event`, `X-Tfjobs-Delivery` (dedupe by it) and
    `X-Tfjobs-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>`. A URL
    that resolves to a loopback, link-local, private or reserved address is refused (an
    operator opens networks with TFJOBS_WEBHOOK_ALLOWED_NETWORKS). The secret is never
    shown again."""
    try:  # name resolution blocks: off the event loop
        await run_in_threadpool(check_url, body.url, allowed_networks(settings.webhook_allowed_networks))
    except Refused as err:
        raise InvalidInput([{"loc": ["body", "url"], "msg": str(err), "type": "value_error"}]) from None
    with store.session() as session:
        hook = store_webhooks.create_webhook(
            session, owner=owner, url=body.url, events=list(dict.fromkeys(body.events)), secret=body.secret
        )
        public = _public(hook)
    return json_response(public, status.HTTP_201_CREATED, {"Location": f"/webhooks/{public.id}"})


@router.get("", response_model=WebhooksPublic)
def list_webhooks(store: StoreDep, owner: OwnerDep) -> WebhooksPublic:
    """Your webhooks: URL and events (never the secret)."""
    with store.session() as session:
        return WebhooksPublic(items=[_public(h) for h in store_webhooks.list_webhooks(session, owner=owner)])


def _hook(session: object, webhook_id: str, owner: str) -> Webhook:
    hook = store_webhooks.get_webhook(session, webhook_id=webhook_id, owner=owner)  # type: ignore[arg-type]
    if hook is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return hook


@router.get("/{webhook_id}", response_model=WebhookPublic, responses=NOT_FOUND)
def get_webhook(webhook_id: Id, store: StoreDep, owner: OwnerDep) -> WebhookPublic:
    """One webhook: URL and events (never the secret)."""
    with store.session() as session:
        return _public(_hook(session, webhook_id, owner))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_webhook(webhook_id: Id, store: StoreDep, owner: OwnerDep) -> Response:
    """Stops the webhook; deliveries not yet sent are dropped with it."""
    with store.session() as session:
        store_webhooks.delete_webhook(session, hook=_hook(session, webhook_id, owner))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=DeliveriesPublic, responses=NOT_FOUND)
def list_deliveries(
    webhook_id: Id,
    store: StoreDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[datetime | None, Query(description="the next_cursor of the previous page")] = None,
) -> DeliveriesPublic:
    """Every delivery, newest first, with every attempt: when, the status code or the
    error, how long it took; `pending` ones say when the next attempt is due."""
    with store.session() as session:
        hook = _hook(session, webhook_id, owner)
        rows = store_webhooks.deliveries_of(session, webhook_id=hook.id, limit=limit + 1, before=cursor)
        page = rows[:limit]
        attempts = store_webhooks.attempts_of(session, delivery_ids=[d.id for d in page])
        items = [
            DeliveryPublic(
                id=d.id,
                event=d.event,
                status=d.status,  # type: ignore[arg-type]
                created_at=d.created_at,
                finished_at=d.finished_at,
                next_attempt_at=d.next_at if d.status == store_webhooks.PENDING else None,
                attempts=[
                    DeliveryAttemptPublic(
                        number=a.number,
                        time=a.time,
                        status_code=a.status_code,
                        error=a.error,
                        duration_ms=round(a.duration_ms, 1),
                    )
                    for a in attempts[d.id]
                ],
            )
            for d in page
        ]
    more = len(rows) > limit
    return DeliveriesPublic(items=items, next_cursor=page[-1].created_at.isoformat() if more else None)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryPublic,
    responses=NOT_FOUND,
)
def redeliver(webhook_id: Id, delivery_id: Id, store: StoreDep, owner: OwnerDep) -> DeliveryPublic:
    """Sends a delivery again (the same id and body) within a second or two."""
    with store.session() as session:
        hook = _hook(session, webhook_id, owner)
        delivery = store_webhooks.get_delivery(session, webhook_id=hook.id, delivery_id=delivery_id)
        if delivery is None:
            raise NotFound(f"webhook {webhook_id} has no delivery {delivery_id!r}")
        store_webhooks.redeliver(session, delivery=delivery)
        session.flush()
        return DeliveryPublic(
            id=delivery.id,
            event=delivery.event,
            status="pending",
            created_at=delivery.created_at,
            finished_at=None,
            next_attempt_at=delivery.next_at,
            attempts=[],
        )
