"""The reporter rides out a store outage while the lease lasts, and gives up cleanly after.

Before: a batch was retried for ~6 s in all, then the job failed for good ("could not
store metrics: … Connection refused") — an 8 s PostgreSQL restart killed a 150-epoch
job. PostgreSQL goes away through a proxy (tests/outage.py); SQLite is "out" while
another process holds its write lock past the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store.db import Store, migrate
from harness.stack import wait_until
from tests.outage import TcpProxy
from tests.worker.conftest import claimed_job
from tfcore.report import Point
from worker.outage import StoreUnavailable
from worker.reporter import StoreReporter


def stored_seqs(store: Store, job_id: str) -> tuple[list[int], list[int]]:
    with store.session() as session:
        points = [p.seq for p in store_points.read_points(session, job_id=job_id, after=0, limit=10_000)]
        lines = [x.seq for x in store_points.read_logs(session, job_id=job_id, after=0, limit=10_000)]
    return points, lines


@pytest.fixture
def proxied(postgres_url):
    proxy = TcpProxy(postgres_url)
    store = Store(proxy.url)
    migrate(store.engine)
    yield store, proxy
    proxy.close()
    store.dispose()


def report_for(reporter: StoreReporter, seconds: float, start_step: int) -> int:
    """Reports a step point (and every tenth a log line) every 20 ms; returns the next step."""
    step, end = start_step, time.monotonic() + seconds
    while time.monotonic() < end:
        reporter.report(Point("step", 1, step, {"loss": 1.0 / step}))
        if step % 10 == 0:
            reporter.log(f"step {step}")
        step += 1
        time.sleep(0.02)
    return step


def reporting(store: Store, *, patience: float, seconds: float) -> tuple[str, StoreReporter, int]:
    """A claimed job's reporter, its first points reported and stored: (job id, reporter, next step)."""
    job_id, attempt = claimed_job(store)
    reporter = StoreReporter(store, job_id, attempt=attempt, patience=patience)
    step = report_for(reporter, seconds, 1)
    wait_until(lambda: stored_seqs(store, job_id)[0][-1:] == [step - 1], 10, "the first points")
    return job_id, reporter, step


def test_an_eight_second_postgresql_outage_loses_and_duplicates_nothing(proxied):
    store, proxy = proxied
    job_id, reporter, step = reporting(store, patience=30, seconds=1)
    proxy.down()
    step = report_for(reporter, 8, step)  # the loop keeps training and reporting
    proxy.up()
    step = report_for(reporter, 1, step)
    reporter.close()  # no error: everything reached the store
    points, lines = stored_seqs(store, job_id)
    assert points == list(range(1, step))
    assert lines == list(range(1, len(lines) + 1)) and len(lines) == (step - 1) // 10


def test_an_outage_longer_than_the_patience_gives_up_cleanly(proxied):
    store, proxy = proxied
    job_id, reporter, step = reporting(store, patience=2, seconds=0.5)
    proxy.down()
    report_for(reporter, 0.5, step)
    wait_until(reporter.store_lost.is_set, 20, "the reporter to give up")
    proxy.up()
    with pytest.raises(StoreUnavailable, match="did not answer for 2 s"):
        reporter.close()
    points, _ = stored_seqs(store, job_id)
    assert points == list(range(1, step))  # what was stored stays; nothing half-written after
    with store.session() as session:
        assert store_jobs.get_job(session, job_id=job_id).last_seq == step - 1


def test_sqlite_locked_past_its_busy_timeout_is_waited_out(store, tmp_path):
    job_id, reporter, step = reporting(store, patience=60, seconds=0.5)
    url = store.engine.url.database
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # a backup tool or a migration holding the write lock
        connection = sqlite3.connect(url, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait()
        connection.execute("ROLLBACK")
        connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    locked.wait(5)
    step = report_for(reporter, 12, step)  # past the 10 s busy timeout: "database is locked"
    release.set()
    holder.join()
    reporter.close()
    assert stored_seqs(store, job_id)[0] == list(range(1, step))


def test_an_answer_is_not_an_outage_and_is_not_retried():
    from worker.outage import patiently

    calls = []

    def wrong_data() -> None:
        calls.append(1)
        raise ValueError("a spec that no longer validates")

    started = time.monotonic()
    with pytest.raises(ValueError, match="no longer validates"):
        patiently("claiming", wrong_data, seconds=30)
    assert calls == [1] and time.monotonic() - started < 1
