"""One job on several workers, as users run it: an API and real worker processes (each
its own Celery node and queue), a ``replicas: 2`` job trained by two of them under
MultiWorkerMirroredStrategy, each rank in a child of its worker.

- it succeeds, reports each epoch once, lists both ranks, and ends within 15 % of the
  val_loss of the same spec on one worker;
- a rank's worker SIGKILLed mid-run breaks the gang: every rank stops, the job goes back
  to the queue as one unit and resumes from the chief's checkpoint on two free workers,
  every epoch reported exactly once;
- a gang larger than the cluster waits, saying so, while a smaller job behind it runs;
- cancel stops every rank and frees their slots.
"""

from __future__ import annotations

import os
import signal

import pytest

from harness.stack import running_stack, wait_until

pytestmark = pytest.mark.chaos

SPEC = {
    "model_type": "mlp",
    "loss": "mse",
    "dataset": "synthetic",
    "epochs": 6,
    "batch_size": 32,
    "steps_per_execution": 10,
    "seed": 3,
}
SETTINGS = {
    "TFJOBS_WORKER_ADDRESS": "127.0.0.1",
    "TFJOBS_LEASE_SECONDS": "10",
    "TFJOBS_WORKER_HEARTBEAT_SECONDS": "1",
    "TFJOBS_DISPATCH_SECONDS": "0.5",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("gang"), SETTINGS, workers=2, wait_ready=True) as stack:
        yield stack


def submit(stack, spec):
    with stack.client() as client:
        response = client.post("/jobs", json=spec)
        assert response.status_code == 201, response.text
        return response.json()["id"]


def epochs_reported(stack, job_id):
    with stack.client() as client:
        points = client.get(f"/jobs/{job_id}/metrics", params={"limit": 1000}).json()["points"]
    return [p["epoch"] for p in points if p["kind"] == "epoch"]


def worker_pids(stack):
    return [p.pid for p in stack.processes[1:] if p.poll() is None]


def test_two_ranks_train_one_job(stack):
    gang = submit(stack, {**SPEC, "replicas": 2})
    job = stack.wait_for_job(gang, timeout=300)
    assert job["status"] == "succeeded", (job["error"], job["attempt_history"], stack.tail_logs()[-6000:])
    assert epochs_reported(stack, gang) == [1, 2, 3, 4, 5, 6]
    (attempt,) = job["attempt_history"]
    assert [r["rank"] for r in attempt["ranks"]] == [0, 1]
    alone = stack.wait_for_job(submit(stack, SPEC), timeout=300)
    together, single = job["summary"]["val_loss"], alone["summary"]["val_loss"]
    assert abs(together - single) <= 0.15 * single, (together, single)
    with stack.client() as client:
        files = {a["name"] for a in client.get(f"/jobs/{gang}/artifacts").json()["items"]}
    assert {"model.keras", "tensorboard.tar.gz"} <= files


def test_a_gang_larger_than_the_cluster_waits_while_a_small_job_runs(stack):
    big = submit(stack, {**SPEC, "replicas": 3, "batch_size": 33})
    small = submit(stack, {**SPEC, "epochs": 1})
    with stack.client() as client:
        queue = client.get(f"/jobs/{big}").json()["queue"]
        assert queue["reason"] == "waiting for 3 workers (2 alive)"
    assert stack.wait_for_job(small)["status"] == "succeeded"
    with stack.client() as client:
        assert client.get(f"/jobs/{big}").json()["status"] == "queued"
        assert client.post(f"/jobs/{big}/cancel").status_code in (200, 202)


def test_cancel_stops_every_rank_and_frees_their_slots(stack):
    gang = submit(stack, {**SPEC, "replicas": 2, "epochs": 40})
    wait_until(lambda: epochs_reported(stack, gang)[-1:] >= [1], 180, "the gang's first epoch")
    with stack.client() as client:
        assert client.post(f"/jobs/{gang}/cancel").status_code in (200, 202)
    assert stack.wait_for_job(gang, timeout=120)["status"] == "cancelled"
    after = stack.wait_for_job(submit(stack, {**SPEC, "replicas": 2, "epochs": 1}), timeout=300)
    assert after["status"] == "succeeded"  # both slots were free again


def test_a_killed_rank_restarts_the_gang_which_resumes_and_succeeds(stack):
    gang = submit(stack, {**SPEC, "replicas": 2, "epochs": 8, "batch_size": 8})
    wait_until(lambda: len(epochs_reported(stack, gang)) >= 3, 300, "three epochs")
    with stack.client() as client:  # every rank is on the job (GET /workers shows each)
        assert [w["job"] for w in client.get("/workers").json()].count(gang) == 2
    os.kill(worker_pids(stack)[-1], signal.SIGKILL)  # the node of one rank dies
    stack.start_worker(wait_ready=True)  # a replacement: the gang needs two free workers
    job = stack.wait_for_job(gang, timeout=600)
    assert job["status"] == "succeeded", (job["error"], job["attempt_history"], stack.tail_logs()[-6000:])
    assert job["attempts"] >= 2 and job["attempt_history"][0]["ended_as"] == "lease_lost"
    assert epochs_reported(stack, gang) == list(range(1, 9))  # none lost, none repeated
