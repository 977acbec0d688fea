"""The scheduler with real worker processes, the machine's Redis and auth on (owners are
tokens): fair share, priority, the per-owner limit, GPU jobs on a CPU-only stack, queue
places counting down, and every job run exactly once when the API or a worker is killed."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import httpx
import pytest

from app.store import tokens as store_tokens
from app.store.db import Store
from harness.stack import TFJOBS, Stack, healthy, running_stack, wait_until

QUICK = {"model_type": "mlp", "loss": "mse", "epochs": 1, "dataset": "synthetic", "batch_size": 256}


class Owner:
    """One owner's token and HTTP client (closed after each test)."""

    opened: ClassVar[list[Owner]] = []

    def __init__(self, stack: Stack, name: str) -> None:
        store = Store(stack.env["TFJOBS_DATABASE_URL"])
        with store.session() as session:
            token = store_tokens.create_token(session, owner=name)
        store.dispose()
        self.http = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        Owner.opened.append(self)

    def submit(self, **fields) -> str:
        answer = self.http.post("/jobs", json={**QUICK, **fields})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def job(self, job_id: str) -> dict:
        return self.http.get(f"/jobs/{job_id}").json()


@contextmanager
def stack_with(tmp_path, redis_url, *, workers: int, **settings: str) -> Iterator[Stack]:
    env = {
        "TFJOBS_BROKER_URL": redis_url,
        "TFJOBS_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}",
        "TFJOBS_AUTH": "on",
        "TFJOBS_LEASE_SECONDS": "4",
        **settings,
    }
    with running_stack(tmp_path, env, workers=workers, wait_ready=True) as stack:
        yield stack


def all_done(owner: Owner, ids: list[str], timeout: float = 240) -> list[dict]:
    jobs: dict[str, dict] = {}

    def done() -> bool:
        jobs.update({i: owner.job(i) for i in ids})
        return all(j["status"] in ("succeeded", "failed", "cancelled") for j in jobs.values())

    wait_until(done, timeout, f"{len(ids)} jobs to finish")
    return [jobs[i] for i in ids]


@pytest.fixture
def one_worker(tmp_path, redis_url) -> Iterator[Stack]:
    with stack_with(tmp_path, redis_url, workers=1) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _close_owners() -> Iterator[None]:
    yield
    for owner in Owner.opened:
        owner.http.close()
    Owner.opened.clear()


def test_one_owners_queue_does_not_hold_back_anothers_job(one_worker):
    alice, bob = Owner(one_worker, "alice"), Owner(one_worker, "bob")
    hers = [alice.submit() for _ in range(12)]
    his = bob.submit()
    queued = bob.job(his)["queue"]
    assert queued is not None and queued["ahead"] <= 2, queued  # told where he stands at once
    finished = all_done(alice, hers) + all_done(bob, [his])
    starts = sorted(finished, key=lambda j: j["started_at"])
    before_bob = [j for j in starts[: [j["id"] for j in starts].index(his)] if j["id"] in hers]
    assert len(before_bob) <= 3  # the one running when he came, and at most 2 more
    assert all(j["attempts"] == 1 and j["status"] == "succeeded" for j in finished)


def test_a_priority_9_job_starts_before_the_same_owners_earlier_ones(one_worker):
    alice = Owner(one_worker, "alice")
    low = [alice.submit() for _ in range(4)]
    high = alice.submit(priority=9)
    finished = {j["id"]: j for j in all_done(alice, [*low, high])}
    later = [i for i in low if finished[i]["started_at"] > finished[high]["started_at"]]
    assert len(later) >= 3  # only the one already started (or sent) when it came went first


