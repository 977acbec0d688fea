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


def running_job(store: Store, *, earlier: tuple[str, ...] = (), lease_left: float) -> str:
    """A job running its attempt ``len(earlier) + 1`` on node-7, its earlier attempts ended
    with the given outcomes ("lost": the lease ran out; "handed_back": the worker stopped)."""
    with store.session() as session:
        job_id = crud.create_job(session, spec={}, epochs=3).id
    for number, outcome in enumerate(earlier, start=1):
        with store.session() as session:
            crud.claim_job(session, job_id=job_id, hostname=f"node-{number}", device="CPU")
            crud.release_job(session, job_id=job_id, attempt=number, outcome=outcome)
    with store.session() as session:
        crud.claim_job(session, job_id=job_id, hostname="node-7", device="CPU")
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_left))
        )
    return job_id


def test_an_expired_lease_is_requeued_and_resent(store):
    job_id = running_job(store, lease_left=-1)
    live = running_job(store, lease_left=60)
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


def test_after_max_lost_attempts_the_job_fails_saying_what_happened(store):
    job_id = running_job(store, earlier=("lost", "handed_back", "lost"), lease_left=-1)
    broker = RecordingBroker()
    counts = reconcile_once(store, broker, Settings(max_attempts=3))
    assert counts["failed"] == 1 and broker.sent == []
    with store.session() as session:
        job = crud.get_job(session, job_id=job_id)
    assert job.status == "failed" and job.error_type == "worker_lost"
    assert "lost 3 times (attempts 1, 3, 4 on node-1, node-3, node-7" in job.error_message
    assert "1 more handed back by a stopping worker (not counted)" in job.error_message


def test_hand_backs_do_not_count_towards_max_attempts(store):
    """One graceful stop (a hand-back) and then one crash: the job is re-queued, not failed,
    even though this is its third attempt and TFJOBS_MAX_ATTEMPTS is 3."""
    job_id = running_job(store, earlier=("handed_back", "handed_back"), lease_left=-1)
    broker = RecordingBroker()
    counts = reconcile_once(store, broker, Settings(max_attempts=3))
    assert counts == {"requeued": 1, "failed": 0, "resent": 1} and broker.sent == [job_id]
    with store.session() as session:
        job = crud.get_job(session, job_id=job_id)
        assert (job.status, job.attempts) == ("queued", 3)
        assert [o for _, _, o in crud.attempt_outcomes(session, job_id=job_id)] == [
            "handed_back",
            "handed_back",
            "lost",
        ]


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


def test_jobs_waiting_for_a_worker_are_not_resent_but_lost_messages_are(store, redis_url):
    """No worker, five jobs queued for longer than a lease: their messages are in Redis, so
    nothing is re-sent (it once sent one more per job every lease period); after a FLUSHDB
    every one of them is re-sent, once."""
    import redis

    from app.core.broker import QUEUE, TaskName, make_celery, queue_depth

    settings = Settings(broker_url=redis_url, lease_seconds=60)
    celery = make_celery(settings)
    ids = []
    for _ in range(5):
        with store.session() as session:
            ids.append(crud.create_job(session, spec={}, epochs=1).id)
        celery.send_task(TaskName.TRAIN, kwargs={"job_id": ids[-1]}, queue=QUEUE)
    with store.session() as session:
        session.execute(update(Job).values(enqueued_at=utcnow() - timedelta(seconds=120)))
    assert queue_depth(celery) == 5
    assert reconcile_once(store, celery, settings)["resent"] == 0
    assert reconcile_once(store, celery, settings)["resent"] == 0
    assert queue_depth(celery) == 5

    redis.Redis.from_url(redis_url).flushdb()  # every message is gone; the jobs are not
    assert reconcile_once(store, celery, settings)["resent"] == 5
    assert queue_depth(celery) == 5
    assert reconcile_once(store, celery, settings)["resent"] == 0  # re-stamped: not again
