"""Admission control: a bounded number of requests at work, a bounded wait, the rest shed.

An API process serves its requests' store calls on a few threads (``TFJOBS_API_THREADS``).
Past what they can serve, every extra request only adds latency for all the others and
memory for its own buffers; past a bound it is kinder to say "busy, retry in a second" at
once than to answer everyone late. So at most ``limit`` requests run at once, up to
``waiting`` more wait for a place for at most ``wait_seconds``, and the rest are answered
503 with ``Retry-After`` without being read.

Probes, ``/metrics`` and the live streams are never held here: a load balancer must see a
busy API as alive, and a stream lives for minutes (streams have a limit of their own,
``TFJOBS_MAX_STREAMS_PER_OWNER``).
"""

from __future__ import annotations

import anyio
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Admission"]

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
EXEMPT_SUFFIXES = ("/stream",)
RETRY_AFTER_SECONDS = 1


class Admission:
    def __init__(self, app: ASGIApp, *, limit: int, waiting: int, wait_seconds: float) -> None:
        self.app = app
        self.limit, self.waiting_limit, self.wait_seconds = limit, waiting, wait_seconds
        self._places: anyio.Semaphore | None = None  # made in the event loop, on first use
        self.waiting = 0
        self.shed = 0  # answered 503 since start (for /metrics and the benchmark)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in EXEMPT_PATHS
            or scope["path"].endswith(EXEMPT_SUFFIXES)
        ):
            await self.app(scope, receive, send)
            return
        if self._places is None:
            self._places = anyio.Semaphore(self.limit)
        places = self._places
        if places.value == 0:  # all at work: wait, if there is room to
            if self.waiting >= self.waiting_limit:
                await self._busy(scope, receive, send)
                return
            acquired = False
            self.waiting += 1
            try:
                with anyio.move_on_after(self.wait_seconds):
                    await places.acquire()
                    acquired = True
            finally:
                self.waiting -= 1
            if not acquired:
                await self._busy(scope, receive, send)
                return
        else:
            await places.acquire()  # a free place: no wait
        try:
            await self.app(scope, receive, send)
        finally:
            places.release()

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.shed += 1
        response = JSONResponse(
            {
                "detail": f"the API is busy ({self.limit} requests at work, {self.waiting} waiting): "
                f"retry in {RETRY_AFTER_SECONDS} s"
            },
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        await response(scope, receive, send)
