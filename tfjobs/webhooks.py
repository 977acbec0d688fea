"""Webhooks from the SDK.

>>> hook = client.webhooks.add("https://ci.example.com/tfjobs", ["model.alias_moved"], secret="…")
>>> client.webhooks.deliveries(hook["id"])     # every delivery, with every attempt
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfjobs.sdk import Client

__all__ = ["Webhooks"]


class Webhooks:
    """``client.webhooks``: add, list, deliveries, redeliver, delete."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, url: str, events: Sequence[str], *, secret: str) -> dict[str, Any]:
        body = {"url": url, "events": list(events), "secret": secret}
        return dict(self._client.request("POST", "/webhooks", json=body, retry=False).json())

    def list(self) -> list[dict[str, Any]]:
        return list(self._client.get_json("/webhooks")["items"])

    def deliveries(self, webhook_id: str, *, limit: int = 50) -> builtins.list[dict[str, Any]]:
        return builtins.list(
            self._client.get_json(f"/webhooks/{webhook_id}/deliveries", limit=limit)["items"]
        )

    def redeliver(self, webhook_id: str, delivery_id: str) -> None:
        self._client.request("POST", f"/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")

    def delete(self, webhook_id: str) -> None:
        self._client.request("DELETE", f"/webhooks/{webhook_id}")
