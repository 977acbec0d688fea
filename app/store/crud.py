"""Store access as plain keyword-only functions; every query of the service lives here.

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.store.tables import Artifact, Attempt, Dataset, Job, LogLine, MetricPoint, utcnow

__all__ = [
    "FINAL_STATUSES",
    "add_artifacts",
    "append_logs",
    "append_points",
    "claim_job",
    "count_jobs_by_status",
    "create_dataset",
    "create_job",
    "find_job_by_key",
    "finish_job",
    "get_artifact",
    "get_dataset",
    "get_job",
    "is_cancel_requested",
    "list_artifacts",
    "list_datasets",
    "list_jobs",
    "read_logs",
    "read_points",
    "request_cancel",
]

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


def new_id() -> str:
    return uuid.uuid4().hex


# --- jobs ------------------------------------------------------------------------

def create_job(session: Session, *, spec: dict[str, Any], epochs: int, owner: str = "local",
               idempotency_key: str | None = None, request_hash: str | None = None) -> Job:
    job = Job(id=new_id(), owner=owner, status="queued", spec=spec, progress_epochs=epochs,
              created_at=utcnow(), idempotency_key=idempotency_key, request_hash=request_hash)
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: str, owner: str | None = None) -> Job | None:
    query = select(Job).where(Job.id == job_id)
    if owner is not None:
        query = query.where(Job.owner == owner)
    return session.scalar(query)


def find_job_by_key(session: Session, *, owner: str, idempotency_key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.owner == owner,
                                            Job.idempotency_key == idempotency_key))


def list_jobs(session: Session, *, owner: str | None = None, status: str | None = None,
              before: int | None = None, limit: int = 50) -> tuple[list[Job], int | None]:
    """Newest first; returns the page and the cursor for the next one (None at the end)."""
    query = select(Job).order_by(Job.num.desc()).limit(limit + 1)
    if owner is not None:
        query = query.where(Job.owner == owner)
    if status is not None:
        query = query.where(Job.status == status)
    if before is not None:
        query = query.where(Job.num < before)
    jobs = list(session.scalars(query))
    if len(jobs) > limit:
        return jobs[:limit], jobs[limit - 1].num
    return jobs, None


def count_jobs_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: count for status, count in rows}


def request_cancel(session: Session, *, job: Job) -> Job:
    """A queued job is cancelled at once (it will never start); a running one is flagged."""
    if job.status == "queued":
        # Conditional update: a worker may be claiming this very job right now.
        changed = session.execute(
            update(Job).where(Job.id == job.id, Job.status == "queued")
            .values(status="cancelled", cancel_requested=True, finished_at=utcnow())).rowcount
        if changed:
            session.refresh(job)
            return job
        session.refresh(job)
    if job.status == "running":
        job.cancel_requested = True
    return job


def claim_job(session: Session, *, job_id: str, hostname: str, device: str) -> Job | None:
    """Moves a queued job to running for this worker; None if it is not queued any more."""
    changed = session.execute(
        update(Job).where(Job.id == job_id, Job.status == "queued", Job.cancel_requested.is_(False))
        .values(status="running", started_at=utcnow(), attempts=Job.attempts + 1,
                worker_hostname=hostname, worker_device=device)).rowcount
    if not changed:
        return None
    job = get_job(session, job_id=job_id)
    assert job is not None
    session.add(Attempt(job_id=job_id, number=job.attempts, hostname=hostname, device=device,
                        started_at=utcnow()))
    return job


def is_cancel_requested(session: Session, *, job_id: str) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def finish_job(session: Session, *, job_id: str, status: str, summary: dict[str, Any] | None = None,
               error_type: str | None = None, error_message: str | None = None) -> None:
    assert status in FINAL_STATUSES
    now = utcnow()
    session.execute(update(Job).where(Job.id == job_id).values(
        status=status, finished_at=now, summary=summary, error_type=error_type,
        error_message=error_message))
    session.execute(update(Attempt).where(Attempt.job_id == job_id, Attempt.finished_at.is_(None))
                    .values(finished_at=now, outcome=status))


# --- metric points and log lines --------------------------------------------------

def append_points(session: Session, *, job_id: str, points: Sequence[dict[str, Any]]) -> None:
    """Stores points whose ``seq`` the caller numbered, and moves the job's progress on."""
    if not points:
        return
    session.execute(MetricPoint.__table__.insert(), [{"job_id": job_id, **p} for p in points])
    progress: dict[str, Any] = {"last_seq": points[-1]["seq"], "progress_step": points[-1]["step"]}
    finished_epochs = [p["epoch"] for p in points if p["kind"] == "epoch"]
    if finished_epochs:
        progress["progress_epoch"] = max(finished_epochs)
    session.execute(update(Job).where(Job.id == job_id).values(**progress))


def append_logs(session: Session, *, job_id: str, lines: Sequence[dict[str, Any]]) -> None:
    if not lines:
        return
    session.execute(LogLine.__table__.insert(), [{"job_id": job_id, **line} for line in lines])
    session.execute(update(Job).where(Job.id == job_id).values(last_log_seq=lines[-1]["seq"]))


def read_points(session: Session, *, job_id: str, after: int, limit: int) -> list[MetricPoint]:
    query = (select(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.seq > after)
             .order_by(MetricPoint.seq).limit(limit))
    return list(session.scalars(query))


def read_logs(session: Session, *, job_id: str, after: int, limit: int) -> list[LogLine]:
    query = (select(LogLine).where(LogLine.job_id == job_id, LogLine.seq > after)
             .order_by(LogLine.seq).limit(limit))
    return list(session.scalars(query))


# --- datasets and artifacts ---------------------------------------------------------

def create_dataset(session: Session, **fields: Any) -> Dataset:
    dataset = Dataset(created_at=utcnow(), **fields)
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, *, dataset_id: str, owner: str | None = None) -> Dataset | None:
    query = select(Dataset).where(Dataset.id == dataset_id)
    if owner is not None:
        query = query.where(Dataset.owner == owner)
    return session.scalar(query)


def list_datasets(session: Session, *, owner: str | None = None) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.created_at.desc())
    if owner is not None:
        query = query.where(Dataset.owner == owner)
    return list(session.scalars(query))


def add_artifacts(session: Session, *, job_id: str, files: Iterable[dict[str, Any]]) -> None:
    session.add_all(Artifact(job_id=job_id, **f) for f in files)


def list_artifacts(session: Session, *, job_id: str) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(Artifact.job_id == job_id)
                                .order_by(Artifact.name)))


def get_artifact(session: Session, *, job_id: str, name: str) -> Artifact | None:
    return session.get(Artifact, (job_id, name))

