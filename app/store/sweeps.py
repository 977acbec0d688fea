"""The store's side of sweeps: the sweep rows, their trials (jobs with a ``sweep_id``),
the advance lease, and each trial's value (its last epoch's metric)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from app.store import webhooks as store_webhooks
from app.store._shared import rows_changed
from app.store.ids import new_id
from app.store.tables import Job, MetricPoint, Sweep, utcnow
from tfjobs import JobStatus, SweepStatus

__all__ = [
    "active_sweep_ids",
    "create_sweep",
    "find_sweep_by_key",
    "finish_sweep",
    "get_sweep",
    "epoch_curves",
    "last_epoch_values",
    "list_sweeps",
    "mark_running",
    "release_advance",
    "take_advance",
    "trials_of",
]


def create_sweep(session: Session, **fields: Any) -> Sweep:
    sweep = Sweep(id=new_id(), status=SweepStatus.QUEUED, created_at=utcnow(), **fields)
    session.add(sweep)
    session.flush()
    return sweep


def get_sweep(session: Session, *, sweep_id: str, owner: str | None = None) -> Sweep | None:
    query = select(Sweep).where(Sweep.id == sweep_id)
    if owner is not None:
        query = query.where(Sweep.owner == owner)
    return session.scalar(query)


def find_sweep_by_key(session: Session, *, owner: str, idempotency_key: str) -> Sweep | None:
    return session.scalar(select(Sweep).where(Sweep.owner == owner, Sweep.idempotency_key == idempotency_key))


def list_sweeps(
    session: Session, *, owner: str, before: int | None = None, limit: int = 50
) -> tuple[list[Sweep], int | None]:
    """Newest first; the page and the cursor of the next one (None at the end)."""
    query = select(Sweep).where(Sweep.owner == owner).order_by(Sweep.num.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(Sweep.num < before)
    sweeps = list(session.scalars(query))
    if len(sweeps) > limit:
        return sweeps[:limit], sweeps[limit - 1].num
    return sweeps, None


def active_sweep_ids(session: Session) -> list[str]:
    return list(
        session.scalars(select(Sweep.id).where(Sweep.status.in_([SweepStatus.QUEUED, SweepStatus.RUNNING])))
    )


def active_sweeps_using(session: Session, *, dataset_id: str) -> list[str]:
    """Unfinished sweeps whose trials train on the dataset (their next trials need its file)."""
    rows = session.execute(
        select(Sweep.id, Sweep.spec).where(Sweep.status.in_([SweepStatus.QUEUED, SweepStatus.RUNNING]))
    )
    return [sweep_id for sweep_id, spec in rows if (spec or {}).get("dataset") == dataset_id]


def count_active(session: Session, *, owner: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Sweep)
            .where(Sweep.owner == owner, Sweep.status.in_([SweepStatus.QUEUED, SweepStatus.RUNNING]))
        )
        or 0
    )


def active_sweep_states(session: Session) -> dict[str, tuple[str, tuple[tuple[str, int], ...]]]:
    """For each unfinished sweep in one grouped read: its owner, and how many of its trials
    are in each status — what a pass compares to skip sweeps with nothing new."""
    open_sweeps = dict(
        session.execute(
            select(Sweep.id, Sweep.owner).where(Sweep.status.in_([SweepStatus.QUEUED, SweepStatus.RUNNING]))
        ).all()
    )
    counts: dict[str, list[tuple[str, int]]] = {sweep_id: [] for sweep_id in open_sweeps}
    rows = session.execute(
        select(Job.sweep_id, Job.status, func.count())
        .join(Sweep, Sweep.id == Job.sweep_id)
        .where(Sweep.status.in_([SweepStatus.QUEUED, SweepStatus.RUNNING]))
        .group_by(Job.sweep_id, Job.status)
    ).all()
    for sweep_id, status, n in rows:
        if sweep_id in counts:
            counts[sweep_id].append((status, n))
    return {sweep_id: (open_sweeps[sweep_id], tuple(sorted(c))) for sweep_id, c in counts.items()}


def take_advance(session: Session, *, sweep_id: str, seconds: float) -> bool:
    """True if this caller may advance the sweep now (nobody else holds it, or their hold
    ran out: a process killed mid-advance leaves it for the next one)."""
    now = utcnow()
    return bool(
        rows_changed(
            session,
            update(Sweep)
            .where(Sweep.id == sweep_id, or_(Sweep.advancing_until.is_(None), Sweep.advancing_until < now))
            .values(advancing_until=now + timedelta(seconds=seconds)),
        )
    )


def release_advance(session: Session, *, sweep_id: str) -> None:
    session.execute(update(Sweep).where(Sweep.id == sweep_id).values(advancing_until=None))


def trials_of(session: Session, *, sweep_id: str) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.trial_number)))


def mark_running(session: Session, *, sweep_id: str) -> None:
    session.execute(
        update(Sweep)
        .where(Sweep.id == sweep_id, Sweep.status == SweepStatus.QUEUED)
        .values(status=SweepStatus.RUNNING)
    )


def hold_open(session: Session, *, sweep_id: str) -> bool:
    """True, with the sweep's row locked until the transaction ends, if it is still open;
    False once it has ended. A trial is created only under this hold, so a cancel either
    commits first (and no trial is made after it) or waits, and then sees the new trial."""
    return bool(
        rows_changed(
            session,
            update(Sweep)
            .where(Sweep.id == sweep_id, Sweep.status.in_([SweepStatus.QUEUED, SweepStatus.RUNNING]))
            .values(status=Sweep.status),
        )
    )


def stray_trials(session: Session) -> list[Job]:
    """Unfinished trials of sweeps that have ended (a cancel that raced their creation)."""
    return list(
        session.scalars(
            select(Job)
            .join(Sweep, Sweep.id == Job.sweep_id)
            .where(
                Sweep.status.not_in([SweepStatus.QUEUED, SweepStatus.RUNNING]),
                Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                Job.cancel_requested.is_(False),
            )
        )
    )


def finish_sweep(session: Session, *, sweep_id: str, status: SweepStatus) -> bool:
    """The sweep's final status, once (False if it already had one); its owner's webhooks
    hear ``sweep.finished`` in the same transaction."""
    changed = bool(
        rows_changed(
            session,
            update(Sweep)
            .where(Sweep.id == sweep_id, Sweep.status.in_([SweepStatus.QUEUED, SweepStatus.RUNNING]))
            .values(status=status, finished_at=utcnow()),
        )
    )
    sweep = get_sweep(session, sweep_id=sweep_id) if changed else None
    if sweep is not None:
        data = {"sweep": {"id": sweep.id, "status": status.value, "metric": sweep.metric, "mode": sweep.mode}}
        store_webhooks.emit(session, owner=sweep.owner, event="sweep.finished", data=data)
    return changed


def last_epoch_values(session: Session, *, job_ids: Iterable[str], metric: str) -> dict[str, float | None]:
    """Each job's ``metric`` at its last epoch point (None if it has none, or lacks it):
    one read of the values the ingest keeps on the job, and the points only for a job
    that has none there (stored before migration 0011)."""
    wanted = list(job_ids)
    rows = session.execute(select(Job.id, Job.progress_values, Job.progress_epoch).where(Job.id.in_(wanted)))
    kept: dict[str, tuple[dict[str, Any] | None, int]] = {
        job_id: (last, epochs) for job_id, last, epochs in rows
    }
    values: dict[str, float | None] = {}
    for job_id in wanted:
        last, epochs = kept.get(job_id, (None, 0))
        if last is None and epochs:
            last = session.scalar(
                select(MetricPoint.values)
                .where(MetricPoint.job_id == job_id, MetricPoint.kind == "epoch")
                .order_by(MetricPoint.seq.desc())
                .limit(1)
            )
        value = (last or {}).get(metric)
        values[job_id] = float(value) if isinstance(value, int | float) else None
    return values


def epoch_curves(
    session: Session, *, job_ids: Iterable[str], metric: str
) -> dict[str, tuple[list[int], list[float | None]]]:
    """Each job's ``metric`` at every epoch, in one read for all of them (a sweep's
    page draws every trial's curve): job id -> (epochs, values)."""
    curves: dict[str, tuple[list[int], list[float | None]]] = {}
    wanted = list(job_ids)
    if not wanted:
        return curves
    rows = session.execute(
        select(MetricPoint.job_id, MetricPoint.epoch, MetricPoint.values)
        .where(MetricPoint.job_id.in_(wanted), MetricPoint.kind == "epoch")
        .order_by(MetricPoint.job_id, MetricPoint.seq)
    )
    for job_id, epoch, values in rows:
        epochs, column = curves.setdefault(job_id, ([], []))
        value = (values or {}).get(metric)
        epochs.append(epoch)
        column.append(float(value) if isinstance(value, int | float) else None)
    return curves
