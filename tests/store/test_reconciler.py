"""The reconciler's decisions against a real store; the broker is a recorder here (the real
broker paths are covered by tests/chaos)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.core.config import Settings
from app.reconciler import reconcile_once
from app.store import crud
from app.store.db import Store, migrate
from app.store.errors import LeaseLost
from app.store.tables import Job, utcnow


class RecordingBroker:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_task(self, name: str, *, kwargs: dict, queue: str) -> None:
        self.sent.append(kwargs["job_id"])


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    migrate(store.engine)
    yield store
    store.dispose()


def running_job(store: Store, *, attempts: int, lease_left: float) -> str:
    with store.session() as session:
        job_id = crud.create_job(session, spec={}, epochs=3).id
    for _ in range(attempts):
        with store.session() as session:
            session.execute(update(Job).where(Job.id == job_id).values(status="queued"))
            crud.claim_job(session, job_id=job_id, hostname="node-7", device="CPU")
    with store.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_left))
        )
    return job_id


def test_an_expired_lease_is_requeued_and_resent(store):
    job_id = running_job(store, attempts=1, lease_left=-1)
    live = running_job(store, attempts=1, lease_left=60)
    broker = RecordingBroker()
    counts = reconcile_once(store, broker, Settings(max_attempts=3))
    assert counts["requeued"] == 1 and broker.sent == [job_id]
    with store.session() as session:
        job = crud.get_job(session, job_id=job_id)
        assert (job.status, job.attempts, job.lease_expires_at) == ("queued", 1, None)
        assert crud.get_job(session, job_id=live).status == "running"  # its lease is live
        # the next claim is attempt 2, and the stale attempt 1 can write nothing more
        assert crud.claim_job(session, job_id=job_id, hostname="node-8", device="CPU").attempts == 2
    with pytest.raises(LeaseLost), store.session() as session:
        crud.finish_job(session, job_id=job_id, status="succeeded", attempt=1)


def test_after_max_attempts_the_job_fails_with_a_reason(store):
    job_id = running_job(store, attempts=3, lease_left=-1)
    broker = RecordingBroker()
    counts = reconcile_once(store, broker, Settings(max_attempts=3))
    assert counts["failed"] == 1 and broker.sent == []
    with store.session() as session:
        job = crud.get_job(session, job_id=job_id)
    assert job.status == "failed" and job.error_type == "worker_lost"
    assert "3 times" in job.error_message and "node-7" in job.error_message


def test_long_queued_jobs_are_resent_once_per_lease(store):
    with store.session() as session:
        old = crud.create_job(session, spec={}, epochs=1).id
        fresh = crud.create_job(session, spec={}, epochs=1).id
        session.execute(
            update(Job).where(Job.id == old).values(enqueued_at=utcnow() - timedelta(seconds=120))
        )
    broker = RecordingBroker()
    assert reconcile_once(store, broker, Settings(lease_seconds=60))["resent"] == 1
    assert broker.sent == [old] and fresh not in broker.sent
    assert reconcile_once(store, broker, Settings(lease_seconds=60))["resent"] == 0  # re-stamped
