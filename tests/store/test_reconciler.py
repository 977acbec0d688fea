"""The reconciler's decisions against a real store (sending jobs again is the scheduler's:
tests/store/test_scheduler.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.core.config import Settings
from app.reconciler import reconcile_once
from app.store import jobs as store_jobs
from app.store.db import Store, migrate
from app.store.errors import LeaseLost
from app.store.tables import Job, utcnow


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    migrate(store.engine)
    yield store
    store.dispose()


def running_job(store: Store, *, earlier: tuple[str, ...] = (), lease_left: float) -> str:
    """A job running its attempt ``len(earlier) + 1`` on node-7, its earlier attempts ended
    with the given outcomes ("lease_lost": the lease ran out; "handed_back": the worker stopped)."""
    with store.session() as session:
        job_id = store_jobs.create_job(session, spec={}, epochs=3).id
    for number, outcome in enumerate(earlier, start=1):
        with store.session() as session:
            store_jobs.claim_job(session, job_id=job_id, hostname=f"node-{number}", device="CPU")
            store_jobs.release_job(session, job_id=job_id, attempt=number, outcome=outcome)
    with store.session() as session:
        store_jobs.claim_job(session, job_id=job_id, hostname="node-7", device="CPU")
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_left))
        )
    return job_id


def test_an_expired_lease_is_requeued_for_the_scheduler(store):
    job_id = running_job(store, lease_left=-1)
    live = running_job(store, lease_left=60)
    counts = reconcile_once(store, Settings(max_attempts=3))
    assert counts["requeued"] == 1
    with store.session() as session:
        job = store_jobs.get_job(session, job_id=job_id)
        assert (job.status, job.attempts, job.lease_expires_at) == ("queued", 1, None)
        assert job.dispatched_to is None  # its slot is free: the scheduler sends it again
        assert store_jobs.get_job(session, job_id=live).status == "running"  # its lease is live
        # the next claim is attempt 2, and the stale attempt 1 can write nothing more
        assert store_jobs.claim_job(session, job_id=job_id, hostname="node-8", device="CPU").attempts == 2
    with pytest.raises(LeaseLost), store.session() as session:
        store_jobs.finish_job(session, job_id=job_id, status="succeeded", attempt=1)


def test_after_max_lost_attempts_the_job_fails_saying_what_happened(store):
    job_id = running_job(store, earlier=("lease_lost", "handed_back", "lease_lost"), lease_left=-1)
    counts = reconcile_once(store, Settings(max_attempts=3))
    assert counts["failed"] == 1
    with store.session() as session:
        job = store_jobs.get_job(session, job_id=job_id)
    assert job.status == "failed" and job.error_type == "worker_lost"
    assert "lost 3 times (attempts 1, 3, 4 on node-1, node-3, node-7" in job.error_message
    assert "1 more handed back by a stopping worker (not counted)" in job.error_message


def test_hand_backs_do_not_count_towards_max_attempts(store):
    """One graceful stop (a hand-back) and then one crash: the job is re-queued, not failed,
    even though this is its third attempt and TFJOBS_MAX_ATTEMPTS is 3."""
    job_id = running_job(store, earlier=("handed_back", "handed_back"), lease_left=-1)
    counts = reconcile_once(store, Settings(max_attempts=3))
    assert counts == {"requeued": 1, "failed": 0}
    with store.session() as session:
        job = store_jobs.get_job(session, job_id=job_id)
        assert (job.status, job.attempts) == ("queued", 3)
        assert [o for _, _, o in store_jobs.attempt_outcomes(session, job_id=job_id)] == [
            "handed_back",
            "handed_back",
            "lease_lost",
        ]
