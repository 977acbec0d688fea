"""Only this service's own pages may change things, and only its own names reach it.

With auth off (``tfjobs up``'s default) a request needs no token, so two browser attacks
would work even against a loopback-only API: a page from any site can POST to it (a
no-cors form needs no CORS answer to be sent), and DNS rebinding makes
``evil.example`` resolve to 127.0.0.1 so that page can read answers too. So:

- ``Host`` must name an allowed host: loopback names with auth off, plus
  ``TFJOBS_ALLOWED_HOSTS`` (``*`` allows any); with auth on, only that list if set.
- A state-changing request (anything but GET, HEAD, OPTIONS) whose browser says it comes
  from another site (``Sec-Fetch-Site``), or whose ``Origin`` is neither this origin nor
  one of ``TFJOBS_CORS_ORIGINS``, is refused (403), auth on or off.

Probes are exempt: a load balancer's ``Host`` is whatever address it dialled.
Starlette's TrustedHostMiddleware checks only the first rule, with a bare "Invalid host
header"; one middleware does both and says which setting to change.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOOPBACK_HOSTS", "SameSiteOnly", "host_name"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
_READ = frozenset({b"host", b"origin", b"sec-fetch-site"})


def host_name(host: str) -> str:
    """``Host``'s name without its port, lower case (``[::1]:8000`` → ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class SameSiteOnly:
    def __init__(
        self, app: ASGIApp, *, allowed_hosts: frozenset[str] | None, cors_origins: frozenset[str]
    ) -> None:
        """``allowed_hosts``: names ``Host`` may carry (None: any)."""
        self.app, self.allowed_hosts, self.cors_origins = app, allowed_hosts, cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        # Only the three headers this reads, decoded (it runs on every request).
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _READ}
        host = headers.get("host", "")
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            await _refuse(
                scope,
                receive,
                send,
                400,
                f"Host {host_name(host)!r} is not one this API serves; add it to TFJOBS_ALLOWED_HOSTS "
                "(comma-separated names) if it should be",
            )
            return
        if scope["method"] not in SAFE_METHODS:
            why = self._cross_site(headers, host)
            if why:
                await _refuse(scope, receive, send, 403, why)
                return
        await self.app(scope, receive, send)

    def _cross_site(self, headers: dict[str, str], host: str) -> str | None:
        site = headers.get("sec-fetch-site", "").lower()
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/") in self.cors_origins:
            return None
        if site in ("cross-site", "same-site"):
            return f"a request from another site ({site}) may not change anything here"
        if origin is not None and urlsplit(origin).netloc.lower() != host.strip().lower():
            return (
                f"a request from origin {origin!r} may not change anything here; "
                "list it in TFJOBS_CORS_ORIGINS to allow it"
            )
        return None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
