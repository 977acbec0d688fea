"""Metrics reads and ingest: a job with 100,000 points.

    .venv/bin/python -m bench.metrics_reads [--points 100000] [--clients 50] [--api-workers 1]
                                            [--database-url postgresql://...]

1. Ingest: 100,000 points through the worker's StoreReporter (its background thread
   batches them into the store) — points per second.
2. Pages of 1,000 by cursor from the real API (uvicorn, separate process) with 50
   concurrent clients, each reading random pages for a fixed count: p50 and p99.
3. The whole series, page after page, by one client.
Also prints the store's query plan for the cursor read.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable

import aiohttp
import httpx
from sqlalchemy import text

from app.store import jobs as store_jobs
from app.store.db import Store, migrate
from bench.common import machine, median, percentile
from bench.service import running_service
from tfcore.report import Point
from worker.reporter import StoreReporter

VALUES = {"loss": 0.25, "mae": 0.4, "rmse": 0.5, "lr": 0.001}


def mixed_point(i: int) -> Point:
    """The i-th of a training run's points: a step point, and every 100th an epoch point."""
    return Point("epoch" if i % 100 == 0 else "step", i // 100 + 1, i, VALUES)


def ingest(store: Store, n: int, point: Callable[[int], Point] = mixed_point) -> tuple[str, float]:
    """``n`` points (``point(1)`` … ``point(n)``) through the worker's StoreReporter into
    a new running job: its id and points/s."""
    with store.session() as session:
        job = store_jobs.create_job(session, spec={"model_type": "mlp"}, epochs=1000)
        store_jobs.claim_job(session, job_id=job.id, hostname="bench", device="CPU")
    reporter = StoreReporter(store, job.id, attempt=1)
    start = time.perf_counter()
    for i in range(1, n + 1):
        reporter.report(point(i))
    reporter.close()
    seconds = time.perf_counter() - start
    with store.session() as session:
        assert store_jobs.get_job(session, job_id=job.id).last_seq >= n
    return job.id, n / seconds


def query_plan(store: Store, job_id: str) -> str:
    query = "SELECT seq, payload FROM metric_points WHERE job_id = :j AND seq > :a ORDER BY seq LIMIT 1000"
    with store.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.execute(text("EXPLAIN QUERY PLAN " + query), {"j": job_id, "a": 5000})
            return "; ".join(str(r[-1]) for r in rows)
        rows = connection.execute(text("EXPLAIN " + query), {"j": job_id, "a": 5000})
        return "; ".join(r[0].strip() for r in rows)


async def concurrent_pages(
    url: str, job_id: str, n_points: int, clients: int, per_client: int
) -> list[float]:
    """Random pages of 1,000 by ``clients`` concurrent readers (aiohttp: a light load
    generator, see bench/api_load.py), each page checked whole."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        url, connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:

        async def reader(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(per_client):
                after = rng.randrange(0, n_points - 1000)
                start = time.perf_counter()
                async with session.get(
                    f"/jobs/{job_id}/metrics", params={"after": after, "limit": 1000}
                ) as r:
                    body = await r.read()
                latencies.append(time.perf_counter() - start)
                assert r.status == 200 and body.count(b'"seq"') == 1000

        await asyncio.gather(*(reader(i) for i in range(clients)))
    return latencies


def whole_series(url: str, job_id: str) -> tuple[float, int]:
    with httpx.Client(base_url=url, timeout=30) as client:
        start, after, count = time.perf_counter(), 0, 0
        while True:
            page = client.get(f"/jobs/{job_id}/metrics", params={"after": after, "limit": 1000}).json()
            if not page["points"]:
                return time.perf_counter() - start, count
            count += len(page["points"])
            after = page["next"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests-per-client", type=int, default=20)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    settings = {"TFJOBS_DATABASE_URL": args.database_url} if args.database_url else {}
    with running_service(workers=0, settings=settings, api_workers=args.api_workers) as service:
        url = args.database_url or f"sqlite:///{service.data_dir / 'tfjobs.db'}"
        store = Store(url)
        migrate(store.engine)
        print(f"store: {store.engine.dialect.name}; API: {args.api_workers} uvicorn process(es)\n")
        job_id, rate = ingest(store, args.points)
        print(
            f"ingest: {args.points:,} points through StoreReporter in batches: {rate:,.0f} points/s "
            "(goal ≥ 50,000/s)"
        )
        print(f"query plan: {query_plan(store, job_id)}")
        if store.engine.dialect.name == "postgresql":
            # Right after a bulk load the planner still has the empty table's statistics
            # (a bitmap scan and a sort); autovacuum analyzes within a minute or so, and a
            # live job's rows arrive over minutes. Read what a service reads then.
            with store.engine.begin() as connection:
                connection.execute(text("ANALYZE metric_points"))
            print(f"query plan after ANALYZE (what autovacuum does): {query_plan(store, job_id)}")
        store.dispose()
        seconds, count = whole_series(service.url, job_id)
        print(f"whole series: {count:,} points in {seconds:.3f} s by one client (goal ≤ 0.5 s)")
        t0 = time.perf_counter()
        latencies = asyncio.run(
            concurrent_pages(service.url, job_id, args.points, args.clients, args.requests_per_client)
        )
        wall = time.perf_counter() - t0
        print(
            f"pages of 1,000 with {args.clients} concurrent clients ({len(latencies)} requests, "
            f"{len(latencies) / wall:,.0f} pages/s): p50 {median(latencies) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 99) * 1000:.1f} ms (goal p50 ≤ 10 ms, p99 ≤ 25 ms)"
        )
        single = asyncio.run(concurrent_pages(service.url, job_id, args.points, 1, 100))
        print(
            f"pages of 1,000 with 1 client: p50 {median(single) * 1000:.1f} ms, "
            f"p99 {percentile(single, 99) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
