"""StoreReporter against a real SQLite store: ordering, draining, resumed numbering, fencing."""

from __future__ import annotations

import math

import pytest

from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store.errors import LeaseLost
from harness.stack import wait_until
from tests.worker.conftest import claimed_job
from tfcore.report import Point
from worker.reporter import StoreReporter


def stored(store, job_id):
    with store.session() as session:
        points = store_points.read_points(session, job_id=job_id, after=0, limit=1000)
        lines = store_points.read_logs(session, job_id=job_id, after=0, limit=1000)
        return [(p.seq, p.kind, p.epoch, p.step) for p in points], [(x.seq, x.message) for x in lines], points


def test_everything_reported_is_stored_in_order_once_closed(store, tmp_path):
    job_id, attempt = claimed_job(store)
    reporter = StoreReporter(store, job_id, attempt=attempt, tensorboard_dir=tmp_path / "tb")
    reporter.log("attempt 1 on node-1 (CPU)")
    for step in range(1, 201):
        reporter.report(Point("step", 1, step, {"loss": 1.0 / step}))
    reporter.report(Point("epoch", 1, 200, {"loss": 0.5, "val_loss": math.nan}))
    reporter.close()  # drains the queue before returning

    points, lines, rows = stored(store, job_id)
    assert [p[0] for p in points] == list(range(1, 202))
    assert points[-1] == (201, "epoch", 1, 200)
    assert rows[-1].values == {"loss": 0.5, "val_loss": None}  # NaN is stored as null, not as NaN
    assert [x[1] for x in lines] == [
        "attempt 1 on node-1 (CPU)",
        "epoch 1 (step 200): loss=0.5, val_loss=nan",
    ]
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))  # the epoch point reached TensorBoard
    with store.session() as session:
        assert store_jobs.get_job(session, job_id=job_id).progress_epoch == 1


def test_a_resumed_attempt_continues_the_numbering(store):
    job_id, attempt = claimed_job(store)
    first = StoreReporter(store, job_id, attempt=attempt)
    first.report(Point("epoch", 1, 10, {"loss": 1.0}))
    first.close()
    with store.session() as session:
        job = store_jobs.get_job(session, job_id=job_id)
        last_seq, last_log_seq = job.last_seq, job.last_log_seq
    second = StoreReporter(store, job_id, attempt=attempt, last_seq=last_seq, last_log_seq=last_log_seq)
    second.report(Point("epoch", 2, 20, {"loss": 0.9}))
    second.close()
    points, lines, _ = stored(store, job_id)
    assert [p[0] for p in points] == [1, 2] and [x[0] for x in lines] == [1, 2]


def test_a_replaced_attempt_writes_nothing_more(store):
    job_id, attempt = claimed_job(store)
    reporter = StoreReporter(store, job_id, attempt=attempt)
    reporter.report(Point("epoch", 1, 10, {"loss": 1.0}))
    wait_until(lambda: stored(store, job_id)[0] != [], 5, "the writer thread to store epoch 1")
    with store.session() as session:  # the reconciler re-queued the job and another worker claimed it
        store_jobs.release_job(session, job_id=job_id, attempt=attempt, outcome="lease_lost")
        assert (
            store_jobs.claim_job(session, job_id=job_id, hostname="node-2", device="CPU").attempts
            == attempt + 1
        )
    reporter.report(Point("epoch", 2, 20, {"loss": 0.9}))
    with pytest.raises(LeaseLost):
        reporter.close()
    points, _, _ = stored(store, job_id)
    assert all(epoch == 1 for _, _, epoch, _ in points)  # epoch 2 of the stale attempt is not there
