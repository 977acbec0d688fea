"""A succeeded job's checkpoints are removed once its model is exported, unless kept."""

from __future__ import annotations

import pytest

from app.store import jobs as store_jobs
from worker.training import train_job


@pytest.mark.parametrize("keep", [False, True])
def test_checkpoints_of_a_succeeded_job_are_removed_unless_kept(ctx, keep):
    ctx.settings = ctx.settings.model_copy(update={"keep_checkpoints": keep})
    spec = {"model_type": "mlp", "loss": "mse", "epochs": 1, "batch_size": 64}
    with ctx.store.session() as session:
        job_id = store_jobs.create_job(session, spec=spec, epochs=1).id
    assert train_job(ctx, job_id) == "succeeded"
    job_dir = ctx.settings.artifacts_root / job_id
    assert (job_dir / "artifacts-1" / "model.keras").exists()
    assert (job_dir / "work" / "checkpoints").exists() is keep
