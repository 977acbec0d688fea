"""Submit → first metric, with a warm worker: the design card's minimal spec, 20 jobs.

    .venv/bin/python -m bench.submit_latency [--jobs 20]

Each job is submitted with the worker idle (the previous one finished), then the
metrics endpoint is polled every 10 ms until the first point shows. The job's own
timestamps split the time: API + broker (created → started) and worker (started →
first point: dataset, model build, tracing, first steps).
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import httpx

from bench.common import machine, median, percentile
from bench.service import running_service

SPEC = {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 5}


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {machine()}\nspec: {SPEC}; API + 1 warm worker on the embedded default\n")
    latencies, queue_parts, worker_parts = [], [], []
    with running_service() as service, httpx.Client(base_url=service.url, timeout=60) as client:
        for i in range(args.jobs + 1):  # job 0 warms the worker's caches
            start = time.perf_counter()
            job = client.post("/jobs", json=SPEC).json()
            url = f"/jobs/{job['id']}/metrics"
            while not (page := client.get(url, params={"limit": 1}).json())["points"]:
                time.sleep(0.01)
            seen = time.perf_counter() - start
            while client.get(f"/jobs/{job['id']}").json()["status"] in ("queued", "running"):
                time.sleep(0.05)
            if i == 0:
                continue
            job = client.get(f"/jobs/{job['id']}").json()
            latencies.append(seen)
            queue_parts.append(_ts(job["started_at"]) - _ts(job["created_at"]))
            worker_parts.append(_ts(page["points"][0]["time"]) - _ts(job["started_at"]))
    print(
        f"submit → first metric over {len(latencies)} jobs: p50 {median(latencies):.3f} s, "
        f"p90 {percentile(latencies, 90):.3f} s, max {max(latencies):.3f} s (goal p50 ≤ 1.5 s)"
    )
    print(f"  of which API + broker (created → started): p50 {median(queue_parts):.3f} s")
    print(f"  of which worker (started → first point):   p50 {median(worker_parts):.3f} s")


if __name__ == "__main__":
    main()
