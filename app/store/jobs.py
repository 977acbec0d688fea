"""Jobs in the store: submit, claim with a lease, hand back, finish (fenced by attempt), list.

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.filterlang import Node
from app.store import webhooks as store_webhooks
from app.store._shared import current, rows_changed
from app.store.errors import LeaseLost
from app.store.filters import condition
from app.store.ids import new_id
from app.store.tables import Attempt, Job, utcnow
from tfjobs import FINAL_STATUSES, Device, JobStatus

__all__ = [
    "SPEC_COLUMNS",
    "any_queued",
    "attempt_outcomes",
    "claim_job",
    "count_all_queued",
    "count_jobs_by_status",
    "count_queued",
    "create_job",
    "delete_job",
    "expired_leases",
    "find_job_by_key",
    "finish_job",
    "get_job",
    "is_cancel_requested",
    "list_attempts",
    "list_jobs",
    "mark_enqueued",
    "queued_by_owner",
    "release_job",
    "renew_lease",
    "request_cancel",
    "stale_queued",
]


#: The spec's ``labels`` and ``placement`` fields (tfcore.spec.FieldRole), copied into
#: the columns the job list filters by and the scheduler orders by: field -> (column,
#: its value from the spec's). tests/store/test_store.py holds the keys to the roles.
SPEC_COLUMNS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "name": ("name", lambda name: name),
    "tags": ("tags", lambda tags: "," + ",".join(tags) + "," if tags else None),  # ",a,b,": LIKE ',a,'
    "priority": ("priority", lambda priority: int(priority or 0)),
    "device": ("device_request", lambda device: device or Device.AUTO),
    "replicas": ("replicas", lambda replicas: int(replicas or 1)),
}


def create_job(
    session: Session,
    *,
    spec: dict[str, Any],
    epochs: int,
    owner: str = "local",
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    sweep_id: str | None = None,
    trial_number: int | None = None,
    params: dict[str, Any] | None = None,
) -> Job:
    now = utcnow()
    job = Job(
        sweep_id=sweep_id,
        trial_number=trial_number,
        params=params,
        id=new_id(),
        owner=owner,
        status=JobStatus.QUEUED,
        spec=spec,
        progress_epochs=epochs,
        created_at=now,
        enqueued_at=now,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        **{column: encode(spec.get(field)) for field, (column, encode) in SPEC_COLUMNS.items()},
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: str, owner: str | None = None) -> Job | None:
    query = select(Job).where(Job.id == job_id)
    if owner is not None:
        query = query.where(Job.owner == owner)
    return session.scalar(query)


def find_job_by_key(session: Session, *, owner: str, idempotency_key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.owner == owner, Job.idempotency_key == idempotency_key))


def list_jobs(
    session: Session,
    *,
    owner: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
    tag: str | None = None,
    q: str | None = None,
    where: Node | None = None,
) -> tuple[list[Job], int | None]:
    """Newest first; returns the page and the cursor for the next one (None at the end).
    ``tag``: jobs with that tag; ``q``: jobs whose name contains it (any case); ``where``:
    a parsed filter (app/filterlang.py)."""
    query = select(Job).order_by(Job.num.desc()).limit(limit + 1)
    if owner is not None:
        query = query.where(Job.owner == owner)
    if status is not None:
        query = query.where(Job.status == status)
    if before is not None:
        query = query.where(Job.num < before)
    if tag is not None:
        query = query.where(Job.tags.contains(f",{tag},", autoescape=True))
    if q is not None:
        query = query.where(func.lower(Job.name).contains(q.lower(), autoescape=True))
    if where is not None:
        query = query.where(condition(where))
    jobs = list(session.scalars(query))
    if len(jobs) > limit:
        return jobs[:limit], jobs[limit - 1].num
    return jobs, None


def count_jobs_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: count for status, count in rows}


def request_cancel(session: Session, *, job: Job) -> Job:
    """A queued job is cancelled at once (it will never start); a running one is flagged."""
    if job.status == JobStatus.QUEUED:
        # Conditional update: a worker may be claiming this very job right now.
        changed = rows_changed(
            session,
            update(Job)
            .where(Job.id == job.id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.CANCELLED, cancel_requested=True, finished_at=utcnow()),
        )
        if changed:
            session.refresh(job)
            announce(session, job_id=job.id)
            return job
        session.refresh(job)
    if job.status == JobStatus.RUNNING:
        job.cancel_requested = True
    return job


def claim_job(
    session: Session,
    *,
    job_id: str,
    hostname: str,
    device: str,
    lease_seconds: float = 60.0,
    queue: str | None = None,
    kind: str = Device.CPU,
) -> Job | None:
    """Moves a queued job to running for this worker, with a lease; None if it is not
    queued any more (running elsewhere, finished, cancelled: a duplicate message), or it
    asked for a GPU and this worker (``kind``) has none. ``queue``: the worker's own
    queue, whose slot the job now holds (app/scheduler.py)."""
    now = utcnow()
    allowed = [JobStatus.QUEUED]
    condition = (Job.id == job_id) & Job.status.in_(allowed) & Job.cancel_requested.is_(False)
    if kind != Device.GPU:
        condition = condition & (Job.device_request != Device.GPU)
    changed = rows_changed(
        session,
        update(Job)
        .where(condition)
        .values(
            status=JobStatus.RUNNING,
            started_at=func.coalesce(Job.started_at, now),
            attempts=Job.attempts + 1,
            worker_hostname=hostname,
            worker_device=device,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            dispatched_to=func.coalesce(queue, Job.dispatched_to),
            dispatched_at=func.coalesce(Job.dispatched_at, now),
        ),
    )
    if not changed:
        return None
    job = get_job(session, job_id=job_id)
    assert job is not None
    session.add(
        Attempt(job_id=job_id, number=job.attempts, hostname=hostname, device=device, started_at=utcnow())
    )
    return job


def is_cancel_requested(session: Session, *, job_id: str) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def renew_lease(session: Session, *, job_id: str, attempt: int, lease_seconds: float) -> bool:
    """The heartbeat: extends this attempt's lease; False if the job moved on without it."""
    return bool(
        rows_changed(
            session,
            update(Job)
            .where(current(job_id, attempt))
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds)),
        )
    )


