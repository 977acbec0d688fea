"""A worker that has been asked to stop (SIGTERM) starts nothing new."""

from __future__ import annotations

from app.store import crud
from worker.training import shutdown_requested, train_job


def test_a_stopping_worker_claims_nothing_and_passes_the_job_on(ctx):
    sent: list[str] = []
    ctx.requeue = sent.append
    with ctx.store.session() as session:
        job_id = crud.create_job(session, spec={"model_type": "mlp", "loss": "mse", "epochs": 2}, epochs=2).id
    shutdown_requested.set()
    try:
        assert train_job(ctx, job_id) == "skipped:worker_stopping"
    finally:
        shutdown_requested.clear()
    with ctx.store.session() as session:
        job = crud.get_job(session, job_id=job_id)
        assert (job.status, job.attempts) == ("queued", 0)  # no attempt spent on it
        assert crud.attempt_outcomes(session, job_id=job_id) == []
    assert sent == [job_id]  # another worker gets it at once
