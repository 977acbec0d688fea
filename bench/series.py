"""The chart series endpoint at 100,000 points (issue 12's goal: under 50 ms to 2,000 points).

    .venv/bin/python -m bench.series [--points 100000] [--max-points 2000]

A job with 100,000 step points (ingested through the worker's StoreReporter) behind the
real API (uvicorn, its own process). Prints the median latency and bytes of
``GET /jobs/{id}/metrics/series?kind=step&names=loss&max_points=N`` and, as the reference
measured in the same run, of the one page of 1,000 points a client would otherwise fetch
100 of.
"""

from __future__ import annotations

import argparse
import time

import httpx

from app.store import points as store_points
from app.store.db import Store, migrate
from bench.common import machine, median
from bench.metrics_reads import ingest
from bench.service import running_service


def timed(client: httpx.Client, path: str, params: dict, runs: int) -> tuple[float, int]:
    latencies, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, params=params)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        size = len(response.content)
    return median(latencies), size


def read_all_pages(client: httpx.Client, job_id: str) -> tuple[float, int]:
    """Every point of the job through the cursor pages, as a client reads a whole history."""
    started, after, size = time.perf_counter(), 0, 0
    while True:
        response = client.get(f"/jobs/{job_id}/metrics", params={"after": after, "limit": 1000})
        response.raise_for_status()
        page = response.json()
        size += len(response.content)
        if not page["points"]:
            return time.perf_counter() - started, size
        after = page["next"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--max-points", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with running_service(workers=0) as service:
        store = Store(f"sqlite:///{service.data_dir / 'tfjobs.db'}")
        migrate(store.engine)
        job_id, _ = ingest(store, args.points)
        with store.session() as session:
            steps = sum(map(len, store_points.read_columns(session, job_id=job_id, kind="step", names=[])))
        store.dispose()
        with httpx.Client(base_url=service.url, timeout=60) as client:
            series, series_bytes = timed(
                client,
                f"/jobs/{job_id}/metrics/series",
                {"kind": "step", "names": "loss", "max_points": args.max_points},
                args.runs,
            )
            page, page_bytes = timed(
                client, f"/jobs/{job_id}/metrics", {"after": 0, "limit": 1000}, args.runs
            )
            # every point, as columns (no downsampling): the "whole series" read
            whole, whole_bytes = timed(
                client,
                f"/jobs/{job_id}/metrics/series",
                {"kind": "step", "names": "loss", "max_points": 100_000},
                max(3, args.runs // 3),
            )
            pages, pages_bytes = read_all_pages(client, job_id)
    print(f"{steps:,} step points; median of {args.runs} requests each\n")
    print("| request | median | bytes |")
    print("| --- | ---: | ---: |")
    print(
        f"| series, loss, {steps:,} → ≤ {args.max_points:,} points "
        f"| {series * 1000:.1f} ms | {series_bytes:,} |"
    )
    print(f"| reference: one page of 1,000 points | {page * 1000:.1f} ms | {page_bytes:,} |")
    label = f"whole series, loss, all {steps:,} step points as columns"
    print(f"| {label} | {whole * 1000:.1f} ms | {whole_bytes:,} |")
    print(f"| reference: every point, paging 1,000 at a time | {pages * 1000:.1f} ms | {pages_bytes:,} |")
    print(f"\nthe series costs {series / page:.1f} pages' time and replaces {steps // 1000} pages")


if __name__ == "__main__":
    main()
