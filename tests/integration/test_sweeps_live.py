"""Sweeps with real worker processes, the machine's Redis, and the store on SQLite and on
PostgreSQL: a grid sweep trains every point and names the lowest as best; an ASHA sweep
prunes trials and trains fewer epochs than its budget; killing the API and a worker
mid-sweep still ends with exactly max_trials trials."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest

from harness.stack import TFJOBS, Stack, healthy, running_stack, wait_until

GRID = {
    "spec": {"model_type": "mlp", "loss": "huber", "epochs": 3, "dataset": "synthetic"},
    "space": {"threshold": {"choice": [0.5, 2.0]}, "learning_rate": {"choice": [0.0003, 0.01]}},
    "method": "grid",
    "metric": "val_loss",
    "max_concurrent": 2,
}
# Learning rates across four decades: the slow ones fall behind at the first rungs.
ASHA = {
    "spec": {"model_type": "mlp", "loss": "mse", "epochs": 9, "dataset": "synthetic"},
    "space": {"learning_rate": {"log_uniform": [1e-5, 3e-2]}},
    "method": "random",
    "max_trials": 8,
    "max_concurrent": 2,
    "seed": 3,
    "pruner": {"type": "asha", "min_epochs": 1, "reduction_factor": 3},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"sweeps-{request.param}")
    import redis

    from harness.services import REDIS_URL

    redis.Redis.from_url(REDIS_URL).flushdb()
    database = (
        f"sqlite:///{tmp / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    settings = {"TFJOBS_BROKER_URL": REDIS_URL, "TFJOBS_DATABASE_URL": database, "TFJOBS_LEASE_SECONDS": "6"}
    with running_stack(tmp, settings, workers=2) as s:
        yield s
    redis.Redis.from_url(REDIS_URL).flushdb()


def finished_sweep(stack: Stack, sweep_id: str, timeout: float = 300) -> dict:
    sweep: dict = {}

    def done() -> bool:
        sweep.update(httpx.get(f"{stack.url}/sweeps/{sweep_id}", timeout=10).json())
        return sweep["status"] in ("succeeded", "failed", "cancelled")

    wait_until(done, timeout, f"sweep {sweep_id} to end", logs=stack.tail_logs)
    return sweep


def trials(stack: Stack, sweep_id: str) -> list[dict]:
    return httpx.get(f"{stack.url}/sweeps/{sweep_id}/trials", timeout=10).json()["items"]


def test_a_grid_sweep_trains_every_point_and_its_best_is_the_lowest(stack):
    made = httpx.post(f"{stack.url}/sweeps", json=GRID, timeout=30)
    assert made.status_code == 201, made.text
    sweep = finished_sweep(stack, made.json()["id"])
    done = trials(stack, sweep["id"])
    assert sweep["status"] == "succeeded" and sweep["counts"] == {"succeeded": 4}
    assert len({tuple(sorted(t["params"].items())) for t in done}) == 4
    lowest = min(done, key=lambda t: t["value"])
    assert sweep["best"]["job_id"] == lowest["job_id"] and sweep["best"]["value"] == lowest["value"]
    for trial in done:  # each trial is a job: its value is its last epoch's val_loss
        job = httpx.get(f"{stack.url}/jobs/{trial['job_id']}").json()
        assert job["sweep_id"] == sweep["id"] and job["params"] == trial["params"]
        points = httpx.get(f"{stack.url}/jobs/{trial['job_id']}/metrics").json()["points"]
        last_epoch = [p for p in points if p["kind"] == "epoch"][-1]
        assert last_epoch["values"]["val_loss"] == trial["value"] and trial["epochs_trained"] == 3
    artifacts = httpx.get(f"{stack.url}/jobs/{sweep['best']['job_id']}/artifacts").json()["items"]
    assert "model.keras" in {a["name"] for a in artifacts}


def test_an_asha_sweep_prunes_trials_and_trains_fewer_epochs_than_its_budget(stack):
    made = httpx.post(f"{stack.url}/sweeps", json=ASHA, timeout=30)
    assert made.status_code == 201, made.text
    sweep = finished_sweep(stack, made.json()["id"], timeout=400)
    done = trials(stack, sweep["id"])
    assert sweep["status"] == "succeeded" and len(done) == 8
    pruned = [t for t in done if t["status"] == "pruned"]
    assert pruned, done
    assert all(t["epochs_trained"] < 9 and t["value"] is not None for t in pruned)
    assert sum(t["epochs_trained"] for t in done) < 8 * 9
    job = httpx.get(f"{stack.url}/jobs/{pruned[0]['job_id']}").json()
    assert job["status"] == "pruned" and job["error"] is None
    logs = httpx.get(f"{stack.url}/jobs/{pruned[0]['job_id']}/logs").json()["lines"]
    assert any("pruned after epoch" in line["message"] for line in logs)


@pytest.mark.chaos
def test_killing_the_api_and_a_worker_mid_sweep_still_makes_exactly_max_trials(stack):
    body = {**GRID, "spec": {**GRID["spec"], "epochs": 6}, "max_concurrent": 2}
    sweep_id = httpx.post(f"{stack.url}/sweeps", json=body, timeout=30).json()["id"]
    wait_until(lambda: any(t["status"] == "running" for t in trials(stack, sweep_id)), 120, "a running trial")
    api, worker = stack.processes[0], stack.processes[1]
    api.send_signal(signal.SIGKILL)
    worker.send_signal(signal.SIGKILL)
    api.wait(), worker.wait()
    port = stack.url.rsplit(":", 1)[1]
    stack._spawn([*TFJOBS, "api", "--port", port], "api-again")  # killed ones stay listed, stopped
    wait_until(lambda: healthy(stack.url), 60, "the API again", logs=stack.tail_logs)
    stack.start_worker()
    sweep = finished_sweep(stack, sweep_id, timeout=400)
    done = trials(stack, sweep_id)
    assert sweep["status"] == "succeeded" and len(done) == 4  # max_trials (the grid), none twice
    assert (
        len({t["number"] for t in done}) == 4 and len({tuple(sorted(t["params"].items())) for t in done}) == 4
    )
    assert all(t["status"] == "succeeded" for t in done)
