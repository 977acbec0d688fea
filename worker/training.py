"""One training job, end to end, as a worker runs it (the Celery task is a thin wrapper):
claim it (with a lease, in one transaction), run the attempt (worker/attempt.py), then
free the slot, move its sweep on and drop checkpoints no attempt will resume from.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from app.store import jobs as store_jobs
from app.store import scheduling
from app.store import sweeps as store_sweeps
from tfcore.spec import JobSpec
from tfjobs import FINAL_STATUSES, Device, JobStatus
from worker.attempt import Attempt, Claimed
from worker.context import WorkerContext, shutdown_requested
from worker.files import JobFiles
from worker.gang import GangAttempt, play_rank
from worker.outage import StoreUnavailable, patiently
from worker.pruning import TrialPruning

__all__ = ["train_job"]

log = logging.getLogger(__name__)


def _pass_on(ctx: WorkerContext, job_id: str | None = None) -> None:
    """A scheduler pass now (a slot is free, or a job is back in the queue); ``job_id``: a
    job sent here that this worker will not run, taken back first. Else the dispatcher's
    next pass does it."""
    try:
        if job_id is not None:
            with ctx.store.session() as session:
                scheduling.take_back(session, job_ids=[job_id], queue=ctx.queue)
        if ctx.dispatch is not None:
            ctx.dispatch()
    except Exception as err:
        log.warning("scheduler pass after job %s failed (%s); the dispatcher will do it", job_id, err)


def _claim(ctx: WorkerContext, job_id: str) -> Claimed | str:
    """Claims the job in one transaction; or why not: its status, or "needs_gpu"."""
    with ctx.store.session() as session:
        job = store_jobs.claim_job(
            session,
            job_id=job_id,
            hostname=ctx.hostname,
            device=ctx.device,
            lease_seconds=ctx.settings.lease_seconds,
            queue=ctx.queue,
            kind=ctx.kind,
        )
        if job is None:
            current = store_jobs.get_job(session, job_id=job_id)
            if (
                current is not None
                and current.status == JobStatus.QUEUED
                and current.device_request == Device.GPU
            ):
                return "needs_gpu"
            return str(current.status) if current else "missing"
        sweep = store_sweeps.get_sweep(session, sweep_id=job.sweep_id) if job.sweep_id else None
        if sweep is not None:
            session.expunge(sweep)
        try:
            # Checked at submit against the limits of then; here against this worker's, and
            # an architecture passes the allowlist walk once more before anything builds it.
            spec = JobSpec.model_validate(
                job.spec, context={**ctx.settings.spec_context(), "max_epochs": job.spec.get("epochs", 1)}
            )
        except ValidationError as err:  # not trainable here: fail it, saying why, and move on
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in err.errors())
            store_jobs.finish_job(
                session,
                job_id=job_id,
                status=JobStatus.FAILED,
                attempt=job.attempts,
                error_type="invalid_spec",
                error_message=f"this worker refuses the job's spec: {problems}",
            )
            return "invalid_spec"
        return Claimed.of(session, job, spec=spec, sweep=sweep)


def train_job(ctx: WorkerContext, job_id: str, rank: int = 0) -> str:
    """Runs the job if it is still queued; returns its final status (or why it was skipped).
    ``rank`` > 0: this worker's rank of a gang job (worker/gang.py); the chief claims it."""
    if rank > 0:
        try:
            return play_rank(ctx, job_id, rank)
        finally:
            _pass_on(ctx)  # this rank's slot is free
    if shutdown_requested.is_set():
        # A stopping worker starts nothing: claiming would cost the job an attempt only to
        # hand it back at once (often its own hand-back's message, delivered during shutdown).
        log.info("job %s: this worker is stopping; leaving the job to another worker", job_id)
        _pass_on(ctx, job_id)
        return "skipped:worker_stopping"
    try:
        claimed = patiently(
            f"claiming job {job_id}", lambda: _claim(ctx, job_id), seconds=ctx.settings.lease_seconds
        )
    except StoreUnavailable as err:  # still queued: the dispatcher sends it again later
        log.warning("job %s: not claimed: %s", job_id, err)
        return "skipped:store_unavailable"
    if isinstance(claimed, str):
        if claimed == "needs_gpu":  # sent here by mistake (a stale message): a GPU worker must run it
            log.warning("job %s asks for a GPU and this worker has none: passing it on", job_id)
            _pass_on(ctx, job_id)
        else:
            log.info("job %s is %s, not queued: not training it (duplicate delivery)", job_id, claimed)
        return f"skipped:{claimed}"
    spec, sweep, trial_number = claimed.spec, claimed.sweep, claimed.trial_number
    sweep_id = sweep.id if sweep is not None else None

    ctx.current_job = job_id
    try:
        pruning = (
            TrialPruning(ctx.settings.sqlalchemy_url, sweep, trial_number, spec.epochs)
            if sweep is not None and sweep.pruner and trial_number is not None
            else None
        )
        if spec.replicas > 1:
            outcome = GangAttempt(ctx, claimed, spec.replicas, pruning).run()
        else:
            outcome = Attempt(ctx, claimed, pruning).run()
    finally:
        ctx.current_job = None
    _pass_on(ctx)  # this slot is free (or the job is back in the queue): the next job now
    if sweep_id and ctx.advance_sweep is not None and outcome in FINAL_STATUSES:
        try:  # the next trials start now, not at the reconciler's next pass
            ctx.advance_sweep(sweep_id)
        except Exception as err:
            log.warning("sweep %s: could not advance after job %s: %s", sweep_id, job_id, err)
    if outcome in (JobStatus.SUCCEEDED, JobStatus.PRUNED) and not ctx.settings.keep_checkpoints:
        # Recorded as succeeded by this attempt, so no other attempt resumes from these:
        # the model is exported; the checkpoints only took disk (TFJOBS_KEEP_CHECKPOINTS=1 keeps them).
        JobFiles(ctx.settings, job_id).drop_checkpoints()
    return outcome
