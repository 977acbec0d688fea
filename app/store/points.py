"""Metric points and log lines: the fenced ingest (COPY on PostgreSQL, executemany on
SQLite) and the reads the API pages and streams from.

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any, cast

import orjson
from sqlalchemy import Table, asc, desc, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.store._shared import current
from app.store.errors import LeaseLost
from app.store.tables import Job, LogLine, MetricPoint

__all__ = [
    "append_logs",
    "append_points",
    "last_epoch_point",
    "point_payload",
    "read_columns",
    "read_logs",
    "read_point_payloads",
    "read_points",
    "series_names",
]


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


def _fence_and_move(session: Session, job_id: str, attempt: int | None, values: dict[str, Any]) -> None:
    """The job's cursors moved on, if ``attempt`` still holds it; else LeaseLost. A Core
    update on the session's connection: the ORM's bulk-update path (and its session
    synchronisation, needless here: a writer loads no jobs) cost more than the rest of a
    small batch."""
    statement = update(cast(Table, Job.__table__)).where(current(job_id, attempt)).values(**values)
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
        last = next(p for p in reversed(points) if p["kind"] == "epoch")
        progress["progress_values"] = orjson.loads(orjson.dumps(last["values"]))  # NaN, ±inf: null
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
