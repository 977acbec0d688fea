"""Every response gets the browser hardening headers; no NUL ever reaches a handler.

- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` on every
  answer, not only the dashboard's pages: an artifact or a JSON error opened in a browser
  must not be sniffed into HTML, and no URL of ours (ids, cursors) leaks as a referrer.
- A NUL (``%00``) in the path or the query string is 400 here: PostgreSQL cannot hold one
  in text, so it reached 13 routes as a 500.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Harden", "SECURITY_HEADERS"]

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_RAW = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class Harden:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in _RAW if k not in present),
                ]
            await send(message)

        query = scope.get("query_string", b"").lower()
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            response = JSONResponse(
                {"detail": "a NUL character (%00) is not allowed in a path or a query parameter"},
                status_code=400,
            )
            await response(scope, receive, send_hardened)
            return
        await self.app(scope, receive, send_hardened)
