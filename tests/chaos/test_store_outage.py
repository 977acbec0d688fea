"""A store outage mid-job: a short one is ridden out, a long one hands the job back.

Before: PostgreSQL away for 8 s ended a running job `failed` ("could not store metrics:
… Connection refused"). Now the worker retries while its lease lasts; past it, the
attempt is handed back and the next one resumes from the checkpoint. Either way every
epoch is trained and reported exactly once. PostgreSQL is cut through a proxy
(tests/outage.py); SQLite's outage is its write lock held past the busy timeout.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from harness.stack import running_stack, wait_until
from tests.chaos.test_faults import LONG, assert_trained_once_per_epoch, epoch_of
from tests.outage import TcpProxy

pytestmark = pytest.mark.chaos


@contextlib.contextmanager
def sqlite_locked(path: str) -> Iterator[None]:
    """Holds SQLite's write lock (as a backup or a migration would) until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait()
        connection.execute("ROLLBACK")
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join()


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_a_short_store_outage_mid_job_is_ridden_out(database, tmp_path, redis_url, request):
    proxy = TcpProxy(request.getfixturevalue("postgres_url")) if database == "postgresql" else None
    db_path = str(tmp_path / "s.db")
    settings = {
        "TFJOBS_BROKER_URL": redis_url,
        "TFJOBS_DATABASE_URL": proxy.url if proxy else f"sqlite:///{db_path}",
    }
    try:
        with running_stack(tmp_path, settings, workers=1, wait_ready=True) as stack:
            with stack.client() as client:
                job_id = client.post("/jobs", json=LONG).json()["id"]
            wait_until(lambda: epoch_of(stack, job_id) >= 2, 120, "epoch 2")
            if proxy is not None:
                proxy.down()
                time.sleep(8)
                proxy.up()
            else:
                with sqlite_locked(db_path):
                    time.sleep(13)  # past the 10 s busy timeout: writes fail "database is locked"
            job = stack.wait_for_job(job_id, timeout=240)
            assert job["status"] == "succeeded", stack.tail_logs()
            assert job["attempts"] == 1
            assert_trained_once_per_epoch(stack, job, tmp_path)
            assert "retrying" in (stack.logs / "worker-1.log").read_text()  # the outage was felt
    finally:
        if proxy is not None:
            proxy.close()


def test_an_outage_longer_than_the_lease_hands_the_job_back_not_fails_it(tmp_path, redis_url, postgres_url):
    proxy = TcpProxy(postgres_url)
    settings = {"TFJOBS_BROKER_URL": redis_url, "TFJOBS_DATABASE_URL": proxy.url, "TFJOBS_LEASE_SECONDS": "4"}
    try:
        with running_stack(tmp_path, settings, workers=1, wait_ready=True) as stack:
            with stack.client() as client:
                job_id = client.post("/jobs", json=LONG).json()["id"]
            wait_until(lambda: epoch_of(stack, job_id) >= 2, 120, "epoch 2")
            proxy.down()
            time.sleep(14)  # three and a half leases
            proxy.up()
            job = stack.wait_for_job(job_id, timeout=240)
            assert job["status"] == "succeeded", stack.tail_logs()
            assert job["attempts"] == 2
            with stack.client() as client:
                lines = [
                    x["message"]
                    for x in client.get(f"/jobs/{job_id}/logs", params={"limit": 1000}).json()["lines"]
                ]
            assert any("resumed from the checkpoint after epoch" in line for line in lines)
            assert_trained_once_per_epoch(stack, job, tmp_path)
    finally:
        proxy.close()
