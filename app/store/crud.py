"""Store access as plain keyword-only functions; every query of the service lives here.

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import CursorResult, Executable, Table, asc, delete, desc, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.store.errors import LeaseLost
from app.store.tables import (
    ApiToken,
    Artifact,
    Attempt,
    Dataset,
    Job,
    LogLine,
    MetricPoint,
    Sweep,
    Worker,
    utcnow,
)
from tfjobs import FINAL_STATUSES, JobStatus

__all__ = [
    "add_artifacts",
    "append_logs",
    "append_points",
    "claim_job",
    "count_queued",
    "create_token",
    "expired_leases",
    "count_jobs_by_status",
    "create_dataset",
    "create_job",
    "find_job_by_key",
    "finish_job",
    "get_artifact",
    "get_dataset",
    "get_job",
    "is_cancel_requested",
    "last_epoch_point",
    "mark_enqueued",
    "owner_of_token",
    "list_artifacts",
    "list_attempts",
    "datasets_named",
    "delete_job",
    "jobs_using_dataset",
    "ids_with_prefix",
    "list_datasets",
    "list_tokens",
    "any_live_worker",
    "live_workers",
    "prune_workers",
    "beat",
    "forget_worker",
    "revoke_tokens",
    "list_jobs",
    "read_columns",
    "read_logs",
    "point_payload",
    "read_point_payloads",
    "read_points",
    "release_job",
    "renew_lease",
    "request_cancel",
    "stale_queued",
]


def _rows_changed(session: Session, statement: Executable) -> int:
    """Rows an UPDATE/DELETE changed (DML returns a CursorResult; the annotation says Result)."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


def new_id() -> str:
    return uuid.uuid4().hex


