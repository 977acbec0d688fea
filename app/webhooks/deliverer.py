"""The API's webhook deliverer: every second it sends the deliveries that are due.

Each delivery is a JSON POST of the body stored when the event happened, with
``X-Tfjobs-Event``, ``X-Tfjobs-Delivery`` (the id a receiver dedupes by) and
``X-Tfjobs-Signature``. A 2xx delivers it; anything else (another status, a timeout, a
refused connection, a target that now resolves to a refused address) is an attempt on
record, and the next waits twice as long as the last (``TFJOBS_WEBHOOK_BACKOFF_SECONDS``
first) until ``TFJOBS_WEBHOOK_RETRY_SECONDS`` have passed since the event: then it is
failed. Deliveries live in the store, so a restart loses none; a due one is held by one
API process at a time (app/store/webhooks.py ``claim_due``).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import httpx

from app.core.config import Settings
from app.core.periodic import Periodic
from app.store import webhooks as store_webhooks
from app.store.db import Store
from app.store.tables import utcnow
from app.webhooks.signing import signature
from app.webhooks.ssrf import Refused, allowed_networks, check_url

__all__ = ["Deliverer", "deliver_due"]

log = logging.getLogger(__name__)
BATCH = 20
USER_AGENT = "tfjobs-webhooks/1"


def deliver_due(store: Store, settings: Settings, client: httpx.Client) -> int:
    """One pass: every due delivery tried once; returns how many were tried."""
    hold = settings.webhook_timeout_seconds * 2 + 5
    with store.session() as session:
        due = [
            (
                delivery.id,
                delivery.event,
                delivery.body,
                delivery.attempts,
                delivery.created_at,
                hook.url,
                hook.secret,
            )
            for delivery, hook in store_webhooks.claim_due(session, limit=BATCH, hold_seconds=hold)
        ]
    networks = allowed_networks(settings.webhook_allowed_networks)
    for delivery_id, event, body, attempts, created_at, url, secret in due:
        started, began = utcnow(), time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            check_url(url, networks)  # again: the name may point elsewhere since creation
            response = client.post(
                url,
                content=body.encode(),
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "X-Tfjobs-Event": event,
                    "X-Tfjobs-Delivery": delivery_id,
                    "X-Tfjobs-Signature": signature(secret, body.encode()),
                },
                timeout=settings.webhook_timeout_seconds,
                follow_redirects=False,  # a redirect could lead to a refused address
            )
            status_code = response.status_code
        except Refused as err:
            error = f"refused: {err}"
        except httpx.HTTPError as err:
            error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        number = attempts + 1
        wait = settings.webhook_backoff_seconds * 2 ** (number - 1)
        next_at = utcnow() + timedelta(seconds=wait)
        give_up = next_at - created_at > timedelta(seconds=settings.webhook_retry_seconds)
        with store.session() as session:
            state = store_webhooks.record_attempt(
                session,
                delivery_id=delivery_id,
                number=number,
                time=started,
                status_code=status_code,
                error=error,
                duration_ms=(time.perf_counter() - began) * 1000,
                next_at=next_at,
                give_up=give_up,
            )
        if state != "delivered":
            log.info(
                "webhook delivery %s (%s) attempt %d: %s", delivery_id, event, number, error or status_code
            )
    return len(due)


class Deliverer(Periodic):
    def __init__(self, store: Store, settings: Settings) -> None:
        client = httpx.Client(headers={"Accept": "*/*"})

        def work() -> None:
            while deliver_due(store, settings, client) == BATCH:
                pass  # a backlog: keep going until it is drained

        super().__init__("webhooks", 1.0, work)
        self._client = client

    def stop(self) -> None:
        super().stop()
        self._client.close()
