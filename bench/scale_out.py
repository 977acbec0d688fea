"""Scale-out: how fast one vs two worker processes drain a queue of small jobs.

    .venv/bin/python -m bench.scale_out [--jobs 16]

Same jobs (the card's minimal spec with 3 epochs), submitted all at once to an idle,
warm service; the figure is the wall time from the first submit to the last job done.
"""

from __future__ import annotations

import argparse
import time

import httpx

from bench.common import machine
from bench.service import running_service

SPEC = {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 3}


def drain(workers: int, jobs: int) -> float:
    with (
        running_service(workers=workers) as service,
        httpx.Client(base_url=service.url, timeout=60) as client,
    ):
        start = time.perf_counter()
        ids = [client.post("/jobs", json=SPEC).json()["id"] for _ in range(jobs)]
        pending = set(ids)
        while pending:
            for job_id in list(pending):
                status = client.get(f"/jobs/{job_id}").json()["status"]
                if status not in ("queued", "running"):
                    assert status == "succeeded", status
                    pending.discard(job_id)
            time.sleep(0.1)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16)
    args = parser.parse_args()
    print(f"machine: {machine()}\n{args.jobs} jobs of {SPEC}\n")
    one = drain(1, args.jobs)
    two = drain(2, args.jobs)
    print(f"1 worker:  {one:6.1f} s  ({args.jobs / one:.2f} jobs/s)")
    print(f"2 workers: {two:6.1f} s  ({args.jobs / two:.2f} jobs/s)")
    print(f"speed-up: {one / two:.2f}× (ideal 2×)")


if __name__ == "__main__":
    main()
