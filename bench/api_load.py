"""The API under load: one client in sequence, then 50 concurrent clients for 30 s.

    .venv/bin/python -m bench.api_load [--clients 50] [--seconds 30] [--api-workers 1]

First one client sends each request alone (``--sequential`` times per route): the cost
of one request through the whole HTTP stack, against ``GET /healthz`` (no store, no
dependencies: the stack's floor, the reference). Then each of the concurrent clients
loops: POST /jobs, then GET the job and its metrics page. No worker runs, so every job
stays queued (the queued-per-owner limit is raised for the run) and the queue only
grows. Reports errors, latency percentiles per route, requests/s, the API processes'
CPU and peak RSS (each process's, and the sum).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from app.store import jobs as store_jobs
from app.store.db import Store
from bench.common import machine, median, percentile, rss_mb
from bench.service import running_service

SPEC = {"model_type": "mlp", "loss": "mse", "epochs": 1}


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's ``--workers`` are children of a supervisor)."""
    pids, i = [pid], 0
    while i < len(pids):
        for children in Path(f"/proc/{pids[i]}/task").glob("*/children"):
            pids += [int(c) for c in children.read_text().split()]
        i += 1
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def sequential(url: str, store_url: str, n: int) -> dict[str, list[float]]:
    """Each request alone, one client: the cost of one request through the HTTP stack.
    The standard library's ``http.client`` on one keep-alive connection: the lightest
    client, so the figures are the server's (httpx adds ~0.3 ms a request here). GET
    /jobs/{id} twice: a queued job (its place in the queue is computed) and a running one
    (the usual poll; marked running in the store: no worker runs)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    body, headers = json.dumps(SPEC), {"Content-Type": "application/json"}

    def call(method: str, path: str) -> dict[str, Any]:
        connection.request(method, path, body=body if method == "POST" else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        assert response.status < 300, data
        return json.loads(data)

    queued, running = call("POST", "/jobs")["id"], call("POST", "/jobs")["id"]
    store = Store(store_url)
    with store.session() as session:
        store_jobs.claim_job(session, job_id=running, hostname="bench", device="CPU")
    store.dispose()
    routes = {
        "GET /healthz (floor)": ("GET", "/healthz"),
        "GET /jobs/{id} queued": ("GET", f"/jobs/{queued}"),
        "GET /jobs/{id} running": ("GET", f"/jobs/{running}"),
        "GET /jobs/{id}/metrics": ("GET", f"/jobs/{running}/metrics"),
        "POST /jobs": ("POST", "/jobs"),
    }
    timings: dict[str, list[float]] = defaultdict(list)
    for _ in range(n):
        for route, (method, path) in routes.items():
            start = time.perf_counter()
            call(method, path)
            timings[route].append(time.perf_counter() - start)
    connection.close()
    return timings


async def load(
    url: str, clients: int, seconds: float, library: str
) -> tuple[dict[str, list[float]], list[str], int]:
    """``clients`` closed-loop users for ``seconds``. aiohttp by default: httpx's async
    client spent ~4.8 ms of CPU a request here, as much as the API itself, on the same
    2 cores (``--client httpx`` shows it)."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    async def users(request: Callable[[str, str, dict | None], Awaitable[tuple[int, Any]]]) -> None:
        async def call(route: str, method: str, path: str, body: dict | None = None) -> Any:
            start = time.perf_counter()
            try:
                status, data = await request(method, path, body)
            except (TimeoutError, aiohttp.ClientError, httpx.HTTPError) as err:
                errors.append(f"{route}: {type(err).__name__}")
                return None
            latencies[route].append(time.perf_counter() - start)
            if status >= 400:
                errors.append(f"{route}: {status}")
                return None
            return data

        async def user() -> None:
            while time.monotonic() < deadline:
                job = await call("POST /jobs", "POST", "/jobs", SPEC)
                if job is None:
                    continue
                await call("GET /jobs/{id}", "GET", f"/jobs/{job['id']}")
                await call("GET /jobs/{id}/metrics", "GET", f"/jobs/{job['id']}/metrics")

        await asyncio.gather(*(user() for _ in range(clients)))

    if library == "httpx":
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

            async def with_httpx(method: str, path: str, body: dict | None) -> tuple[int, Any]:
                response = await client.request(method, path, json=body)
                return response.status_code, response.json()

            await users(with_httpx)
    else:
        connector = aiohttp.TCPConnector(limit=clients)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

            async def with_aiohttp(method: str, path: str, body: dict | None) -> tuple[int, Any]:
                async with session.request(method, path, json=body) as response:
                    return response.status, await response.json()

            await users(with_aiohttp)
    return latencies, errors, sum(len(v) for v in latencies.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--client", choices=["aiohttp", "httpx"], default="aiohttp", help="load generator")
    parser.add_argument("--database-url", help="PostgreSQL instead of the embedded SQLite")
    parser.add_argument("--sequential", type=int, default=200, help="requests per route, one client")
    args = parser.parse_args()
    print(
        f"machine: {machine()}\nAPI: {args.api_workers} uvicorn process(es), "
        f"{'PostgreSQL' if args.database_url else 'SQLite'} store, "
        f"embedded broker; {args.clients} clients for {args.seconds:.0f} s\n"
    )
    with running_service(
        workers=0,
        settings={
            "TFJOBS_MAX_QUEUED_PER_OWNER": "10000000",
            **({"TFJOBS_DATABASE_URL": args.database_url} if args.database_url else {}),
        },
        api_workers=args.api_workers,
    ) as service:
        pids = process_tree(service.api_pid)
        store_url = args.database_url or f"sqlite:///{service.data_dir / 'tfjobs.db'}"
        timings = sequential(service.url, store_url, args.sequential)
        print(
            f"one client, each request alone ({args.sequential} of each; the queue grows to "
            f"{args.sequential} jobs):"
        )
        for route, values in timings.items():
            print(
                f"  {route:24} p50 {median(values) * 1000:6.2f} ms  "
                f"p99 {percentile(values, 99) * 1000:6.2f} ms"
            )
        print("  goals: GET /jobs/{id} p50 ≤ 2 ms, POST /jobs p50 ≤ 5 ms\n")
        peaks = {pid: rss_mb(pid) for pid in pids}
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.2):
                for pid in pids:
                    peaks[pid] = max(peaks[pid], rss_mb(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start, cpu_start, own_start = time.perf_counter(), cpu_seconds(pids), cpu_seconds([os.getpid()])
        latencies, errors, total = asyncio.run(load(service.url, args.clients, args.seconds, args.client))
        wall = time.perf_counter() - start
        cpu = cpu_seconds(pids) - cpu_start
        own = cpu_seconds([os.getpid()]) - own_start
        stop.set()
        sampler.join()
    print(
        f"{args.clients} concurrent clients: {total:,} requests in {wall:.1f} s ({total / wall:,.0f}/s), "
        f"errors: {len(errors)}" + (f" e.g. {errors[:3]}" if errors else "")
    )
    for route, values in latencies.items():
        print(
            f"  {route:24} n={len(values):>6}  p50 {median(values) * 1000:7.1f} ms  "
            f"p99 {percentile(values, 99) * 1000:7.1f} ms"
        )
    print(
        f"API CPU: {cpu / wall:.2f} cores busy, {cpu / total * 1000:.2f} ms of CPU per request; "
        f"peak RSS per process: {', '.join(f'{v:.0f}' for v in peaks.values())} MB "
        f"(sum {sum(peaks.values()):.0f} MB; goal ≤ 150 MB per API process)"
    )
    print(f"the load generator (this process): {own / wall:.2f} cores busy of {os.cpu_count()}")
    print("goals: ≥ 4× ~100 requests/s, POST /jobs p99 ≤ 50 ms, 0 errors")


if __name__ == "__main__":
    main()
