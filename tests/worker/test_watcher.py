"""JobWatcher on a real SQLite store: cancels seen, the lease renewed, a lost lease noticed."""

from __future__ import annotations

import time

from app.store import jobs as store_jobs
from harness.stack import wait_until
from tests.worker.conftest import claimed_job
from worker.attempt import JobWatcher


def test_a_cancel_request_is_seen_within_the_poll_interval(ctx):
    job_id, attempt = claimed_job(ctx.store)
    watcher = JobWatcher(ctx, job_id, attempt)
    try:
        assert not watcher.should_stop()
        with ctx.store.session() as session:
            store_jobs.request_cancel(session, job=store_jobs.get_job(session, job_id=job_id))
        wait_until(watcher.cancelled.is_set, 5, "the watcher to see the cancel")
        assert watcher.should_stop() and not watcher.lease_lost.is_set()
    finally:
        watcher.stop()


def test_the_lease_is_renewed_while_the_attempt_runs(ctx):
    job_id, attempt = claimed_job(ctx.store)  # a 1.5 s lease
    with ctx.store.session() as session:
        first = store_jobs.get_job(session, job_id=job_id).lease_expires_at
    watcher = JobWatcher(ctx, job_id, attempt)
    try:
        time.sleep(2.5)  # past the original lease: only renewals keep it alive
        with ctx.store.session() as session:
            job = store_jobs.get_job(session, job_id=job_id)
        assert job.lease_expires_at > first and not watcher.lease_lost.is_set()
    finally:
        watcher.stop()


def test_a_replaced_attempt_learns_it_lost_the_lease(ctx):
    job_id, attempt = claimed_job(ctx.store)
    watcher = JobWatcher(ctx, job_id, attempt)
    try:
        with ctx.store.session() as session:  # the reconciler re-queued it; another worker claimed it
            store_jobs.release_job(session, job_id=job_id, attempt=attempt, outcome="lease_lost")
            store_jobs.claim_job(session, job_id=job_id, hostname="node-2", device="CPU")
        wait_until(watcher.lease_lost.is_set, 5, "the watcher to notice the lost lease")
        assert watcher.should_stop()
    finally:
        watcher.stop()
