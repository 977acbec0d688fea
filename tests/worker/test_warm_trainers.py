"""A worker reuses a trainer across jobs of one architecture, and each job's artifacts
are its own: the second job's exported model holds the weights it trained, not the
first's (the first was exported before its trainer was handed on)."""

from __future__ import annotations

import keras
import numpy as np

from app.store import jobs as store_jobs
from worker.training import train_job


def submit(ctx, **fields) -> str:
    spec = {"model_type": "mlp", "loss": "mse", "epochs": 2, "batch_size": 64, **fields}
    with ctx.store.session() as session:
        return store_jobs.create_job(session, spec=spec, epochs=spec["epochs"]).id


def exported_weights(ctx, job_id: str) -> list[np.ndarray]:
    model = keras.saving.load_model(ctx.settings.artifacts_root / job_id / "artifacts-1" / "model.keras")
    return model.get_weights()


def test_the_second_job_of_an_architecture_reuses_the_first_ones_trainer(ctx):
    first = submit(ctx, learning_rate=0.01)
    assert train_job(ctx, first) == "succeeded"
    second = submit(ctx, learning_rate=0.002)
    assert train_job(ctx, second) == "succeeded"
    assert (ctx.trainers.hits, ctx.trainers.misses, len(ctx.trainers)) == (1, 1, 1)

    a, b = exported_weights(ctx, first), exported_weights(ctx, second)
    assert any(not np.array_equal(x, y) for x, y in zip(a, b, strict=True))  # each its own
    with ctx.store.session() as session:
        summaries = [store_jobs.get_job(session, job_id=j).summary for j in (first, second)]
    assert summaries[0]["loss"] != summaries[1]["loss"]

    other = submit(ctx, hidden_units=8)  # another architecture: built afresh
    assert train_job(ctx, other) == "succeeded"
    assert (ctx.trainers.hits, ctx.trainers.misses) == (1, 2)
