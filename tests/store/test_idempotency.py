"""One job per Idempotency-Key, on SQLite and PostgreSQL: retries replay, another body is
409, and requests racing with one key make one row (the loser of the insert replays the
winner's: the path app/idempotency.py takes on an IntegrityError)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from app.errors import Conflict
from app.idempotency import body_hash, create_once
from app.store import jobs as store_jobs
from app.store import sweeps as store_sweeps
from app.store.db import Store, migrate
from app.store.tables import Job
from tests.store.conftest import TABLES

SPEC = {"model_type": "mlp", "loss": "mse", "epochs": 2}


def submit(store, key, spec=SPEC, barrier=None):
    def create(session, key):
        if barrier is not None:  # both requests have looked for the key and found none
            barrier.wait(timeout=10)
        job = store_jobs.create_job(
            session, spec=spec, epochs=2, owner="ann", idempotency_key=key, request_hash=body_hash(spec)
        )
        return job.id

    return create_once(
        store,
        owner="ann",
        key=key,
        fingerprint=body_hash(spec),
        find=store_jobs.find_job_by_key,
        create=create,
        what="job spec",
    )


def count_jobs(store):
    # PostgreSQL's test database is shared by the session: count this test's owner's only
    with store.session() as session:
        return session.query(Job).filter(Job.owner == "ann").count()


def test_a_retry_replays_and_another_body_is_refused(store):
    job_id, created = submit(store, "k1")
    assert created
    assert submit(store, "k1") == (job_id, False)
    with pytest.raises(Conflict, match="different job spec"):
        submit(store, "k1", spec={**SPEC, "epochs": 3})
    assert submit(store, None)[1] and submit(store, None)[1]  # no key: every request creates
    assert count_jobs(store) == 3


@pytest.fixture
def pg_store(postgres_url):
    """PostgreSQL only: two writers must be able to race (SQLite takes one writer at a time,
    so there its requests with one key run in turn, as the test above covers)."""
    store = Store(postgres_url)
    migrate(store.engine)
    yield store
    with store.engine.begin() as connection:
        for table in TABLES:
            connection.execute(text(f"DELETE FROM {table}"))
    store.dispose()


def test_racing_requests_with_one_key_make_one_job(pg_store):
    store = pg_store
    barrier = threading.Barrier(2)
    results: list[tuple[str, bool]] = []
    threads = [
        threading.Thread(target=lambda: results.append(submit(store, "race", barrier=barrier))) for _ in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and results[0][0] == results[1][0]
    assert sorted(created for _, created in results) == [False, True]
    assert count_jobs(store) == 1


def test_sweeps_use_the_same_rule(store):
    def submit_sweep(body):
        def create(session, key):
            return store_sweeps.create_sweep(
                session,
                owner="ann",
                spec=SPEC,
                space={},
                idempotency_key=key,
                request_hash=body_hash(body),
                method="grid",
                metric="val_loss",
                mode="min",
                max_trials=1,
                max_concurrent=1,
                seed=0,
            ).id

        return create_once(
            store,
            owner="ann",
            key="s",
            fingerprint=body_hash(body),
            find=store_sweeps.find_sweep_by_key,
            create=create,
            what="sweep",
        )

    first = submit_sweep({"a": 1})
    assert first[1]
    assert submit_sweep({"a": 1}) == (first[0], False)
    with pytest.raises(Conflict, match="different sweep"):
        submit_sweep({"a": 2})
