"""/jobs/{id}/metrics and /jobs/{id}/logs: cursor pages and live Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.deps import OwnerDep, SessionDep, SettingsDep, StoreDep
from app.routes.jobs import find_job
from app.schemas import LogLinePublic, LogsPage, MetricsPage
from app.store import crud
from tfjobs import FINAL_STATUSES, JobStatus

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["metrics"])

After = Annotated[int, Query(ge=0, le=2**31 - 1, description="return items with seq > after")]
Limit = Annotated[int | None, Query(ge=1, le=10_000, description="page size (capped by settings)")]
POLL_SECONDS = 0.2  # how often a stream looks for new rows: well inside the 1 s visibility goal
KEEPALIVE_SECONDS = 15.0


@router.get(
    "/{job_id}/metrics",
    response_class=Response,
    responses={200: {"model": MetricsPage, "content": {"application/json": {}}}},
)
def read_metrics(
    job_id: str,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    after: After = 0,
    limit: Limit = None,
) -> Response:
    """A page of points after the cursor, as a MetricsPage. The hot path of every dashboard:
    points are stored pre-serialized, so the page is assembled, not encoded."""
    # Status first, points second: a final status guarantees the page below is complete.
    job = find_job(session, job_id, owner)
    rows = crud.read_point_payloads(
        session, job_id=job_id, after=after, limit=min(limit or settings.page_limit, settings.page_limit)
    )
    head = json.dumps({"job_id": job_id, "status": job.status})[:-1]
    body = f'{head},"points":[{",".join(p for _, p in rows)}],"next":{rows[-1][0] if rows else after}}}'
    return Response(body, media_type="application/json")


@router.get("/{job_id}/logs", response_model=LogsPage)
def read_logs(
    job_id: str,
    session: SessionDep,
    owner: OwnerDep,
    settings: SettingsDep,
    after: After = 0,
    limit: Limit = None,
) -> LogsPage:
    job = find_job(session, job_id, owner)
    lines = crud.read_logs(
        session, job_id=job_id, after=after, limit=min(limit or settings.page_limit, settings.page_limit)
    )
    return LogsPage(
        job_id=job_id,
        status=job.status,
        lines=[LogLinePublic.of(x) for x in lines],
        next=lines[-1].seq if lines else after,
    )


def _resume_from(last_event_id: str | None, after: int) -> int:
    if last_event_id and last_event_id.strip().isdigit():
        return max(after, int(last_event_id.strip()))
    return after


def _log_payloads(session: Any, *, job_id: str, after: int, limit: int) -> list[tuple[int, str]]:
    return [
        (line.seq, LogLinePublic.of(line).model_dump_json())
        for line in crud.read_logs(session, job_id=job_id, after=after, limit=limit)
    ]


def _event_stream(
    request: Request,
    store: Any,
    *,
    job_id: str,
    start: int,
    page: int,
    read: Callable[..., list[tuple[int, str]]],
    event: str,
) -> StreamingResponse:
    """SSE of ``(seq, json)`` rows after ``start``; ``id:`` is the seq, so reconnects resume
    exactly where they left off."""

    def poll(cursor: int) -> tuple[str, list[tuple[int, str]]]:
        # Status before rows, as in the pages: a final status means nothing is left to read.
        with store.session() as session:
            job = crud.get_job(session, job_id=job_id)
            status = job.status if job else JobStatus.CANCELLED
            return status, read(session, job_id=job_id, after=cursor, limit=page)

    async def events() -> AsyncIterator[str]:
        cursor, idle = start, 0.0
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            status, rows = await run_in_threadpool(poll, cursor)
            for seq, data in rows:
                cursor = seq
                yield f"id: {seq}\nevent: {event}\ndata: {data}\n\n"
            if rows:
                idle = 0.0
                continue
            if status in FINAL_STATUSES:
                yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
                return
            await asyncio.sleep(POLL_SECONDS)
            idle += POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/{job_id}/metrics/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def stream_metrics(
    job_id: str,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    owner: OwnerDep,
    settings: SettingsDep,
    after: After = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    find_job(session, job_id, owner)
    return _event_stream(
        request,
        store,
        job_id=job_id,
        start=_resume_from(last_event_id, after),
        page=settings.page_limit,
        read=crud.read_point_payloads,
        event="point",
    )


@router.get(
    "/{job_id}/logs/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def stream_logs(
    job_id: str,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    owner: OwnerDep,
    settings: SettingsDep,
    after: After = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    find_job(session, job_id, owner)
    return _event_stream(
        request,
        store,
        job_id=job_id,
        start=_resume_from(last_event_id, after),
        page=settings.page_limit,
        read=_log_payloads,
        event="log",
    )
