"""Webhooks in the store: subscriptions, and their deliveries as an outbox.

:func:`emit` writes one delivery per subscribed webhook inside the caller's transaction,
so the change and the news of it commit together: a crash or restart between them loses
nothing, and the deliverer (app/webhooks/deliverer.py) finds the rows afterwards."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.store._shared import rows_changed
from app.store.ids import new_id
from app.store.tables import DeliveryAttempt, Webhook, WebhookDelivery, utcnow

__all__ = [
    "PENDING",
    "attempts_of",
    "claim_due",
    "create_webhook",
    "delete_webhook",
    "deliveries_of",
    "emit",
    "get_delivery",
    "get_webhook",
    "list_webhooks",
    "record_attempt",
    "redeliver",
]

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def create_webhook(session: Session, *, owner: str, url: str, events: list[str], secret: str) -> Webhook:
    hook = Webhook(id=new_id(), owner=owner, url=url, events=events, secret=secret, created_at=utcnow())
    session.add(hook)
    session.flush()
    return hook


def get_webhook(session: Session, *, webhook_id: str, owner: str) -> Webhook | None:
    return session.scalar(select(Webhook).where(Webhook.id == webhook_id, Webhook.owner == owner))


def list_webhooks(session: Session, *, owner: str) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.owner == owner).order_by(Webhook.created_at)))


def delete_webhook(session: Session, *, hook: Webhook) -> None:
    session.delete(hook)


def emit(session: Session, *, owner: str, event: str, data: dict[str, Any]) -> int:
    """One pending delivery for each of ``owner``'s webhooks that takes ``event``; the
    body is fixed now (what is signed is what was true when it happened)."""
    hooks = [h for h in list_webhooks(session, owner=owner) if event in h.events]
    now = utcnow()
    for hook in hooks:
        delivery_id = new_id()
        body = orjson.dumps({"id": delivery_id, "event": event, "time": now.isoformat(), "data": data})
        session.add(
            WebhookDelivery(
                id=delivery_id,
                webhook_id=hook.id,
                event=event,
                body=body.decode(),
                status=PENDING,
                attempts=0,
                next_at=now,
                created_at=now,
            )
        )
    session.flush()
    return len(hooks)


def claim_due(session: Session, *, limit: int, hold_seconds: float) -> list[tuple[WebhookDelivery, Webhook]]:
    """Due deliveries, each held for ``hold_seconds`` (its next_at moved on) so another
    API process passing at the same moment skips it; the holder records the attempt."""
    now = utcnow()
    due = session.execute(
        select(WebhookDelivery, Webhook)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_at <= now)
        .order_by(WebhookDelivery.next_at)
        .limit(limit)
    ).all()
    claimed = []
    for delivery, hook in due:
        held = rows_changed(
            session,
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id, WebhookDelivery.next_at == delivery.next_at)
            .values(next_at=now + timedelta(seconds=hold_seconds)),
        )
        if held:
            claimed.append((delivery, hook))
    return claimed


def record_attempt(
    session: Session,
    *,
    delivery_id: str,
    number: int,
    time: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    next_at: datetime | None,
    give_up: bool,
) -> str:
    """The attempt's row, and the delivery's new state: delivered on a 2xx, else pending
    until ``next_at`` — or failed when ``give_up``. Returns the state."""
    session.add(
        DeliveryAttempt(
            delivery_id=delivery_id,
            number=number,
            time=time,
            status_code=status_code,
            error=error[:500] if error else None,
            duration_ms=duration_ms,
        )
    )
    ok = status_code is not None and 200 <= status_code < 300
    state = DELIVERED if ok else FAILED if give_up else PENDING
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(
            status=state,
            attempts=number,
            next_at=None if state != PENDING else next_at,
            finished_at=None if state == PENDING else utcnow(),
        )
    )
    return state


def deliveries_of(
    session: Session, *, webhook_id: str, limit: int, before: datetime | None = None
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if before is not None:
        query = query.where(WebhookDelivery.created_at < before)
    return list(session.scalars(query.order_by(WebhookDelivery.created_at.desc()).limit(limit)))


def attempts_of(session: Session, *, delivery_ids: Sequence[str]) -> dict[str, list[DeliveryAttempt]]:
    found: dict[str, list[DeliveryAttempt]] = {d: [] for d in delivery_ids}
    rows = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(list(delivery_ids)))
        .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.number)
    )
    for row in rows:
        found[row.delivery_id].append(row)
    return found


def get_delivery(session: Session, *, webhook_id: str, delivery_id: str) -> WebhookDelivery | None:
    return session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id
        )
    )


def redeliver(session: Session, *, delivery: WebhookDelivery) -> None:
    """Sends it again soon, the same body and id (a receiver dedupes by X-Tfjobs-Delivery)."""
    delivery.status = PENDING
    delivery.next_at = utcnow()
    delivery.finished_at = None
