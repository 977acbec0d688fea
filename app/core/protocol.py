"""uvicorn's HTTP protocol with the two limits it lacks: header size and header time.

uvicorn's default parser (httptools) accepts headers of any size — 300 MB of them on one
anonymous connection took an API process from 148 to 454 MB, then answered 200 — and a
connection may send half a request head and hold it open forever (slowloris). Every way
the API runs goes through ``tfjobs api`` (``tfjobs up``, compose and the k8s manifests
call it), which serves with this protocol:

- a request head (request line and headers) over ``TFJOBS_MAX_HEADER_KB`` is answered
  431 and the connection closed, after reading at most that much plus one socket read;
- a request head not complete within ``TFJOBS_HEADER_TIMEOUT_SECONDS`` of the connection
  opening (or of the request's first byte) is answered 408 and the connection closed.

Bodies have their limits in the app (app.main.BodySizeLimit); idle keep-alive
connections, uvicorn's own ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings

__all__ = ["GuardedHttpProtocol"]

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._head_limit = settings.max_header_kb << 10
        self._head_seconds = settings.header_timeout_seconds
        self._in_head = True  # reading a request head (from the connection's start)
        self._head_raw = 0  # bytes received while in the head
        self._head_begun = False  # a request's first bytes have been parsed
        self._head_size = 0  # request target + header names and values parsed so far
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_raw += len(data)
        super().data_received(data)
        if self._in_head and self._head_raw > self._head_limit and not self.transport.is_closing():
            self._refuse(431, f"request headers larger than the limit of {self._head_limit >> 10} KB")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_begun, self._head_size = True, True, 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_begun, self._head_raw = False, False, 0
        self._disarm_head_timer()
        if self._head_size > self._head_limit:  # the app never sees this request
            self._refuse(431, f"request headers larger than the limit of {self._head_limit >> 10} KB")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.transport.is_closing():  # refused: the rest is never handed on
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self.transport.is_closing():
            return
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._head_seconds, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            # A head begun and not finished in time; or no request at all on a new connection.
            if self._head_begun:
                self._refuse(408, f"request headers not received within {self._head_seconds:g} s")
            else:
                self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        self._disarm_head_timer()
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
        )
        self.transport.close()
