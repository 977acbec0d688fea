"""What a job and a sweep have in common on the client: an id, a status, a JSON body that
``refresh`` re-reads, and waiting until the status is final."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from tfjobs.sdk import Client

__all__ = ["Resource"]


class Resource:
    """A server object at ``{collection}/{id}``; ``data`` is its last-read JSON."""

    collection = ""  # "/jobs", "/sweeps"

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self.client, self.data = client, data

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def status(self) -> str:
        return self.data["status"]

    def refresh(self) -> Self:
        self.data = self.client.get_json(f"{self.collection}/{self.id}")
        return self

    def _wait_final(self, final: Collection[str], timeout: float | None, poll: float) -> None:
        """Re-reads until the status is one of ``final``; TimeoutError after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.refresh().status not in final:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.collection[1:-1]} {self.id} still {self.status} after {timeout}s")
            time.sleep(poll)
