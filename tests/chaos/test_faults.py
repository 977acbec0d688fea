"""Faults with real processes: killed and stopped workers, duplicate messages, a flushed Redis,
a burst of retried submits. The store is the source of truth; nothing is lost or run twice."""

from __future__ import annotations

import csv
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from app.core.broker import TaskName, make_celery
from app.core.config import Settings
from app.store import workers as store_workers
from app.store.db import Store
from harness.services import REDIS_URL
from harness.stack import LONG_JOB, Stack, running_stack, wait_until
from tests.roundtrip import keras_reloads

pytestmark = pytest.mark.chaos

LONG = LONG_JOB


def chaos_settings(tmp_path, redis_url: str, **extra: str) -> dict[str, str]:
    """Redis, a SQLite store, and a 3 s lease so a lost worker's job is resumed quickly."""
    return {
        "TFJOBS_BROKER_URL": redis_url,
        "TFJOBS_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}",
        "TFJOBS_LEASE_SECONDS": "3",
        "TFJOBS_MAX_QUEUED_PER_OWNER": "1000",
        **extra,
    }


@pytest.fixture
def chaos_stack(tmp_path, redis_url) -> Iterator[Stack]:
    with running_stack(tmp_path, chaos_settings(tmp_path, redis_url), workers=0) as stack:
        yield stack


def epoch_of(stack: Stack, job_id: str) -> int:
    with stack.client() as client:
        return client.get(f"/jobs/{job_id}").json()["progress"]["epoch"]


def assert_trained_once_per_epoch(stack: Stack, job: dict, tmp_path) -> None:
    with stack.client() as client:
        points = client.get(f"/jobs/{job['id']}/metrics", params={"limit": 1000}).json()["points"]
        history = client.get(f"/jobs/{job['id']}/artifacts/history.csv").text
        model = client.get(f"/jobs/{job['id']}/artifacts/model.keras").content
        manifest = client.get(f"/jobs/{job['id']}/artifacts/manifest.json").content
    assert [p["seq"] for p in points] == list(range(1, len(points) + 1))  # cursor contiguous
    epochs = [p["epoch"] for p in points if p["kind"] == "epoch"]
    assert epochs == list(range(1, job["spec"]["epochs"] + 1))  # every epoch reported once
    rows = [int(r["epoch"]) for r in csv.DictReader(history.splitlines())]
    assert rows == list(range(1, job["spec"]["epochs"] + 1))  # no epoch trained twice
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.keras").write_bytes(model)
    (tmp_path / "model" / "manifest.json").write_bytes(manifest)
    assert keras_reloads([tmp_path / "model"], cwd=tmp_path) == ["MLPRegressor"]


def long_job_underway(stack: Stack, *, epochs_done: int) -> tuple[subprocess.Popen[bytes], str]:
    """One worker training LONG, past ``epochs_done`` epochs: the worker and the job id."""
    worker = stack.start_worker(wait_ready=True)
    with stack.client() as client:
        job_id = client.post("/jobs", json=LONG).json()["id"]
    wait_until(lambda: epoch_of(stack, job_id) >= epochs_done, 120, f"epoch {epochs_done}")
    return worker, job_id


