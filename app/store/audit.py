"""The audit log in the store: append, read newest first, and retention's delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.store.tables import AuditRow

__all__ = ["append", "prune", "rows"]


def append(session: Session, **row: Any) -> None:
    session.execute(insert(AuditRow).values(**row))


def rows(
    session: Session,
    *,
    limit: int,
    before: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> list[AuditRow]:
    """Newest first; ``before`` is the cursor (a row's num)."""
    query = select(AuditRow).order_by(AuditRow.num.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditRow.num < before)
    if actor is not None:
        query = query.where(AuditRow.actor == actor)
    if action is not None:
        query = query.where(AuditRow.action == action)
    if since is not None:
        query = query.where(AuditRow.time >= since)
    return list(session.scalars(query))


def prune(session: Session, *, older_than: datetime) -> int:
    """Retention, the only delete there is: rows from before ``older_than``."""
    result: Any = session.execute(delete(AuditRow).where(AuditRow.time < older_than))
    return int(result.rowcount or 0)
