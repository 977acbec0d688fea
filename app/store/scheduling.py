"""The scheduler's reads and writes (its rules are in app/scheduler.py): free slots,
each owner's load, the next job for a slot, dispatching, and taking jobs back.

A slot is a live worker row (app/store/workers.py says who is alive) with its Celery
queue; a job holds its queue's slot from dispatch until it ends."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.orm import Session

from app.store._shared import rows_changed
from app.store.tables import GangRank, Job, SchedulerState, Worker
from app.store.workers import alive_since
from tfjobs import Device, JobStatus

__all__ = [
    "DEVICES_FOR",
    "begin_pass",
    "dispatched",
    "free_slots",
    "gang_queues",
    "last_sent",
    "live_queues",
    "mark_dispatched",
    "next_job",
    "queue_heads",
    "reserve_gang",
    "slot_load",
    "take_back",
    "waiting_jobs",
]

HOLDING = (JobStatus.QUEUED, JobStatus.RUNNING)
DEVICES_FOR: dict[str, tuple[str, str]] = {  # what a slot of each kind runs
    Device.GPU: (Device.AUTO, Device.GPU),
    Device.CPU: (Device.AUTO, Device.CPU),
}


def free_slots(session: Session, *, heartbeat_seconds: float, now: datetime) -> list[tuple[str, str, int]]:
    """``(queue, kind, free)`` for every live worker queue with a free slot, GPU ones first."""
    slots = session.execute(
        select(Worker.queue, Worker.kind, func.count())
        .where(Worker.last_seen >= alive_since(heartbeat_seconds, now), Worker.queue.is_not(None))
        .group_by(Worker.queue, Worker.kind)
    ).all()
    if not slots:
        return []
    queues = [q for q, _, _ in slots]
    held = dict(
        session.execute(
            select(Job.dispatched_to, func.count())
            .where(Job.dispatched_to.in_(queues), Job.status.in_(HOLDING))
            .group_by(Job.dispatched_to)
        ).all()
    )
    # a gang's other ranks hold a slot each on their own queues, while the gang is dispatched
    for queue, count in session.execute(
        select(GangRank.queue, func.count())
        .join(Job, Job.id == GangRank.job_id)
        .where(
            GangRank.rank > 0,
            GangRank.queue.in_(queues),
            Job.dispatched_to.is_not(None),
            Job.status.in_(HOLDING),
        )
        .group_by(GangRank.queue)
    ).all():
        held[queue] = held.get(queue, 0) + count
    free = [(str(queue), kind, count - held.get(queue, 0)) for queue, kind, count in slots]
    return sorted(((q, k, n) for q, k, n in free if n > 0), key=lambda s: (s[1] != Device.GPU, s[0]))


def live_queues(session: Session, *, heartbeat_seconds: float, now: datetime) -> dict[str, str]:
    """Every live worker queue and its kind (``cpu`` or ``gpu``)."""
    rows = session.execute(
        select(Worker.queue, Worker.kind)
        .where(Worker.last_seen >= alive_since(heartbeat_seconds, now), Worker.queue.is_not(None))
        .distinct()
    )
    return {str(queue): kind for queue, kind in rows}


def slot_load(session: Session) -> dict[str, int]:
    """Each owner's jobs holding a slot (running, or sent to a worker and starting)."""
    return dict(
        session.execute(
            select(Job.owner, func.count())
            .where(Job.dispatched_to.is_not(None), Job.status.in_(HOLDING))
            .group_by(Job.owner)
        ).all()
    )


def last_sent(session: Session, owners: list[str]) -> dict[str, float]:
    """When each owner's last job was sent to a worker (epoch seconds); owners never
    sent one are absent."""
    rows = session.execute(
        select(Job.owner, func.max(Job.dispatched_at)).where(Job.owner.in_(owners)).group_by(Job.owner)
    ).all()
    return {owner: at.timestamp() for owner, at in rows if at is not None}


def _undispatched(*conditions: Any) -> list[Any]:
    return [
        Job.status == JobStatus.QUEUED,
        Job.dispatched_to.is_(None),
        Job.cancel_requested.is_(False),
        *conditions,
    ]


