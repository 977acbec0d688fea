"""Moving a sweep on. Called by the API right after a sweep is created, by the worker
right after one of its trials ends, and by the reconciler every pass (so a sweep goes on
even if the process that should have advanced it was killed).

One pass, under the sweep's advance lease (one process at a time):
1. tell the search how each finished trial did (succeeded → its value, pruned → pruned,
   failed or cancelled → failed);
2. create trials as jobs (the scheduler starts them, fairly among owners) until
   ``max_concurrent`` are queued or running or ``max_trials`` exist — each is the
   search's next ask, or a trial it handed out to a process that was killed before making
   its job (adopted, so none is lost and none made twice: a job's ``(sweep_id,
   trial_number)`` is unique);
3. end the sweep once every trial it will ever have has ended.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import Celery
from sqlalchemy.exc import IntegrityError

from app.core.config import Settings
from app.scheduler import dispatch
from app.store import jobs as store_jobs
from app.store import sweeps as store_sweeps
from app.store.db import Store
from tfjobs import FINAL_STATUSES, JobStatus, SweepStatus

if TYPE_CHECKING:
    from app.sweeps.search import Search

__all__ = ["advance", "advance_all"]

log = logging.getLogger(__name__)

ADVANCE_SECONDS = 60.0  # the hold on a sweep while one process advances it
TOLD = {  # a trial's job status → the name of Optuna's TrialState for it
    JobStatus.SUCCEEDED: "COMPLETE",
    JobStatus.PRUNED: "PRUNED",
    JobStatus.FAILED: "FAIL",
    JobStatus.CANCELLED: "FAIL",
}


def advance_all(
    store: Store, celery: Celery, settings: Settings, seen: dict[str, object] | None = None
) -> int:
    """Advances every unfinished sweep that may have something to do, and cancels any trial
    left unfinished by one that has ended; returns how many sweeps it advanced.

    ``seen`` (the reconciler keeps one across passes): each sweep's trial counts by status
    and whether its owner's queue was full when it was last advanced. A sweep whose figures have not
    moved since has nothing to tell its search and no new room for a trial, so it is
    skipped: an idle pass costs two grouped reads, not an Optuna study per sweep.
    """
    with store.session() as session:
        for job in store_sweeps.stray_trials(session):
            log.warning("sweep %s has ended: cancelling its trial %s", job.sweep_id, job.id)
            store_jobs.request_cancel(session, job=job)
    with store.session() as session:
        states = store_sweeps.active_sweep_states(session)
        queued = store_jobs.queued_by_owner(session)
    advanced = 0
    for sweep_id, (owner, counts) in states.items():
        figures = (counts, queued.get(owner, 0) >= settings.max_queued_per_owner)
        if seen is not None and seen.get(sweep_id) == figures:
            continue
        try:
            if advance(store, celery, settings, sweep_id):
                advanced += 1
                if seen is not None:
                    seen[sweep_id] = figures
        except Exception as err:  # one sweep's trouble must not stop the others
            log.warning("sweep %s: advance failed: %s", sweep_id, err)
    if seen is not None:
        for gone in seen.keys() - states.keys():
            del seen[gone]
    return advanced


def advance(store: Store, celery: Celery, settings: Settings, sweep_id: str) -> bool:
    """One pass over the sweep; False if another process holds it now."""
    with store.session() as session:
        if not store_sweeps.take_advance(session, sweep_id=sweep_id, seconds=ADVANCE_SECONDS):
            return False  # another process is at it; it will see what we would have
    try:
        _advance(store, celery, settings, sweep_id)
        return True
    finally:
        with store.session() as session:
            store_sweeps.release_advance(session, sweep_id=sweep_id)


def _advance(store: Store, celery: Celery, settings: Settings, sweep_id: str) -> None:
    # Optuna is imported here, on a sweep's first advance, not with the API: a service
    # that runs no sweeps does not carry it (~11 MB per API process).
    from optuna.trial import TrialState

    from app.sweeps.search import Search

    with store.session() as session:
        sweep = store_sweeps.get_sweep(session, sweep_id=sweep_id)
        if sweep is None:
            return
        session.expunge(sweep)
        jobs = [(j.id, j.trial_number, j.status) for j in store_sweeps.trials_of(session, sweep_id=sweep_id)]
        finished = [job_id for job_id, _, status in jobs if status in FINAL_STATUSES]
        values = store_sweeps.last_epoch_values(session, job_ids=finished, metric=sweep.metric)
        # Trials are the owner's jobs: they wait rather than exceed the owner's queue limit.
        queue_room = settings.max_queued_per_owner - store_jobs.count_queued(session, owner=sweep.owner)
    search = Search(settings.sqlalchemy_url, sweep)
    asked = search.trials()
    created_before = len(jobs)

    for job_id, number, status in jobs:  # 1. what the search has not heard yet
        if status in FINAL_STATUSES and number is not None and not asked[number].state.is_finished():
            search.tell(number, value=values.get(job_id), state=TrialState[TOLD[JobStatus(status)]])

    if sweep.status in (SweepStatus.QUEUED, SweepStatus.RUNNING):  # 2. new trials
        numbers = {number for _, number, _ in jobs}
        active = sum(status not in FINAL_STATUSES for *_, status in jobs)
        created = len(jobs)
        orphans = [t for t in asked if t.state == TrialState.RUNNING and t.number not in numbers]
        n_asked = len(asked)  # seeds the next ask (see app/sweeps/search.py)
        while active < sweep.max_concurrent and created < sweep.max_trials and queue_room > 0:
            if orphans:
                trial = orphans.pop(0)
                number, params = trial.number, trial.params
            elif search.exhausted():
                break
            else:
                number, params = search.ask(n_asked)
                n_asked += 1
            if not _create_trial(store, sweep, number, params):
                break  # the sweep ended meanwhile, or another process made it (it goes on)
            active, created, queue_room = active + 1, created + 1, queue_room - 1
            jobs.append(("", number, JobStatus.QUEUED))

    _settle(store, search, sweep, jobs)
    if len(jobs) > created_before:
        dispatch(store, celery, settings)  # the new trials start now if slots are free


def _create_trial(store: Store, sweep: Any, number: int, params: dict[str, Any]) -> bool:
    """The trial's job, stored (the scheduler sends it); False if it already exists or the
    sweep has ended since it was read (a cancel that committed meanwhile wins)."""
    spec = {**sweep.spec, **params}
    try:
        with store.session() as session:
            if not store_sweeps.hold_open(session, sweep_id=sweep.id):
                return False
            job = store_jobs.create_job(
                session,
                spec=spec,
                epochs=spec["epochs"],
                owner=sweep.owner,
                sweep_id=sweep.id,
                trial_number=number,
                params=params,
            )
            job_id = job.id
    except IntegrityError:
        return False
    log.info("sweep %s: trial %d is job %s with %s", sweep.id, number, job_id, params)
    return True


def _settle(store: Store, search: Search, sweep: Any, jobs: list[tuple[str, int | None, str]]) -> None:
    """The sweep's status from its trials: running once one has started; final once every
    trial it will have has ended."""
    statuses = [status for *_, status in jobs]
    with store.session() as session:
        if sweep.status == SweepStatus.QUEUED and any(s != JobStatus.QUEUED for s in statuses):
            store_sweeps.mark_running(session, sweep_id=sweep.id)
    if sweep.status not in (SweepStatus.QUEUED, SweepStatus.RUNNING) or not statuses:
        return
    if any(s not in FINAL_STATUSES for s in statuses):
        return
    if len(statuses) < sweep.max_trials and not search.exhausted():
        return
    ended = SweepStatus.SUCCEEDED if JobStatus.SUCCEEDED in statuses else SweepStatus.FAILED
    with store.session() as session:
        if store_sweeps.finish_sweep(session, sweep_id=sweep.id, status=ended):
            log.info("sweep %s %s after %d trials", sweep.id, ended, len(statuses))
