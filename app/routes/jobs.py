"""/jobs: submit, list, read, cancel."""

from __future__ import annotations

import logging
import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.core.strictquery import StrictQueryRoute
from app.datasets import resolve_dataset
from app.deps import OwnerDep, SettingsDep, StoreDep, caller
from app.errors import Conflict, InvalidInput, TooManyRequests, UnsupportedMediaType, field_errors
from app.filterlang import MAX_FILTER_LENGTH, FilterError
from app.filterlang import parse as parse_filter
from app.idempotency import body_hash, create_once
from app.lookup import find_job
from app.routes.workers import NO_GPU_WORKER, waiting_notice
from app.scheduler import NO_GPU_REASON, dispatch
from app.schemas import AttemptPublic, JobPublic, JobsPublic, QueueInfo, json_response
from app.storage import open_storage
from app.store import jobs as store_jobs
from app.store import models as store_models
from app.store.tables import Job
from tfcore.spec import JobSpec
from tfjobs import FINAL_STATUSES, JobStatus

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=StrictQueryRoute)

JOB_SPEC_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobSpec"}}},
    }
}


def validate_spec(body: Any, *, context: dict[str, int]) -> JobSpec:
    """The spec, or 422 listing each field and the rule it breaks (FastAPI's error shape)."""
    if not isinstance(body, dict):
        raise InvalidInput(
            [{"loc": ["body"], "msg": "the job spec must be a JSON object", "type": "dict_type"}]
        )
    try:
        return JobSpec.model_validate(body, context=context)
    except ValidationError as err:
        raise InvalidInput(field_errors(err, known=JobSpec.model_fields)) from None


