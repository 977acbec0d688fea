"""The scheduler with a deep queue (issue 14's goal: slot free → next job started, p50 ≤ 50 ms
and p99 ≤ 200 ms, with 10,000 queued jobs from 100 owners; submit latency unchanged).

    .venv/bin/python -m bench.scheduler [--jobs 10000] [--owners 100] [--rounds 200]

On SQLite and on the machine's PostgreSQL, with the machine's Redis as the broker. One
worker slot; each round: the running job ends (committed) → a scheduler pass picks the
next job by fair share and sends it to the worker's queue in Redis → the message is
taken off that queue (BLPOP, as the Celery worker's consumer does) → the job is claimed.
The round's time is the latency. Submit: storing a job plus the scheduler pass after it,
with the 10,000 waiting, against the same on an empty store (the reference, same run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis
from sqlalchemy import func, select

from app.core.broker import make_celery
from app.core.config import Settings
from app.scheduler import dispatch
from app.store import jobs as store_jobs
from app.store import workers as store_workers
from app.store.db import Store, migrate
from app.store.tables import Job
from bench.common import machine, percentile
from harness.services import PG_ADMIN_URL, REDIS_URL

QUEUE = "tfjobs-w-bench-1"
SPEC = {"model_type": "mlp", "loss": "mse", "epochs": 1}


def fill(store: Store, jobs: int, owners: int) -> None:
    with store.session() as session:
        for i in range(jobs):
            store_jobs.create_job(
                session, spec={**SPEC, "priority": i % 10}, epochs=1, owner=f"owner-{i % owners}"
            )


def slot(store: Store) -> None:
    with store.session() as session:
        store_workers.beat(
            session, name=f"{QUEUE}:1", hostname="bench", pid=1, device="CPU", current_job=None, queue=QUEUE
        )


def submit_seconds(store: Store, celery, settings: Settings, n: int = 50) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        with store.session() as session:
            store_jobs.create_job(session, spec=SPEC, epochs=1, owner="submitter")
        dispatch(store, celery, settings)
        times.append(time.perf_counter() - started)
    return times


def rounds(store: Store, celery, settings: Settings, broker: redis.Redis, n: int) -> list[float]:
    latencies = []
    running = None
    for _ in range(n + 1):
        started = time.perf_counter()
        if running is not None:
            with store.session() as session:
                store_jobs.finish_job(session, job_id=running, status="succeeded")
        sent = dispatch(store, celery, settings)
        assert len(sent) == 1, sent
        _, message = broker.blpop([QUEUE], timeout=5) or (None, None)
        assert message is not None, "the message never reached the worker's queue"
        with store.session() as session:
            claimed = store_jobs.claim_job(
                session, job_id=sent[0][0], hostname="bench", device="CPU", queue=QUEUE
            )
            assert claimed is not None
        if running is not None:
            latencies.append(time.perf_counter() - started)
        running = sent[0][0]
    return latencies


def plan(store: Store) -> str:
    """How the database runs the scheduler's hottest read: each owner's oldest waiting job."""
    query = (
        select(Job.owner, func.min(Job.num))
        .where(
            Job.status == "queued",
            Job.dispatched_to.is_(None),
            Job.cancel_requested.is_(False),
            Job.device_request.in_(["auto", "cpu"]),
        )
        .group_by(Job.owner)
    )
    with store.engine.connect() as connection:
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        if connection.dialect.name == "sqlite":
            return "; ".join(str(r[-1]) for r in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        return "; ".join(r[0].strip() for r in connection.exec_driver_sql("EXPLAIN " + sql))


def measure(label: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    settings = Settings(broker_url=REDIS_URL, database_url=url)
    celery = make_celery(settings)
    broker = redis.Redis.from_url(REDIS_URL)
    broker.delete(QUEUE)
    store = Store(url)
    migrate(store.engine)
    empty = submit_seconds(store, celery, settings)  # no worker, few jobs: the reference
    with store.session() as session:
        session.query(Job).delete()
    started = time.perf_counter()
    fill(store, args.jobs, args.owners)
    seconds = time.perf_counter() - started
    print(f"{label}: {args.jobs:,} jobs from {args.owners} owners stored in {seconds:.1f} s")
    print(f"{label}: plan of the per-owner head query: {plan(store)}")
    deep = submit_seconds(store, celery, settings)
    slot(store)
    latencies = rounds(store, celery, settings, broker, args.rounds)
    store.dispose()
    return {
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 99),
        "submit_deep": statistics.median(deep),
        "submit_empty": statistics.median(empty),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--owners", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = measure("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    name = f"tfjobs_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        results["PostgreSQL"] = measure("PostgreSQL", f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", args)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(
        f"\n{args.rounds} rounds of slot free → next job started, {args.jobs:,} queued, {args.owners} owners"
    )
    print()
    print("| store | dispatch p50 | dispatch p99 | submit p50, deep queue | reference: submit p50, empty |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, r in results.items():
        print(
            f"| {label} | {r['p50'] * 1000:.1f} ms | {r['p99'] * 1000:.1f} ms | "
            f"{r['submit_deep'] * 1000:.1f} ms | {r['submit_empty'] * 1000:.1f} ms |"
        )
    for label, r in results.items():
        met = r["p50"] <= 0.05 and r["p99"] <= 0.2
        print(
            f"{label}: dispatch goal (p50 ≤ 50 ms, p99 ≤ 200 ms) {'met' if met else 'MISSED'}; "
            f"submit with the deep queue {r['submit_deep'] / r['submit_empty']:.2f}× the empty store's"
        )


if __name__ == "__main__":
    main()