def _for_slot(kind: str, skip: Collection[str]) -> list[Any]:
    conditions = [Job.device_request.in_(DEVICES_FOR[kind])]
    if skip:
        conditions.append(Job.id.not_in(list(skip)))
    return _undispatched(*conditions)


def queue_heads(session: Session, *, kind: str, skip: Collection[str] = ()) -> dict[str, int]:
    """Each owner's oldest undispatched job a slot of ``kind`` can run (its ``num``), less
    the jobs in ``skip`` (gangs that cannot be placed in this pass)."""
    rows = session.execute(
        select(Job.owner, func.min(Job.num)).where(*_for_slot(kind, skip)).group_by(Job.owner)
    ).all()
    return {owner: int(num) for owner, num in rows}


def next_job(session: Session, *, owner: str, kind: str, skip: Collection[str] = ()) -> Job | None:
    """The owner's next job for a slot of ``kind``: highest priority, then first come."""
    query = (
        select(Job).where(*_for_slot(kind, skip), Job.owner == owner).order_by(Job.priority.desc(), Job.num)
    )
    return session.scalar(query.limit(1))


def reserve_gang(session: Session, *, job_id: str, queues: Sequence[str]) -> None:
    """The gang's ranks, one per queue in rank order (rank 0's is the job's ``dispatched_to``):
    fresh rows, with no attempt yet."""
    session.execute(delete(GangRank).where(GangRank.job_id == job_id))
    session.add_all(GangRank(job_id=job_id, rank=rank, queue=queue) for rank, queue in enumerate(queues))
    session.flush()


def gang_queues(session: Session, *, job_ids: Collection[str]) -> dict[str, list[str]]:
    """Each gang's queues of ranks 1.. (for the jobs in ``job_ids`` that are gangs)."""
    found: dict[str, list[str]] = {}
    if not job_ids:
        return found
    rows = session.execute(
        select(GangRank.job_id, GangRank.queue)
        .where(GangRank.job_id.in_(list(job_ids)), GangRank.rank > 0)
        .order_by(GangRank.job_id, GangRank.rank)
    )
    for job_id, queue in rows:
        found.setdefault(job_id, []).append(queue)
    return found


def begin_pass(session: Session) -> None:
    """A write to the one scheduler row first: passes queue up here (a row lock on
    PostgreSQL, the write lock on SQLite), so each sees the one before it."""
    session.execute(
        update(SchedulerState).where(SchedulerState.id == 1).values(passes=SchedulerState.passes + 1)
    )


def mark_dispatched(session: Session, *, job_id: str, queue: str, now: datetime) -> bool:
    changed = rows_changed(
        session,
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.dispatched_to.is_(None))
        .values(dispatched_to=queue, dispatched_at=now),
    )
    session.flush()
    return bool(changed)


def take_back(session: Session, *, job_ids: Iterable[str], queue: str | None = None) -> int:
    """Queued jobs sent to a worker go back to the scheduler (that worker will not run
    them); with ``queue``, only if they were sent there. Returns how many went back."""
    ids = list(job_ids)
    if not ids:
        return 0
    condition = Job.id.in_(ids) & (Job.status == JobStatus.QUEUED)
    if queue is not None:
        condition = condition & (Job.dispatched_to == queue)
    return rows_changed(session, update(Job).where(condition).values(dispatched_to=None, dispatched_at=None))


def dispatched(session: Session) -> list[tuple[str, str | None, datetime | None]]:
    """``(job id, queue, sent at)`` of every queued job sent to a worker."""
    rows = session.execute(
        select(Job.id, Job.dispatched_to, Job.dispatched_at).where(
            Job.status == JobStatus.QUEUED, Job.dispatched_to.is_not(None)
        )
    )
    return [(job_id, queue, at) for job_id, queue, at in rows]


def waiting_jobs(session: Session) -> Sequence[Row[str, str, int, int, str, str | None, int]]:
    """``(id, owner, priority, num, device, dispatched_to, replicas)`` of every queued job, by owner
    and then the order the scheduler takes them in."""
    return session.execute(
        select(Job.id, Job.owner, Job.priority, Job.num, Job.device_request, Job.dispatched_to, Job.replicas)
        .where(Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(False))
        .order_by(Job.owner, Job.priority.desc(), Job.num)
    ).all()
