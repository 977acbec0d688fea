"""API tokens: only their SHA-256 is stored.

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.tables import ApiToken, utcnow

__all__ = [
    "TOKEN_PREFIX",
    "create_token",
    "hash_token",
    "list_tokens",
    "owner_of_token",
    "revoke_tokens",
]


TOKEN_PREFIX = "tfj_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, owner: str, token: str | None = None) -> str:
    """A new token for ``owner`` (or registers ``token``); only its hash is stored."""
    token = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
    if session.get(ApiToken, hash_token(token)) is None:
        session.add(ApiToken(token_hash=hash_token(token), owner=owner, created_at=utcnow()))
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.owner, ApiToken.created_at)))


def revoke_tokens(session: Session, *, hash_prefix: str) -> list[ApiToken]:
    """Deletes the tokens whose hash starts with ``hash_prefix`` (hex); returns them."""
    assert all(c in "0123456789abcdef" for c in hash_prefix)
    found = list(session.scalars(select(ApiToken).where(ApiToken.token_hash.startswith(hash_prefix))))
    for record in found:
        session.delete(record)
    return found


def owner_of_token(session: Session, *, token: str) -> str | None:
    record = session.get(ApiToken, hash_token(token))
    return record.owner if record else None