# --- jobs ------------------------------------------------------------------------


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
        name=spec.get("name"),
        tags="," + ",".join(spec["tags"]) + "," if spec.get("tags") else None,
        priority=int(spec.get("priority") or 0),
        device_request=spec.get("device") or "auto",
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
) -> tuple[list[Job], int | None]:
    """Newest first; returns the page and the cursor for the next one (None at the end).
    ``tag``: jobs with that tag; ``q``: jobs whose name contains it (any case)."""
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
        changed = _rows_changed(
            session,
            update(Job)
            .where(Job.id == job.id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.CANCELLED, cancel_requested=True, finished_at=utcnow()),
        )
        if changed:
            session.refresh(job)
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
    kind: str = "cpu",
) -> Job | None:
    """Moves a queued job to running for this worker, with a lease; None if it is not
    queued any more (running elsewhere, finished, cancelled: a duplicate message), or it
    asked for a GPU and this worker (``kind``) has none. ``queue``: the worker's own
    queue, whose slot the job now holds (app/scheduler.py)."""
    now = utcnow()
    allowed = [JobStatus.QUEUED]
    condition = (Job.id == job_id) & Job.status.in_(allowed) & Job.cancel_requested.is_(False)
    if kind != "gpu":
        condition = condition & (Job.device_request != "gpu")
    changed = _rows_changed(
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


def take_back(session: Session, *, job_id: str, queue: str | None) -> None:
    """A queued job sent to ``queue`` goes back to the scheduler (that worker will not run it)."""
    condition = (Job.id == job_id) & (Job.status == JobStatus.QUEUED)
    if queue is not None:
        condition = condition & (Job.dispatched_to == queue)
    session.execute(update(Job).where(condition).values(dispatched_to=None, dispatched_at=None))


def is_cancel_requested(session: Session, *, job_id: str) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def _current(job_id: str, attempt: int | None) -> Any:
    """WHERE clause for "this job, and still this attempt's" (no fencing when attempt is None)."""
    clause = Job.id == job_id
    if attempt is not None:
        clause = clause & (Job.attempts == attempt) & (Job.status == JobStatus.RUNNING)
    return clause


def renew_lease(session: Session, *, job_id: str, attempt: int, lease_seconds: float) -> bool:
    """The heartbeat: extends this attempt's lease; False if the job moved on without it."""
    return bool(
        _rows_changed(
            session,
            update(Job)
            .where(_current(job_id, attempt))
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
    changed = _rows_changed(
        session,
        update(Job)
        .where(_current(job_id, attempt))
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
    changed = _rows_changed(
        session,
        update(Job)
        .where(_current(job_id, attempt))
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


def last_epoch_point(session: Session, *, job_id: str) -> int:
    """The highest epoch with a stored epoch point (0 if none)."""
    return int(
        session.scalar(
            select(func.max(MetricPoint.epoch)).where(
                MetricPoint.job_id == job_id, MetricPoint.kind == "epoch"
            )
        )
        or 0
    )


# --- metric points and log lines --------------------------------------------------


def _fence_and_move(session: Session, job_id: str, attempt: int | None, values: dict[str, Any]) -> None:
    """The job's cursors moved on, if ``attempt`` still holds it; else LeaseLost. A Core
    update on the session's connection: the ORM's bulk-update path (and its session
    synchronisation, needless here: a writer loads no jobs) cost more than the rest of a
    small batch."""
    statement = update(cast(Table, Job.__table__)).where(_current(job_id, attempt)).values(**values)
    if not session.connection().execute(statement).rowcount:
        raise LeaseLost(f"job {job_id} is no longer attempt {attempt}'s")


def append_points(
    session: Session, *, job_id: str, points: Sequence[dict[str, Any]], attempt: int | None = None
) -> None:
    """Stores points whose ``seq`` the caller numbered, and moves the job's progress on.
    Fenced: with ``attempt``, raises LeaseLost (and stores nothing) for a stale attempt."""
    if not points:
        return
    progress: dict[str, Any] = {"last_seq": points[-1]["seq"], "progress_step": points[-1]["step"]}
    finished_epochs = [p["epoch"] for p in points if p["kind"] == "epoch"]
    if finished_epochs:
        progress["progress_epoch"] = max(finished_epochs)
    _fence_and_move(session, job_id, attempt, progress)
    connection: Any = session.connection()
    rows = _point_rows(job_id, points)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        if connection.dialect.name == "postgresql":
            # COPY's text format written whole: psycopg's write_row costs more per row
            # than the rest of the row's encoding together.
            with cursor.copy(_COPY_POINTS) as copy:
                copy.write(
                    "".join(
                        f"{job}\t{seq}\t{kind}\t{epoch}\t{step}\t{stamp}\t"
                        f"{_copy_text(values)}\t{_copy_text(payload)}\n"
                        for job, seq, kind, epoch, step, _, stamp, values, payload in rows
                    )
                )
        else:  # SQLite stores times as naive UTC text, the way SQLAlchemy reads them back
            cursor.executemany(
                _INSERT_POINTS,
                (
                    (*row[:5], row[5].replace(tzinfo=None).isoformat(" ", "microseconds"), *row[7:])
                    for row in rows
                ),
            )
    except connection.dialect.dbapi.IntegrityError as err:  # as the ORM says it: a seq stored twice
        statement = _COPY_POINTS if connection.dialect.name == "postgresql" else _INSERT_POINTS
        raise IntegrityError(statement, None, err) from err
    finally:
        cursor.close()


_COLUMNS = 'job_id, seq, kind, epoch, step, "time", "values", payload'
_COPY_POINTS = f"COPY metric_points ({_COLUMNS}) FROM STDIN"
_INSERT_POINTS = f"INSERT INTO metric_points ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def _point_rows(job_id: str, points: Sequence[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """The batch's rows for the driver, bypassing the ORM's per-row work: each point's
    values encoded once by orjson (non-finite as null: valid JSON for the databases' own
    JSON functions) and spliced into its payload, the contract's Point JSON (byte for byte
    what :func:`point_payload` gives; a test holds them to it). One COPY on PostgreSQL,
    one executemany on SQLite, on the session's connection: same transaction, after the
    fencing update."""
    for p in points:
        values = orjson.dumps(p["values"]).decode()  # NaN and ±inf become null
        at = p["time"].astimezone(UTC)
        stamp = at.isoformat().replace("+00:00", "Z")
        payload = (
            f'{{"seq":{p["seq"]},"kind":"{p["kind"]}","epoch":{p["epoch"]},"step":{p["step"]},'
            f'"time":"{stamp}","values":{values}}}'
        )
        yield (job_id, p["seq"], p["kind"], p["epoch"], p["step"], at, stamp, values, payload)


def _copy_text(text: str) -> str:
    """A field for COPY's text format: backslash, tab and line breaks escaped."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


_PAGE_QUERY = text(
    "SELECT seq, payload FROM metric_points WHERE job_id = :job_id AND seq > :after ORDER BY seq LIMIT :limit"
)


def point_payload(point: dict[str, Any]) -> str:
    """The contract's Point as compact JSON (RFC 3339 UTC time, non-finite values as null)."""
    return orjson.dumps(
        {
            "seq": point["seq"],
            "kind": point["kind"],
            "epoch": point["epoch"],
            "step": point["step"],
            "time": point["time"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "values": point["values"],
        }
    ).decode()


def read_point_payloads(session: Session, *, job_id: str, after: int, limit: int) -> list[tuple[int, str]]:
    """``(seq, payload)`` after a cursor: one primary-key range scan, no ORM objects."""
    # A plain-text query: no ORM or type processing on the hot path (~10x fewer µs per row).
    rows = session.execute(_PAGE_QUERY, {"job_id": job_id, "after": after, "limit": limit}).all()
    if any(payload is None for _, payload in rows):  # stored before payloads existed
        full = {p.seq: p for p in read_points(session, job_id=job_id, after=after, limit=limit)}
        return [
            (
                seq,
                payload
                or point_payload(
                    {c: getattr(full[seq], c) for c in ("seq", "kind", "epoch", "step", "time", "values")}
                ),
            )
            for seq, payload in rows
        ]
    return [(seq, payload) for seq, payload in rows]


def append_logs(
    session: Session, *, job_id: str, lines: Sequence[dict[str, Any]], attempt: int | None = None
) -> None:
    if not lines:
        return
    _fence_and_move(session, job_id, attempt, {"last_log_seq": lines[-1]["seq"]})
    session.execute(cast(Table, LogLine.__table__).insert(), [{"job_id": job_id, **line} for line in lines])


def read_points(session: Session, *, job_id: str, after: int, limit: int) -> list[MetricPoint]:
    query = (
        select(MetricPoint)
        .where(MetricPoint.job_id == job_id, MetricPoint.seq > after)
        .order_by(MetricPoint.seq)
        .limit(limit)
    )
    return list(session.scalars(query))


def series_names(session: Session, *, job_id: str, kind: str) -> list[str]:
    """The metric names of one kind of point: the keys of its first and last point (a job
    reports the same names all along; the last adds any that started late)."""
    ends = [
        session.scalar(
            select(MetricPoint.values)
            .where(MetricPoint.job_id == job_id, MetricPoint.kind == kind)
            .order_by(order(MetricPoint.seq))
            .limit(1)
        )
        for order in (asc, desc)
    ]
    return list(dict.fromkeys(name for values in ends if values for name in values))


def read_columns(
    session: Session, *, job_id: str, kind: str, names: Sequence[str], chunk: int = 8192
) -> Iterator[list[tuple[Any, ...]]]:
    """``(seq, epoch, step, *values)`` rows of one kind of point, in seq order, ``chunk`` at
    a time, with each named value pulled out by the database (``json_extract`` on SQLite,
    ``->>`` on PostgreSQL; null where a point lacks it): no row's JSON is parsed in Python,
    and no more than a chunk of rows is held at once (a 100,000-point read would otherwise
    leave the API tens of MB larger)."""
    query = (
        select(
            MetricPoint.seq,
            MetricPoint.epoch,
            MetricPoint.step,
            *(MetricPoint.values[name].as_float() for name in names),
        )
        .where(MetricPoint.job_id == job_id, MetricPoint.kind == kind)
        .order_by(MetricPoint.seq)
    )
    # Run on the driver's own cursor: SQLAlchemy's per-row result processing would double
    # the time of a 100,000-row read. The names are [A-Za-z0-9_] (the route's pattern)
    # and the ids are ours, so the statement is compiled with its values inlined.
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk):
            yield list(rows)
    finally:
        cursor.close()


def read_logs(session: Session, *, job_id: str, after: int, limit: int) -> list[LogLine]:
    query = (
        select(LogLine)
        .where(LogLine.job_id == job_id, LogLine.seq > after)
        .order_by(LogLine.seq)
        .limit(limit)
    )
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


def ids_with_prefix(
    session: Session, table: type[Job] | type[Dataset] | type[Sweep], *, owner: str, prefix: str
) -> list[str]:
    """The owner's ids that start with ``prefix`` (lowercase hex only: no LIKE wildcards)."""
    assert all(c in "0123456789abcdef" for c in prefix)
    query = (
        select(table.id).where(table.owner == owner, table.id.startswith(prefix)).order_by(table.id).limit(10)
    )
    return list(session.scalars(query))


def datasets_named(session: Session, *, owner: str, name: str) -> list[Dataset]:
    return list(
        session.scalars(select(Dataset).where(Dataset.owner == owner, Dataset.name == name).limit(10))
    )


def delete_job(session: Session, *, job: Job) -> None:
    """The job and everything stored about it (points, logs, attempts, artifact rows:
    the foreign keys cascade)."""
    session.delete(job)


def jobs_using_dataset(session: Session, *, dataset_id: str) -> list[str]:
    """Queued or running jobs whose spec names the dataset (they still need its file)."""
    active = select(Job.id, Job.spec).where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
    return [job_id for job_id, spec in session.execute(active) if (spec or {}).get("dataset") == dataset_id]


def list_datasets(session: Session, *, owner: str | None = None) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.created_at.desc())
    if owner is not None:
        query = query.where(Dataset.owner == owner)
    return list(session.scalars(query))


def add_artifacts(session: Session, *, job_id: str, files: Iterable[dict[str, Any]]) -> None:
    session.add_all(Artifact(job_id=job_id, **f) for f in files)


def list_artifacts(session: Session, *, job_id: str) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.name)))


