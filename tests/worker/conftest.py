"""A worker's surroundings without Celery or TensorFlow: a SQLite store and a claimed job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.config import Settings
from app.store import jobs as store_jobs
from app.store.db import Store, migrate
from worker.context import WorkerContext


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(store.engine)
    yield store
    store.dispose()


@pytest.fixture
def ctx(store, tmp_path) -> WorkerContext:
    settings = Settings(data_dir=tmp_path / "data", cancel_poll_seconds=0.05, lease_seconds=1.5)
    return WorkerContext(settings, store, "node-1", "CPU")


def claimed_job(store: Store, *, epochs: int = 3) -> tuple[str, int]:
    """A job created and claimed by this worker: its id and attempt number."""
    with store.session() as session:
        job_id = store_jobs.create_job(session, spec={"epochs": epochs}, epochs=epochs).id
    with store.session() as session:
        job = store_jobs.claim_job(session, job_id=job_id, hostname="node-1", device="CPU", lease_seconds=1.5)
        assert job is not None
        return job_id, job.attempts


def checkpoint(folder: Path, epoch: int) -> Path:
    """A stand-in checkpoint folder as tf.train.CheckpointManager leaves it."""
    folder.mkdir(parents=True)
    (folder / "checkpoint").write_text(f'model_checkpoint_path: "ckpt-{epoch}"\n')
    (folder / f"ckpt-{epoch}.index").write_bytes(b"index")
    return folder