def require_json(content_type: str | None) -> None:
    """A job spec is JSON: anything else is 415, whatever it holds."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaType(
            f"send the job spec as JSON (Content-Type: application/json), not {media or 'no content type'}"
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    openapi_extra=JOB_SPEC_BODY,
    responses={
        409: {"description": "Idempotency-Key reused with another body"},
        415: {"description": "the body is not JSON"},
        429: {"description": "too many queued jobs"},
        422: {"description": "invalid spec"},
    },
)
def create_job(
    *,
    request: Request,
    body: Annotated[Any, Body()] = None,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    """Submit a training job.

    The body is a job spec (see the JobSpec schema; the minimal one is the example). The job
    is stored, queued for a worker, and returned at once with status `queued`. Send an
    `Idempotency-Key` header to make retries safe: the same key and body return the same
    job, the same key with another body is 409.
    """
    # The service's parts come from the app, not as dependencies: solving them is a large
    # share of this route's cost (app/deps.py).
    state, owner = request.app.state, caller(request)
    store, settings, celery = state.store, state.settings, state.celery
    require_json(request.headers.get("content-type"))
    spec = validate_spec(body, context=settings.spec_context())
    fingerprint = body_hash(spec.model_dump(mode="json", exclude_unset=True))

    def create(session: Session, key: str | None) -> str:
        nonlocal spec
        dataset = resolve_dataset(session, spec, owner=owner, settings=settings)
        if dataset is not None and spec.dataset != dataset.id:  # a name or prefix: store the id
            spec = spec.model_copy(update={"dataset": dataset.id})
        if store_jobs.count_queued(session, owner=owner) >= settings.max_queued_per_owner:
            raise TooManyRequests(
                f"you already have {settings.max_queued_per_owner} queued jobs (the "
                "limit); wait for some to start",
                retry_after=30,
            )
        return store_jobs.create_job(
            session,
            spec=spec.model_dump(mode="json"),
            epochs=spec.epochs,
            owner=owner,
            idempotency_key=key,
            request_hash=fingerprint,
        ).id

    job_id, created = create_once(
        store,
        owner=owner,
        key=idempotency_key,
        fingerprint=fingerprint,
        find=store_jobs.find_job_by_key,
        create=create,
        what="job spec",
    )
    if created:
        # The job is stored: it is the queue's now. The scheduler sends it when a slot is
        # free — at once if one is; a broker that is down only delays it (the dispatcher retries).
        try:
            dispatch(store, celery, settings)
        except Exception as err:
            log.warning(
                "job %s stored; the scheduler pass after it failed (%s): the dispatcher retries", job_id, err
            )
    with store.session() as session:
        job = store_jobs.get_job(session, job_id=job_id)
        assert job is not None
        (public,) = _public(session, request, [job])
        return json_response(public, status.HTTP_201_CREATED, {"Location": f"/jobs/{job_id}"})


def _public(session: Any, request: Request, jobs: list[Job]) -> list[JobPublic]:
    """The jobs as the API shows them; a waiting one with its place in the queue, and a
    notice when no worker is alive to take it (both read once for all of ``jobs``)."""
    public = [JobPublic.of(job) for job in jobs]
    waiting = [job.id for job in jobs if job.status == JobStatus.QUEUED]
    if not waiting:
        return public
    settings = request.app.state.settings
    places = request.app.state.queue_view.places(session, settings)
    notice = waiting_notice(session, settings)
    for i, job in enumerate(public):
        if job.status != JobStatus.QUEUED:
            continue
        place = places.get(job.id)
        queue = QueueInfo(position=place.position, ahead=place.ahead, reason=place.reason) if place else None
        stuck = notice or (NO_GPU_WORKER if place and place.reason == NO_GPU_REASON else None)
        public[i] = job.model_copy(update={"notice": stuck, "queue": queue})
    return public


@router.get("", response_model=JobsPublic)
def list_jobs(
    *,
    request: Request,
    store: StoreDep,
    owner: OwnerDep,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    tag: Annotated[
        str | None, Query(min_length=1, max_length=32, description="only jobs with this tag")
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=64, description="name contains (any case)")
    ] = None,
    filter: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_FILTER_LENGTH,
            description="a filter expression, e.g. `metrics.val_loss < 0.3 and tag = 'baseline'`",
        ),
    ] = None,
) -> JobsPublic:
    """List your jobs, newest first.

    Narrow with `filter`, one expression in the filter language (docs/api.md): comparisons
    `= != < <= > >= ~` (`~`: contains, any case) on spec fields by name
    (`learning_rate`, `model_type`, …), `metrics.NAME` (the job's final value),
    `status`, `name`, `tag`, `sweep`, `created` and `id`; `and`, `or`, `not`,
    parentheses; strings in single quotes, `null` for a missing value. A filter that does
    not parse is a 422 that says at which column. `status`, `tag` (whole tag) and `q`
    (a part of the name) still work and combine with it. Page with `limit` and the
    `next_cursor` of the previous page.
    """
    where = None
    if filter is not None:
        try:
            where = parse_filter(filter)
        except FilterError as err:
            raise InvalidInput([{"loc": ["query", "filter"], "msg": str(err), "type": "filter"}]) from None
    with store.session() as session:
        jobs, next_num = store_jobs.list_jobs(
            session,
            owner=owner,
            status=status,
            limit=limit,
            before=int(cursor) if cursor else None,
            tag=tag,
            q=q,
            where=where,
        )
        items = _public(session, request, jobs)
    return JobsPublic(items=items, next_cursor=str(next_num) if next_num is not None else None)


@router.get("/{job_id}", response_model=JobPublic, responses={404: {"description": "no such job"}})
def get_job(job_id: str, request: Request) -> Response:
    """One job: status, progress, summary, error, worker, and its attempt history.

    `{job_id}` may be any unique prefix of the id (at least 6 characters). A queued job
    with no live worker carries a `notice` saying so.
    """
    # Only the request: no dependencies to solve, one thread hop (see app/deps.py).
    with request.app.state.store.session() as session:
        job = find_job(session, job_id, caller(request))
        attempts = (
            store_jobs.list_attempts(session, job_id=job.id) if job.attempts else []
        )  # none yet: no read
        history = [AttemptPublic.of(a) for a in attempts]
        (public,) = _public(session, request, [job])
        return json_response(public.model_copy(update={"attempt_history": history}))


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: {"description": "no such job"},
        409: {"description": "the job is queued or running, or a registered model version uses it"},
    },
)
def delete_job(job_id: str, store: StoreDep, owner: OwnerDep, settings: SettingsDep) -> Response:
    """Deletes a finished job: its record, metrics, logs, attempts, artifacts and checkpoints."""
    with store.session() as session:  # the rows go first (committed here); then the files
        job = find_job(session, job_id, owner)
        if job.status not in FINAL_STATUSES:
            raise Conflict(f"job {job.id} is {job.status}; cancel it first, then delete it")
        backing = store_models.backing_versions(session, job_id=job.id)
        if backing:  # the versions serve this job's files: they would vanish with it
            names = ", ".join(f"{name} version {version}" for name, version in backing)
            raise Conflict(f"job {job.id} is registered as {names}: delete the version first")
        full_id = job.id
        store_jobs.delete_job(session, job=job)
    open_storage(settings, "artifacts").delete_prefix(full_id)  # artifacts and checkpoints
    shutil.rmtree(settings.artifacts_root / full_id, ignore_errors=True)  # this node's scratch
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses={404: {"description": "no such job"}, 409: {"description": "already finished"}},
)
def cancel_job(job_id: str, store: StoreDep, owner: OwnerDep) -> JobPublic:
    """Cancel a queued or running job.

    A queued job never starts; a running one stops within a few steps and keeps its
    last checkpoint. A finished job is 409.
    """
    with store.session() as session:
        job = find_job(session, job_id, owner)
        if job.status in FINAL_STATUSES:
            raise Conflict(f"job {job.id} has already finished ({job.status})")
        return JobPublic.of(store_jobs.request_cancel(session, job=job))