def get_artifact(session: Session, *, job_id: str, name: str) -> Artifact | None:
    return session.get(Artifact, (job_id, name))


# --- API tokens ------------------------------------------------------------------------

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


# --- workers -------------------------------------------------------------------------


def beat(
    session: Session,
    *,
    name: str,
    hostname: str,
    pid: int,
    device: str,
    current_job: str | None,
    queue: str | None = None,
    kind: str = "cpu",
) -> None:
    """A worker's heartbeat: creates its row or refreshes ``last_seen`` and its job."""
    now = utcnow()
    if not _rows_changed(
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


def live_workers(session: Session, *, since: datetime) -> list[Worker]:
    """Workers heard from since ``since``, by host and pid. A read: requests call it."""
    return list(
        session.scalars(select(Worker).where(Worker.last_seen >= since).order_by(Worker.hostname, Worker.pid))
    )


def any_live_worker(session: Session, *, since: datetime) -> bool:
    return session.execute(select(Worker.name).where(Worker.last_seen >= since).limit(1)).first() is not None


def prune_workers(session: Session, *, before: datetime) -> int:
    """Forget workers silent since ``before`` (the reconciler's job, not a request's: a
    delete in a read would take SQLite's write lock on every GET)."""
    return cast(CursorResult[Any], session.execute(delete(Worker).where(Worker.last_seen < before))).rowcount
