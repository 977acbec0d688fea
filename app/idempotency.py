"""Creating a job or a sweep at most once per ``Idempotency-Key``: a retry with the same
key and body gets what the first request made; the same key with another body is 409;
two concurrent requests with one key make one row (the store's unique index on
(owner, key) decides, and the loser replays the winner's)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.store.db import Store

__all__ = ["body_hash", "create_once"]


class _Keyed(Protocol):
    id: str
    request_hash: str | None


def body_hash(body: Any) -> str:
    """The request's fingerprint: SHA-256 of its canonical JSON (keys sorted)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def create_once(
    store: Store,
    *,
    owner: str,
    key: str | None,
    fingerprint: str,
    find: Callable[..., _Keyed | None],
    create: Callable[[Session, str | None], str],
    what: str,
) -> tuple[str, bool]:
    """``(id, created)``: runs ``create(session, key)`` (in a session it commits; it
    returns the new row's id) unless ``owner`` already used ``key``, whose row's id comes
    back instead (``find(session, owner=, idempotency_key=)`` looks it up). An empty key is
    no key. ``what`` names the body in the 409 ("job spec", "sweep")."""
    key = key or None

    def earlier(session: Session) -> str | None:
        if not key:
            return None
        row = find(session, owner=owner, idempotency_key=key)
        if row is None:
            return None
        if row.request_hash != fingerprint:
            raise Conflict(f"this Idempotency-Key was already used with a different {what}")
        return row.id

    try:
        with store.session() as session:
            if (found := earlier(session)) is not None:
                return found, False
            return create(session, key), True
    except IntegrityError:  # a concurrent retry with the same key won the insert
        with store.session() as session:
            if (found := earlier(session)) is None:
                raise
            return found, False
