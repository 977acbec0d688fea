"""One job on 1 vs 2 worker processes (a gang under MultiWorkerMirroredStrategy), on the
real service: training throughput, how long a gang takes from admission to its first
step (against a single-process job measured the same way), and how long it takes from
a rank's death to the gang training again.

    python -m bench.multinode [--epochs 6] [--batch-size 64]

The reference is the same spec on one worker, in the same run. On a machine with one
CPU socket both ranks share its cores, so the goal here is correctness and failure
handling, not speed-up (docs/benchmarks.md says what a GPU cluster run needs).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time
from datetime import datetime
from typing import Any

from bench.service import running_service
from harness.stack import Stack, wait_until

SPEC: dict[str, Any] = {
    "model_type": "mlp",
    "loss": "mse",
    "dataset": "synthetic",
    "steps_per_execution": 20,
    "seed": 1,
}
SETTINGS = {
    "TFJOBS_WORKER_ADDRESS": "127.0.0.1",
    "TFJOBS_LEASE_SECONDS": "10",
    "TFJOBS_WORKER_HEARTBEAT_SECONDS": "1",
    "TFJOBS_REPORT_EVERY_SECONDS": "0.2",
}


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def points(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    with stack.client() as client:
        return client.get(f"/jobs/{job_id}/metrics", params={"limit": 10000}).json()["points"]


def run(stack: Stack, spec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with stack.client() as client:
        job_id = client.post("/jobs", json=spec).json()["id"]
    job = stack.wait_for_job(job_id, timeout=900)
    assert job["status"] == "succeeded", job
    return job, points(stack, job_id)


def throughput(found: list[dict[str, Any]]) -> float:
    epochs = [p["values"]["samples_per_second"] for p in found if p["kind"] == "epoch"][1:]  # warm
    return statistics.median(epochs)


def to_first_step(job: dict[str, Any], found: list[dict[str, Any]]) -> float:
    """From the claim (started_at: the gang was admitted, its chief claimed) to the first
    point: spawn, TensorFlow's import, the rendezvous, building, the first compiled call."""
    return min(_time(p["time"]) for p in found) - _time(job["started_at"])


def to_resumption(stack: Stack, spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    with stack.client() as client:
        job_id = client.post("/jobs", json=spec).json()["id"]
    wait_until(lambda: sum(p["kind"] == "epoch" for p in points(stack, job_id)) >= 2, 600, "two epochs")
    before = {p["seq"] for p in points(stack, job_id)}
    victim = [p.pid for p in stack.processes[1:] if p.poll() is None][-1]
    killed = time.time()
    os.kill(victim, signal.SIGKILL)
    stack.start_worker(wait_ready=False)  # the replacement node (it warms up meanwhile)
    job = stack.wait_for_job(job_id, timeout=900)
    assert job["status"] == "succeeded", job
    after = [p for p in points(stack, job_id) if p["seq"] not in before]
    return min(_time(p["time"]) for p in after) - killed, job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    spec = {**SPEC, "epochs": args.epochs, "batch_size": args.batch_size}
    with running_service(workers=2, settings=SETTINGS) as stack:
        single, single_points = run(stack, spec)
        gang, gang_points = run(stack, {**spec, "replicas": 2})
        recovery, recovered = to_resumption(stack, {**spec, "replicas": 2, "epochs": args.epochs * 2})
    one, two = throughput(single_points), throughput(gang_points)
    start_one, start_two = to_first_step(single, single_points), to_first_step(gang, gang_points)
    print(f"{'':34} {'1 process':>12} {'2 ranks':>12} {'ratio':>8}")
    print(f"{'samples/s (median epoch)':34} {one:12.0f} {two:12.0f} {two / one:8.2f}")
    print(f"{'claim to first step, s':34} {start_one:12.2f} {start_two:12.2f} {start_two / start_one:8.2f}")
    print(f"{'final val_loss':34} {single['summary']['val_loss']:12.4f} {gang['summary']['val_loss']:12.4f}")
    print(
        f"rank killed at epoch >= 2 -> training again after {recovery:.1f} s "
        f"(attempts {recovered['attempts']}, succeeded)"
    )


if __name__ == "__main__":
    main()
