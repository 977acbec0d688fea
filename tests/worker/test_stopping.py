"""A worker that has been asked to stop (SIGTERM) starts nothing new."""

from __future__ import annotations

from sqlalchemy import update

from app.store import jobs as store_jobs
from app.store.tables import Job
from worker.context import shutdown_requested
from worker.training import train_job


def test_a_stopping_worker_claims_nothing_and_passes_the_job_on(ctx):
    passes: list[str] = []
    ctx.queue = "tfjobs-w-stopping-1"
    ctx.dispatch = lambda: passes.append("pass")
    with ctx.store.session() as session:
        job_id = store_jobs.create_job(
            session, spec={"model_type": "mlp", "loss": "mse", "epochs": 2}, epochs=2
        ).id
        session.execute(update(Job).where(Job.id == job_id).values(dispatched_to="tfjobs-w-stopping-1"))
    shutdown_requested.set()
    try:
        assert train_job(ctx, job_id) == "skipped:worker_stopping"
    finally:
        shutdown_requested.clear()
    with ctx.store.session() as session:
        job = store_jobs.get_job(session, job_id=job_id)
        assert (job.status, job.attempts) == ("queued", 0)  # no attempt spent on it
        assert store_jobs.attempt_outcomes(session, job_id=job_id) == []
        assert job.dispatched_to is None  # taken back from this worker's queue
    assert passes == ["pass"]  # a scheduler pass at once: another worker gets it
