"""/sweeps: hyperparameter searches whose trials are jobs (see app/sweeps)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from sqlalchemy.orm import Session

from app.core.strictquery import StrictQueryRoute
from app.datasets import resolve_dataset
from app.deps import CeleryDep, OwnerDep, SettingsDep, StoreDep
from app.errors import Conflict, InvalidInput, TooManyRequests
from app.idempotency import body_hash, create_once
from app.lookup import find_sweep
from app.routes.jobs import require_json
from app.schemas import (
    Best,
    Curve,
    CurvesPublic,
    ImportancePublic,
    SweepPublic,
    SweepsPublic,
    TrialPublic,
    TrialsPublic,
)
from app.store import jobs as store_jobs
from app.store import sweeps as store_sweeps
from app.store.tables import Job, Sweep
from app.sweeps.driver import advance
from app.sweeps.importance import Method, NotEnoughTrials, fanova_available, importances
from app.sweeps.schema import validate_sweep
from tfjobs import FINAL_STATUSES, JobStatus, SweepStatus

__all__ = ["router"]

router = APIRouter(prefix="/sweeps", tags=["sweeps"], route_class=StrictQueryRoute)

SWEEP_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SweepRequest"}}},
    }
}


def _trials(session: Any, sweep: Sweep) -> list[TrialPublic]:
    jobs: list[Job] = store_sweeps.trials_of(session, sweep_id=sweep.id)
    values = store_sweeps.last_epoch_values(session, job_ids=[j.id for j in jobs], metric=sweep.metric)
    return [
        TrialPublic(
            job_id=j.id,
            number=j.trial_number or 0,
            params=j.params or {},
            status=JobStatus(j.status),
            value=values[j.id],
            epochs_trained=j.progress_epoch,
        )
        for j in jobs
    ]


def _public(session: Any, sweep: Sweep) -> SweepPublic:
    trials = _trials(session, sweep)
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    # The best finished trial: a succeeded one (a pruned trial's value is from an early
    # epoch, and it has no model to download).
    done = [t for t in trials if t.status == JobStatus.SUCCEEDED and t.value is not None]
    pick = min if sweep.mode == "min" else max
    best = pick(done, key=lambda t: t.value or 0.0) if done else None
    return SweepPublic(
        id=sweep.id,
        status=SweepStatus(sweep.status),
        spec=sweep.spec,
        space=sweep.space,
        method=sweep.method,
        pruner=sweep.pruner,
        metric=sweep.metric,
        mode=sweep.mode,
        max_trials=sweep.max_trials,
        max_concurrent=sweep.max_concurrent,
        seed=sweep.seed,
        counts=counts,
        best=Best(job_id=best.job_id, params=best.params, value=best.value or 0.0) if best else None,
        created_at=sweep.created_at,
        finished_at=sweep.finished_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SweepPublic,
    openapi_extra=SWEEP_BODY,
    responses={
        409: {"description": "Idempotency-Key reused with another body"},
        415: {"description": "the body is not JSON"},
        422: {"description": "invalid sweep: each field and rule is named"},
        429: {"description": "too many unfinished sweeps"},
    },
)
def create_sweep(
    *,
    request: Request,
    body: Annotated[Any, Body()] = None,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    celery: CeleryDep,
    owner: OwnerDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> SweepPublic:
    """Start a hyperparameter search: trials are jobs made from `spec` with the values the
    search picks from `space` (grid, random or TPE), at most `max_concurrent` at a time and
    `max_trials` in all, optionally stopped early by a pruner (ASHA or median). Checked
    completely before anything is stored; `Idempotency-Key` works as for jobs."""
    require_json(request.headers.get("content-type"))
    sweep_request, base = validate_sweep(body, settings)
    fingerprint = body_hash(sweep_request.model_dump(mode="json"))
    fields = sweep_request.model_dump(mode="json", exclude={"spec", "space", "pruner"})

    def create(session: Session, key: str | None) -> str:
        if store_sweeps.count_active(session, owner=owner) >= settings.max_active_sweeps_per_owner:
            raise TooManyRequests(
                f"you already have {settings.max_active_sweeps_per_owner} unfinished sweeps (the "
                "limit, TFJOBS_MAX_ACTIVE_SWEEPS_PER_OWNER); wait for one to end or cancel one",
                retry_after=30,
            )
        dataset = resolve_dataset(session, base, owner=owner, settings=settings)
        spec = base.model_dump(mode="json")
        if dataset is not None:
            spec["dataset"] = dataset.id
        return store_sweeps.create_sweep(
            session,
            owner=owner,
            spec=spec,
            space=sweep_request.model_dump(mode="json")["space"],
            pruner=sweep_request.pruner.model_dump(mode="json") if sweep_request.pruner else None,
            idempotency_key=key,
            request_hash=fingerprint,
            **fields,
        ).id

    sweep_id, created = create_once(
        store,
        owner=owner,
        key=idempotency_key,
        fingerprint=fingerprint,
        find=store_sweeps.find_sweep_by_key,
        create=create,
        what="sweep",
    )
    if created:
        advance(store, celery, settings, sweep_id)  # the first trials, now
    response.headers["Location"] = f"/sweeps/{sweep_id}"
    with store.session() as session:
        sweep = store_sweeps.get_sweep(session, sweep_id=sweep_id)
        assert sweep is not None
        return _public(session, sweep)


@router.get("", response_model=SweepsPublic)
def list_sweeps(
    store: StoreDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> SweepsPublic:
    """Your sweeps, newest first; page with `limit` and the previous page's `next_cursor`."""
    with store.session() as session:
        sweeps, next_num = store_sweeps.list_sweeps(
            session, owner=owner, before=int(cursor) if cursor else None, limit=limit
        )
        items = [_public(session, s) for s in sweeps]
    return SweepsPublic(items=items, next_cursor=str(next_num) if next_num is not None else None)


