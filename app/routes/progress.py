"""/jobs/{id}/metrics and /jobs/{id}/logs: cursor pages and live Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.auth import owner_of
from app.core.strictquery import StrictQueryRoute
from app.deps import OwnerDep, SettingsDep, StoreDep, caller
from app.errors import BadRequest, Unauthorized
from app.lookup import find_job
from app.schemas import LogLinePublic, LogsPage, MetricsPage
from app.series import columns
from app.store import points as store_points
from app.streams import Feeds, ReadRows

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["metrics"], route_class=StrictQueryRoute)

MAX_SEQ = 2**31 - 1  # seqs are 32-bit in the store
After = Annotated[int, Query(ge=0, le=MAX_SEQ, description="return items with seq > after")]
Limit = Annotated[int | None, Query(ge=1, le=10_000, description="page size (capped by settings)")]


@router.get(
    "/{job_id}/metrics",
    response_class=Response,
    responses={200: {"model": MetricsPage, "content": {"application/json": {}}}},
)
def read_metrics(job_id: str, request: Request, after: After = 0, limit: Limit = None) -> Response:
    """A page of points after the cursor, as a MetricsPage. The hot path of every dashboard:
    points are stored pre-serialized, so the page is assembled, not encoded."""
    settings = request.app.state.settings  # no dependencies to solve: see app/deps.py
    with request.app.state.store.session() as session:
        # Status first, points second: a final status guarantees the page below is complete.
        job = find_job(session, job_id, caller(request))
        rows = store_points.read_point_payloads(
            session, job_id=job.id, after=after, limit=min(limit or settings.page_limit, settings.page_limit)
        )
    head = json.dumps({"job_id": job.id, "status": job.status})[:-1]
    body = f'{head},"points":[{",".join(p for _, p in rows)}],"next":{rows[-1][0] if rows else after}}}'
    return Response(body, media_type="application/json")


SeriesNames = Annotated[
    str | None,
    Query(
        max_length=600,
        pattern=r"^[A-Za-z0-9_]{1,64}(,[A-Za-z0-9_]{1,64}){0,19}$",
        description="comma-separated metric names (default: every one)",
    ),
]


@router.get("/{job_id}/metrics/series", responses={404: {"description": "no such job"}})
def read_series(
    job_id: str,
    store: StoreDep,
    owner: OwnerDep,
    names: SeriesNames = None,
    kind: Annotated[Literal["epoch", "step"], Query(description="epoch or step points")] = "epoch",
    max_points: Annotated[int, Query(ge=2, le=100_000, description="per named series")] = 2000,
) -> dict[str, Any]:
    """The job's metric points as columns for a chart: `seq`, `epoch`, `step` and one list
    per metric in `values`, downsampled on the server (min/max buckets) to at most `max_points`
    per series, so a 100,000-point job draws at once. `last_seq` is the job's newest point
    when the read began: follow the stream from there (`after=last_seq`) and skip any point
    whose `seq` a column already holds — no gap, no duplicate."""
    with store.session() as session:
        job = find_job(session, job_id, owner)
        wanted = names.split(",") if names else store_points.series_names(session, job_id=job.id, kind=kind)
        chunks = store_points.read_columns(session, job_id=job.id, kind=kind, names=wanted)
    return {
        "job_id": job.id,
        "status": job.status,
        "kind": kind,
        **columns(chunks, names=wanted, max_points=max_points),
        "last_seq": job.last_seq,
    }


@router.get("/{job_id}/logs", response_model=LogsPage)
def read_logs(
    job_id: str,
    store: StoreDep,
    owner: OwnerDep,
    settings: SettingsDep,
    after: After = 0,
    limit: Limit = None,
) -> LogsPage:
    """A page of the job's log lines after the cursor `after` (each line has a `seq`).

    Read the next page with `after` set to the page's `next`; `status` comes first, so a
    final status means the page is complete.
    """
    with store.session() as session:
        job = find_job(session, job_id, owner)
        lines = store_points.read_logs(
            session, job_id=job.id, after=after, limit=min(limit or settings.page_limit, settings.page_limit)
        )
    return LogsPage(
        job_id=job.id,
        status=job.status,
        lines=[LogLinePublic.of(x) for x in lines],
        next=lines[-1].seq if lines else after,
    )


def _resume_from(last_event_id: str | None, after: int) -> int:
    """Where a reconnecting stream resumes: the larger of ``after`` and ``Last-Event-ID``,
    which must be what this API sent as ``id:`` — a small non-negative integer."""
    if last_event_id is None or not last_event_id.strip():
        return after
    value = last_event_id.strip()
    if not (value.isascii() and value.isdigit() and int(value) <= MAX_SEQ):
        raise BadRequest(f"Last-Event-ID must be an event id this stream sent (an integer 0..{MAX_SEQ})")
    return max(after, int(value))


def _log_payloads(session: Any, *, job_id: str, after: int, limit: int) -> list[tuple[int, str]]:
    return [
        (line.seq, LogLinePublic.of(line).model_dump_json())
        for line in store_points.read_logs(session, job_id=job_id, after=after, limit=limit)
    ]


async def _event_stream(
    request: Request, *, owner: str, job_id: str, kind: str, start: int, read: ReadRows
) -> StreamingResponse:
    """SSE of the job's rows after ``start`` from the process's shared feed. The ownership
    check and the stream count happen before the response starts; the stream itself holds
    no database connection (see app/streams.py)."""
    feeds: Feeds = request.app.state.feeds
    job_id = await feeds.check(job_id, owner, find_job)  # a prefix becomes the full id
    feeds.admit(owner)
    events = feeds.follow(
        owner=owner,
        job_id=job_id,
        kind=kind,
        event="point" if kind == "metrics" else "log",
        start=start,
        read=read,
        disconnected=request.is_disconnected,
        still_allowed=_token_still_valid(request, owner),
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _token_still_valid(request: Request, owner: str) -> Callable[[], bool] | None:
    """With auth on, a check the stream repeats: does the token it was opened with still
    name its owner? (None with auth off: there is no token to revoke.)"""
    if not request.app.state.settings.auth:
        return None
    store, authorization = request.app.state.store, request.headers.get("authorization")

    def check() -> bool:
        try:
            return owner_of(store, authorization) == owner
        except Unauthorized:
            return False

    return check


# What the header may hold, documented (the EventSource sends back an id this API sent);
# enforced by _resume_from, which answers 400 naming the header (an SSE client's error).
LastEventId = Annotated[
    str | None, Header(max_length=32, json_schema_extra={"pattern": r"^[ \t]*([0-9]{1,9})?[ \t]*$"})
]


# Async handlers without a session dependency: a dependency with `yield` would hold its
# database session (and connection) open for as long as the stream runs.
@router.get(
    "/{job_id}/metrics/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 429: {"description": "too many open streams"}},
)
async def stream_metrics(
    job_id: str, request: Request, owner: OwnerDep, after: After = 0, last_event_id: LastEventId = None
) -> StreamingResponse:
    """Follow the job's metric points live (Server-Sent Events).

    Each event is `id: <seq>`, `event: point`, `data: <point JSON>`; the stream ends with
    `event: end` once the job is final. Reconnect with `Last-Event-ID` (or `after`) to
    resume with no gap and no duplicate. 429 beyond TFJOBS_MAX_STREAMS_PER_OWNER streams.
    """
    start = _resume_from(last_event_id, after)
    return await _event_stream(
        request,
        owner=owner,
        job_id=job_id,
        kind="metrics",
        start=start,
        read=store_points.read_point_payloads,
    )


@router.get(
    "/{job_id}/logs/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 429: {"description": "too many open streams"}},
)
async def stream_logs(
    job_id: str, request: Request, owner: OwnerDep, after: After = 0, last_event_id: LastEventId = None
) -> StreamingResponse:
    """Follow the job's log lines live (Server-Sent Events), like the metrics stream.

    Each event is `id: <seq>`, `event: log`, `data: <line JSON>`; `event: end` closes it.
    """
    start = _resume_from(last_event_id, after)
    return await _event_stream(
        request, owner=owner, job_id=job_id, kind="logs", start=start, read=_log_payloads
    )
