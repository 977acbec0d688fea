"""Submit → first metric, with a warm worker: a repeated architecture against new ones.

    .venv/bin/python -m bench.submit_latency [--jobs 20]

Two kinds of job, alternating, ``--jobs`` of each: *repeated* — the same residual model
with another learning rate each time, as a sweep's trials or a resubmit are (the
worker reuses its built trainer: tfcore/warm.py) — and *new* — another hidden width
each time, so nothing can be reused (the reference). Each job is submitted with the
worker idle (the previous one finished), then the metrics endpoint is polled every
10 ms until the first point shows. The job's own timestamps split the time: API +
broker (created → started) and worker (started → first point: dataset, model build,
tracing unless reused, first steps).
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
    print(f"machine: {machine()}\nbase spec: {SPEC}; API + 1 warm worker on the embedded default\n")
    results: dict[str, dict[str, list[float]]] = {
        kind: {"total": [], "queue": [], "worker": []} for kind in ("repeated", "new")
    }
    with running_service() as service, httpx.Client(base_url=service.url, timeout=60) as client:

        def first_metric(spec: dict) -> tuple[float, float, float]:
            start = time.perf_counter()
            job = client.post("/jobs", json=spec).json()
            url = f"/jobs/{job['id']}/metrics"
            while not (page := client.get(url, params={"limit": 1}).json())["points"]:
                time.sleep(0.01)
            seen = time.perf_counter() - start
            while (job := client.get(f"/jobs/{job['id']}").json())["status"] in ("queued", "running"):
                time.sleep(0.05)
            assert job["status"] == "succeeded", job
            queue = _ts(job["started_at"]) - _ts(job["created_at"])
            return seen, queue, _ts(page["points"][0]["time"]) - _ts(job["started_at"])

        first_metric(SPEC)  # warms the worker's caches (and builds the repeated architecture)
        for i in range(args.jobs):
            for kind, spec in (
                ("new", {**SPEC, "hidden_units": 31 + i}),
                ("repeated", {**SPEC, "learning_rate": 0.001 * (2 + i % 5)}),
            ):
                for part, value in zip(("total", "queue", "worker"), first_metric(spec), strict=True):
                    results[kind][part].append(value)
    goals = {"repeated": 0.5, "new": 1.5}
    for kind, parts in results.items():
        total = parts["total"]
        print(
            f"{kind:>8} architecture, submit → first metric over {len(total)} jobs: "
            f"p50 {median(total):.3f} s, "
            f"p90 {percentile(total, 90):.3f} s, max {max(total):.3f} s (goal p50 ≤ {goals[kind]} s)"
        )
        print(f"           of which API + broker (created → started): p50 {median(parts['queue']):.3f} s")
        print(f"           of which worker (started → first point):   p50 {median(parts['worker']):.3f} s")
    ratio = median(results["new"]["total"]) / median(results["repeated"]["total"])
    print(f"a repeated architecture reaches its first metric {ratio:.1f}× sooner than a new one")


if __name__ == "__main__":
    main()