def test_queue_places_count_down(one_worker):
    alice = Owner(one_worker, "alice")
    ids = [alice.submit(epochs=2) for _ in range(5)]
    last = ids[-1]
    seen = []

    def record() -> bool:
        job = alice.job(last)
        if job["queue"] is not None:
            seen.append(job["queue"]["ahead"])
        return job["status"] != "queued"

    wait_until(record, 180, "the last job to start")
    assert seen[0] >= 3 and seen == sorted(seen, reverse=True) and seen[-1] == 0, seen
    all_done(alice, ids)


def test_a_gpu_job_on_a_cpu_only_stack_waits_saying_why_while_others_run(one_worker):
    alice = Owner(one_worker, "alice")
    gpu = alice.submit(device="gpu")
    cpu = [alice.submit(device="cpu"), alice.submit()]
    finished = all_done(alice, cpu)
    assert all(j["status"] == "succeeded" for j in finished)
    waiting = alice.job(gpu)
    assert (
        waiting["status"] == "queued"
        and waiting["queue"]["reason"] == "waiting for a GPU worker: none is running"
    )
    assert waiting["notice"].startswith("no GPU worker is running")
    assert waiting["attempts"] == 0  # never tried on a CPU worker
    alice.http.post(f"/jobs/{gpu}/cancel")


def test_the_owner_limit_runs_one_job_of_each_owner_on_two_workers(tmp_path, redis_url):
    with stack_with(tmp_path, redis_url, workers=2, TFJOBS_MAX_RUNNING_PER_OWNER="1") as stack:
        alice, bob = Owner(stack, "alice"), Owner(stack, "bob")
        hers = [alice.submit(epochs=3) for _ in range(3)]
        his = [bob.submit(epochs=3) for _ in range(3)]
        states: list[tuple[int, int]] = []

        def sample() -> bool:
            mine = [alice.job(i) for i in hers]
            theirs = [bob.job(i) for i in his]
            states.append(
                (sum(j["status"] == "running" for j in mine), sum(j["status"] == "running" for j in theirs))
            )
            waiting = [j for j in mine if j["status"] == "queued" and j["queue"]]
            if waiting and states[-1][0] == 1:
                assert waiting[0]["queue"]["reason"] == "owner limit"
            return all(j["status"] == "succeeded" for j in mine + theirs)

        wait_until(sample, 300, "every job to finish")
        assert max(a for a, _ in states) == 1 and max(b for _, b in states) == 1
        assert (1, 1) in states  # one of each at once: the second worker was not left to alice


@pytest.mark.chaos
def test_killing_the_api_and_a_worker_mid_queue_runs_every_job_exactly_once(tmp_path, redis_url):
    with stack_with(tmp_path, redis_url, workers=2) as stack:
        alice, bob = Owner(stack, "alice"), Owner(stack, "bob")
        ids = [alice.submit(epochs=2) for _ in range(5)] + [bob.submit(epochs=2) for _ in range(5)]
        wait_until(lambda: sum(alice.job(i)["status"] != "queued" for i in ids[:5]) >= 1, 60, "a start")
        api, worker = stack.processes[0], stack.processes[1]
        worker.send_signal(signal.SIGKILL)
        api.send_signal(signal.SIGKILL)
        api.wait(), worker.wait()
        stack._spawn([*TFJOBS, "api", "--port", stack.url.rsplit(":", 1)[1]], "api-again")
        wait_until(lambda: healthy(stack.url), 60, "the API again")
        stack.start_worker()
        jobs = all_done(alice, ids[:5], timeout=300) + all_done(bob, ids[5:], timeout=300)
        assert all(j["status"] == "succeeded" for j in jobs), [
            (j["id"], j["status"], j["error"]) for j in jobs
        ]
        for job in jobs:  # exactly once: one attempt, or a lost one and its resumption, never two at once
            points = bob.http if job["id"] in ids[5:] else alice.http
            epochs = [
                p["epoch"]
                for p in points.get(f"/jobs/{job['id']}/metrics").json()["points"]
                if p["kind"] == "epoch"
            ]
            assert epochs == [1, 2], (job["id"], epochs)
