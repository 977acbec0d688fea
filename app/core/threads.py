"""Thread lanes: blocking work of one kind on a few threads of its own.

The API's default thread pool (``TFJOBS_API_THREADS``, 8) serves every request's store
calls. Work that can hold a thread for long — following a stream, parsing a large
upload — runs in a lane with its own small limit, so a burst of it can never take every
thread and stall ordinary requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

__all__ = ["Lane"]


class Lane:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop, on first use

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)