def finish_job(
    session: Session,
    *,
    job_id: str,
    status: str,
    summary: dict[str, Any] | None = None,
    error_type: str | None = None,
    error_message: str | None = None,
    attempt: int | None = None,
) -> None:
    """Final status (fenced: raises LeaseLost if ``attempt`` is no longer the job's)."""
    assert status in FINAL_STATUSES
    now = utcnow()
    changed = rows_changed(
        session,
        update(Job)
        .where(current(job_id, attempt))
        .values(
            status=status,
            finished_at=now,
            summary=summary,
            error_type=error_type,
            error_message=error_message,
            lease_expires_at=None,
        ),
    )
    if not changed:
        raise LeaseLost(f"job {job_id} is no longer attempt {attempt}'s")
    session.execute(
        update(Attempt)
        .where(Attempt.job_id == job_id, Attempt.finished_at.is_(None))
        .values(finished_at=now, outcome=status)
    )
    announce(session, job_id=job_id)


#: The job statuses webhooks hear about (a pruned trial is news of its sweep's, not its own).
ANNOUNCED = {
    JobStatus.SUCCEEDED: "job.succeeded",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}


def announce(session: Session, *, job_id: str) -> None:
    """The job's end to its owner's webhooks, in the transaction that ended it."""
    job = get_job(session, job_id=job_id)
    if job is None or job.status not in ANNOUNCED:
        return
    error = {"type": job.error_type, "message": job.error_message} if job.error_type else None
    data = {
        "job": {
            "id": job.id,
            "name": job.name,
            "status": job.status,
            "summary": job.summary,
            "error": error,
            "sweep_id": job.sweep_id,
        }
    }
    store_webhooks.emit(session, owner=job.owner, event=ANNOUNCED[JobStatus(job.status)], data=data)


def list_attempts(session: Session, *, job_id: str) -> list[Attempt]:
    return list(session.scalars(select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number)))


def attempt_outcomes(session: Session, *, job_id: str) -> list[tuple[int, str, str | None]]:
    """``(number, hostname, outcome)`` of every attempt, oldest first."""
    rows = session.execute(
        select(Attempt.number, Attempt.hostname, Attempt.outcome)
        .where(Attempt.job_id == job_id)
        .order_by(Attempt.number)
    )
    return [(number, host, outcome) for number, host, outcome in rows]


def release_job(session: Session, *, job_id: str, attempt: int, outcome: str) -> bool:
    """Hands a running job back to the queue (worker stopping, lease expired); the
    attempt count stays, so the next claim is the next attempt. Fenced by ``attempt``."""
    now = utcnow()
    changed = rows_changed(
        session,
        update(Job)
        .where(current(job_id, attempt))
        .values(
            status=JobStatus.QUEUED,
            lease_expires_at=None,
            enqueued_at=now,
            dispatched_to=None,  # back in the queue: the scheduler sends it again
            dispatched_at=None,
        ),
    )
    session.execute(
        update(Attempt)
        .where(Attempt.job_id == job_id, Attempt.number == attempt, Attempt.finished_at.is_(None))
        .values(finished_at=now, outcome=outcome)
    )
    return bool(changed)


def expired_leases(session: Session, *, now: datetime) -> list[Job]:
    return list(
        session.scalars(select(Job).where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now))
    )


def stale_queued(session: Session, *, before: datetime) -> list[Job]:
    """Queued jobs last enqueued before ``before``: their message may be lost."""
    return list(
        session.scalars(
            select(Job).where(
                Job.status == JobStatus.QUEUED, func.coalesce(Job.enqueued_at, Job.created_at) < before
            )
        )
    )


def mark_enqueued(session: Session, *, job_id: str) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(enqueued_at=utcnow()))


def count_all_queued(session: Session) -> int:
    return int(
        session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)) or 0
    )


def count_queued(session: Session, *, owner: str) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Job).where(Job.owner == owner, Job.status == JobStatus.QUEUED)
        )
        or 0
    )


def any_queued(session: Session) -> bool:
    return session.execute(select(Job.id).where(Job.status == JobStatus.QUEUED).limit(1)).first() is not None


def queued_by_owner(session: Session) -> dict[str, int]:
    """Every owner's number of queued jobs, in one grouped read."""
    rows = session.execute(
        select(Job.owner, func.count()).where(Job.status == JobStatus.QUEUED).group_by(Job.owner)
    ).all()
    return {owner: int(n) for owner, n in rows}


def delete_job(session: Session, *, job: Job) -> None:
    """The job and everything stored about it (points, logs, attempts, artifact rows:
    the foreign keys cascade)."""
    session.delete(job)
