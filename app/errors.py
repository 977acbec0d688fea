"""The API's deliberate errors, each with its HTTP status.

ServiceError            base; ``status`` and a user-facing ``detail``
├── BadRequest          400: a header or parameter no client of ours would send
├── NotFound            404: no such job/dataset/artifact *for this caller*
├── Conflict            409: the request contradicts the resource's state
├── InvalidInput        422: the request is well-formed but not acceptable
├── PayloadTooLarge     413: a body or upload is over its limit
├── Unavailable         503: a backing service (store, broker) cannot be reached
├── Unauthorized        401: no token, or one the store does not know
├── Forbidden           403: a valid request this deployment does not allow
├── UnsupportedMediaType 415: a body in a format the route does not take
└── TooManyRequests     429: over a per-owner limit; ``retry_after`` seconds

(LeaseLost, a worker's fenced write, is not HTTP: it lives in app.store.errors.)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

__all__ = [
    "field_errors",
    "Forbidden",
    "UnsupportedMediaType",
    "BadRequest",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "ServiceError",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
]


class ServiceError(Exception):
    status: int = 400

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class InvalidInput(ServiceError):
    status = 422


class PayloadTooLarge(ServiceError):
    status = 413


class Unavailable(ServiceError):
    status = 503


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class UnsupportedMediaType(ServiceError):
    status = 415


class TooManyRequests(ServiceError):
    status = 429

    def __init__(self, detail: Any, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def field_errors(err: ValidationError, *prefix: str | int, known: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as the API's 422 items (FastAPI's shape, under ``body`` and
    ``prefix``), in a person's words: no "Value error, " prefix, and an unknown field near
    one of ``known`` gets "did you mean `learning_rate`?"."""
    fields = list(known)
    items = []
    for e in err.errors(include_url=False, include_context=False, include_input=False):
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden" and fields and e["loc"]:
            near = difflib.get_close_matches(str(e["loc"][-1]), fields, n=1, cutoff=0.6)
            message = f"unknown field; did you mean `{near[0]}`?" if near else "unknown field"
        items.append({"loc": ["body", *prefix, *e["loc"]], "msg": message, "type": e["type"]})
    return items
