"""Worker processes' heartbeat rows, and the one rule for who is alive.

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from app.store._shared import rows_changed
from app.store.tables import Worker, utcnow
from tfjobs import Device

__all__ = [
    "MISSED_BEATS",
    "alive_since",
    "any_live_worker",
    "beat",
    "forget_worker",
    "live_workers",
    "prune_workers",
]

MISSED_BEATS = 3  # a worker silent for this many heartbeats is gone


def beat(
    session: Session,
    *,
    name: str,
    hostname: str,
    pid: int,
    device: str,
    current_job: str | None,
    queue: str | None = None,
    kind: str = Device.CPU,
) -> None:
    """A worker's heartbeat: creates its row or refreshes ``last_seen`` and its job."""
    now = utcnow()
    if not rows_changed(
        session, update(Worker).where(Worker.name == name).values(last_seen=now, current_job=current_job)
    ):
        session.add(
            Worker(
                name=name,
                hostname=hostname,
                pid=pid,
                device=device,
                started_at=now,
                last_seen=now,
                current_job=current_job,
                queue=queue,
                kind=kind,
            )
        )


def forget_worker(session: Session, *, name: str) -> None:
    session.execute(delete(Worker).where(Worker.name == name))


def alive_since(heartbeat_seconds: float, now: datetime | None = None) -> datetime:
    """The one rule for who is alive: heard from within ``MISSED_BEATS`` heartbeats. The
    scheduler's free slots, GET /workers and the Prometheus gauge all ask this."""
    return (now or utcnow()) - timedelta(seconds=MISSED_BEATS * heartbeat_seconds)


def live_workers(session: Session, *, heartbeat_seconds: float) -> list[Worker]:
    """Workers alive now, by host and pid. A read: requests call it."""
    since = alive_since(heartbeat_seconds)
    return list(
        session.scalars(select(Worker).where(Worker.last_seen >= since).order_by(Worker.hostname, Worker.pid))
    )


def any_live_worker(session: Session, *, heartbeat_seconds: float, kind: str | None = None) -> bool:
    """Whether any worker (of ``kind``, when given) is alive now."""
    query = select(Worker.name).where(Worker.last_seen >= alive_since(heartbeat_seconds))
    if kind is not None:
        query = query.where(Worker.kind == kind)
    return session.execute(query.limit(1)).first() is not None


def prune_workers(session: Session, *, before: datetime) -> int:
    """Forget workers silent since ``before`` (the reconciler's job, not a request's: a
    delete in a read would take SQLite's write lock on every GET)."""
    return cast(CursorResult[Any], session.execute(delete(Worker).where(Worker.last_seen < before))).rowcount