def test_sigkill_mid_training_resumes_from_the_checkpoint_on_another_worker(chaos_stack, tmp_path):
    stack = chaos_stack
    first, job_id = long_job_underway(stack, epochs_done=3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stack.start_worker()
    job = stack.wait_for_job(job_id, timeout=240)
    assert job["status"] == "succeeded", stack.tail_logs()
    assert job["attempts"] == 2
    with stack.client() as client:
        page = client.get(f"/jobs/{job_id}/logs", params={"limit": 1000}).json()
    lines = [x["message"] for x in page["lines"]]
    assert any("resumed from the checkpoint after epoch" in line for line in lines)
    assert_trained_once_per_epoch(stack, job, tmp_path)


def test_sigterm_hands_the_job_back_promptly_and_it_resumes_elsewhere(chaos_stack, tmp_path):
    stack = chaos_stack
    first, job_id = long_job_underway(stack, epochs_done=2)
    stopped_at = time.monotonic()
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    assert time.monotonic() - stopped_at < 15  # it did not wait for the remaining epochs
    with stack.client() as client:
        assert client.get(f"/jobs/{job_id}").json()["status"] == "queued"
    stack.start_worker()
    job = stack.wait_for_job(job_id, timeout=240)
    assert job["status"] == "succeeded" and job["attempts"] == 2, stack.tail_logs()
    assert_trained_once_per_epoch(stack, job, tmp_path)


def test_a_graceful_stop_then_a_crash_does_not_lose_the_job(tmp_path, redis_url):
    """A hand-back is an attempt (for fencing) but not a loss: with TFJOBS_MAX_ATTEMPTS=2,
    one SIGTERM and one SIGKILL still end in success on the third attempt."""
    settings = chaos_settings(tmp_path, redis_url, TFJOBS_MAX_ATTEMPTS="2")
    with running_stack(tmp_path, settings, workers=0) as stack:
        first, job_id = long_job_underway(stack, epochs_done=2)
        first.send_signal(signal.SIGTERM)  # a redeploy: the job is handed back
        first.wait(timeout=30)
        second = stack.start_worker(wait_ready=True)
        with stack.client() as client:
            wait_until(lambda: client.get(f"/jobs/{job_id}").json()["attempts"] == 2, 60, "attempt 2")
        wait_until(lambda: epoch_of(stack, job_id) >= 4, 120, "epoch 4 on the second worker")
        second.send_signal(signal.SIGKILL)  # then a crash
        second.wait()
        stack.start_worker()
        job = stack.wait_for_job(job_id, timeout=300)
        with stack.client() as client:
            lines = [
                x["message"]
                for x in client.get(f"/jobs/{job_id}/logs", params={"limit": 1000}).json()["lines"]
            ]
        assert job["status"] == "succeeded", (job.get("error"), stack.tail_logs())
        assert job["attempts"] == 3
        assert any(line.startswith("handed back (worker stopping)") for line in lines)
        assert_trained_once_per_epoch(stack, job, tmp_path)


def worker_queues(stack: Stack) -> list[str]:
    """Each live worker's own queue, from the store (where the scheduler reads them)."""
    store = Store(stack.env["TFJOBS_DATABASE_URL"])
    try:
        with store.session() as session:
            return sorted(
                {w.queue for w in store_workers.live_workers(session, heartbeat_seconds=10) if w.queue}
            )
    finally:
        store.dispose()


def test_a_message_delivered_twice_to_two_workers_trains_once(chaos_stack):
    stack = chaos_stack
    stack.start_worker(wait_ready=True)
    stack.start_worker(wait_ready=True)
    celery = make_celery(Settings(broker_url=stack.env["TFJOBS_BROKER_URL"]))
    with stack.client() as client:
        job_id = client.post("/jobs", json={**LONG, "epochs": 3}).json()["id"]
        queues = worker_queues(stack)
        assert len(queues) == 2
        for queue in [*queues, queues[0]]:  # the same message again to both, as a redelivery would
            celery.send_task(TaskName.TRAIN, kwargs={"job_id": job_id}, queue=queue)
        job = stack.wait_for_job(job_id, timeout=120)
        assert job["status"] == "succeeded" and job["attempts"] == 1
        time.sleep(1)
        lines = [x["message"] for x in client.get(f"/jobs/{job_id}/logs").json()["lines"]]
    assert sum(line.startswith("attempt ") for line in lines) == 1
    refused = sum(p.read_text().count("duplicate delivery") for p in stack.logs.glob("worker-*.log"))
    assert refused == 3


def test_flushing_redis_with_jobs_queued_loses_none(chaos_stack):
    stack = chaos_stack
    with stack.client() as client:
        ids = [
            client.post("/jobs", json={**LONG, "epochs": 2, "batch_size": 32}).json()["id"] for _ in range(3)
        ]
    redis.Redis.from_url(REDIS_URL).flushdb()  # every queued message is gone
    stack.start_worker()
    jobs = [stack.wait_for_job(job_id, timeout=180) for job_id in ids]
    assert [(j["status"], j["attempts"]) for j in jobs] == [("succeeded", 1)] * 3, stack.tail_logs()


def test_200_concurrent_submits_with_retries_make_exactly_200_jobs(chaos_stack):
    stack = chaos_stack
    keys = [uuid.uuid4().hex for _ in range(200)]
    spec = {"model_type": "mlp", "loss": "mse", "epochs": 1}
    ids: dict[str, set[str]] = {key: set() for key in keys}
    errors: list[str] = []

    def submit(batch: list[str]) -> None:
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            for key in batch:
                for _ in range(2):  # every request is retried once, as a flaky network would
                    response = client.post("/jobs", json=spec, headers={"Idempotency-Key": key})
                    if response.status_code != 201:
                        errors.append(f"{response.status_code} {response.text[:100]}")
                        continue
                    ids[key].add(response.json()["id"])

    threads = [threading.Thread(target=submit, args=(keys[i::20],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(v) == 1 for v in ids.values())
    with stack.client() as client:
        listed = client.get("/jobs", params={"limit": 1000}).json()["items"]
    assert len(listed) == 200 and {j["id"] for j in listed} == {next(iter(v)) for v in ids.values()}
