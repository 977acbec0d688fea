"""The API under load: 50 concurrent clients submitting and polling for 30 s.

    .venv/bin/python -m bench.api_load [--clients 50] [--seconds 30]

Each client loops: POST /jobs, then GET the job and its metrics page. No worker runs, so
every job stays queued (the queued-per-owner limit is raised for the run). Reports
errors, latency percentiles per route, and the API process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

from bench.common import machine, median, percentile
from bench.service import running_service

SPEC = {"model_type": "mlp", "loss": "mse", "epochs": 1}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def load(url: str, clients: int, seconds: float) -> tuple[dict[str, list[float]], list[str], int]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def call(route: str, method: str, path: str, **kwargs) -> httpx.Response | None:
            start = time.perf_counter()
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.HTTPError as err:
                errors.append(f"{route}: {type(err).__name__}")
                return None
            latencies[route].append(time.perf_counter() - start)
            if response.status_code >= 400:
                errors.append(f"{route}: {response.status_code}")
            return response

        async def user() -> None:
            while time.monotonic() < deadline:
                response = await call("POST /jobs", "POST", "/jobs", json=SPEC)
                if response is None or response.status_code != 201:
                    continue
                job_id = response.json()["id"]
                await call("GET /jobs/{id}", "GET", f"/jobs/{job_id}")
                await call("GET /jobs/{id}/metrics", "GET", f"/jobs/{job_id}/metrics")

        await asyncio.gather(*(user() for _ in range(clients)))
    return latencies, errors, sum(len(v) for v in latencies.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--api-workers", type=int, default=1)
    args = parser.parse_args()
    print(
        f"machine: {machine()}\nAPI: {args.api_workers} uvicorn process(es), SQLite store, "
        f"embedded broker; {args.clients} clients for {args.seconds:.0f} s\n"
    )
    with running_service(
        workers=0, settings={"TFJOBS_MAX_QUEUED_PER_OWNER": "10000000"}, api_workers=args.api_workers
    ) as service:
        peak, stop = [rss_mb(service.api_pid)], threading.Event()

        def sample() -> None:
            while not stop.wait(0.2):
                peak.append(rss_mb(service.api_pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        latencies, errors, total = asyncio.run(load(service.url, args.clients, args.seconds))
        wall = time.perf_counter() - start
        stop.set()
        sampler.join()
    print(
        f"{total:,} requests in {wall:.1f} s ({total / wall:,.0f}/s), errors: {len(errors)}"
        + (f" e.g. {errors[:3]}" if errors else "")
    )
    for route, values in latencies.items():
        print(
            f"  {route:24} n={len(values):>6}  p50 {median(values) * 1000:7.1f} ms  "
            f"p99 {percentile(values, 99) * 1000:7.1f} ms"
        )
    print(f"API peak RSS: {max(peak):.0f} MB (goal ≤ 150 MB); goal POST /jobs p99 ≤ 50 ms, 0 errors")


if __name__ == "__main__":
    main()
