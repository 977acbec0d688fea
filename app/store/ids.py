"""Ids: new ones, and short prefixes as people type them to full ids (jobs, datasets,
sweeps).

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.tables import Dataset, Job, Sweep

__all__ = [
    "new_id",
    "ids_with_prefix",
]


def new_id() -> str:
    return uuid.uuid4().hex


def ids_with_prefix(
    session: Session, table: type[Job] | type[Dataset] | type[Sweep], *, owner: str, prefix: str
) -> list[str]:
    """The owner's ids that start with ``prefix`` (lowercase hex only: no LIKE wildcards)."""
    assert all(c in "0123456789abcdef" for c in prefix)
    query = (
        select(table.id).where(table.owner == owner, table.id.startswith(prefix)).order_by(table.id).limit(10)
    )
    return list(session.scalars(query))