@router.get("/{sweep_id}", response_model=SweepPublic, responses={404: {"description": "no such sweep"}})
def get_sweep(sweep_id: str, store: StoreDep, owner: OwnerDep) -> SweepPublic:
    """One sweep: status, settings, trial counts by status and the best trial so far."""
    with store.session() as session:
        return _public(session, find_sweep(session, sweep_id, owner))


@router.get(
    "/{sweep_id}/trials", response_model=TrialsPublic, responses={404: {"description": "no such sweep"}}
)
def list_trials(
    sweep_id: str,
    store: StoreDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,9}$")] = None,
) -> TrialsPublic:
    """The sweep's trials in trial order: the values chosen, status, the metric's value at
    the last epoch so far, epochs trained. Page with `cursor` (a trial number)."""
    with store.session() as session:
        trials = [
            t
            for t in _trials(session, find_sweep(session, sweep_id, owner))
            if cursor is None or t.number > int(cursor)
        ]
    page = trials[:limit]
    return TrialsPublic(items=page, next_cursor=str(page[-1].number) if len(trials) > limit else None)


@router.get(
    "/{sweep_id}/curves", response_model=CurvesPublic, responses={404: {"description": "no such sweep"}}
)
def get_curves(sweep_id: str, store: StoreDep, owner: OwnerDep) -> CurvesPublic:
    """Every trial's value of the sweep's metric at each epoch, in one answer (the sweep
    page's chart of every trial); a trial with no epoch yet is absent."""
    with store.session() as session:
        sweep = find_sweep(session, sweep_id, owner)
        jobs = store_sweeps.trials_of(session, sweep_id=sweep.id)
        curves = store_sweeps.epoch_curves(session, job_ids=[j.id for j in jobs], metric=sweep.metric)
    return CurvesPublic(
        metric=sweep.metric,
        curves={job_id: Curve(epoch=epochs, values=values) for job_id, (epochs, values) in curves.items()},
    )


@router.get(
    "/{sweep_id}/importance",
    response_model=ImportancePublic,
    responses={
        404: {"description": "no such sweep"},
        409: {"description": "too few finished trials yet (the message says how many it needs)"},
    },
)
def get_importance(
    sweep_id: str,
    store: StoreDep,
    owner: OwnerDep,
    method: Annotated[
        Method, Query(description="`ped_anova` (fast, the default) or `fanova` (random forests)")
    ] = "ped_anova",
) -> ImportancePublic:
    """How much each searched parameter mattered to the sweep's metric, as shares that sum
    to 1, from the succeeded trials (Optuna's PED-ANOVA, or fANOVA when asked). Needs 10
    finished trials; fewer is a 409 that says how many there are. fANOVA needs
    scikit-learn on the API server (the `fanova` extra): without it, a 422 says so."""
    with store.session() as session:
        sweep = find_sweep(session, sweep_id, owner)
        finished = [
            (t.params, t.value)
            for t in _trials(session, sweep)
            if t.status == JobStatus.SUCCEEDED and t.value is not None
        ]
    if method == "fanova" and not fanova_available():
        raise InvalidInput(
            [
                {
                    "loc": ["query", "method"],
                    "msg": "fanova needs scikit-learn on the API server, which this one lacks "
                    "(pip install 'tfjobs_server[fanova]'); ped_anova needs nothing",
                    "type": "unavailable",
                }
            ]
        )
    try:
        shares = importances(sweep.space, sweep.mode, finished, method)
    except NotEnoughTrials as err:
        raise Conflict(str(err)) from None
    return ImportancePublic(metric=sweep.metric, method=method, trials=len(finished), importances=shares)


@router.post(
    "/{sweep_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SweepPublic,
    responses={404: {"description": "no such sweep"}, 409: {"description": "already finished"}},
)
def cancel_sweep(sweep_id: str, store: StoreDep, owner: OwnerDep) -> SweepPublic:
    """Cancel a sweep: queued trials never start, running ones stop, no new ones are made,
    and the sweep ends `cancelled`."""
    # One transaction: the sweep ends and its queued trials are cancelled together, so no
    # worker can claim one in between; a trial being created waits for this row's lock and
    # then sees the sweep ended (store_sweeps.hold_open).
    with store.session() as session:
        sweep = find_sweep(session, sweep_id, owner)
        if not store_sweeps.finish_sweep(session, sweep_id=sweep.id, status=SweepStatus.CANCELLED):
            raise Conflict(f"sweep {sweep.id} has already finished ({sweep.status})")
        full_id = sweep.id
        for job in store_sweeps.trials_of(session, sweep_id=full_id):
            if job.status not in FINAL_STATUSES:
                store_jobs.request_cancel(session, job=job)
    with store.session() as session:
        cancelled = store_sweeps.get_sweep(session, sweep_id=full_id)
        assert cancelled is not None
        return _public(session, cancelled)
