"""Workers' heartbeats as the API reports them: /workers, /readyz, a queued job's notice,
Prometheus. The heartbeats are written by worker.presence against the same store."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.store import workers as store_workers
from app.store.tables import Worker, utcnow
from tests.api.conftest import MINIMAL
from worker.context import WorkerContext
from worker.presence import Presence


def test_a_queued_job_says_when_no_worker_is_running(client):
    job = client.post("/jobs", json=MINIMAL).json()
    assert job["notice"].startswith("no worker is running")
    assert client.get(f"/jobs/{job['id']}").json()["notice"].startswith("no worker is running")
    assert client.get("/workers").json() == []
    presence = Presence(
        WorkerContext(client.app_state.settings, client.app_state.store, "node-1", "CPU")
    ).start()
    try:
        assert client.get(f"/jobs/{job['id']}").json()["notice"] is None
        (worker,) = client.get("/workers").json()
        assert (worker["hostname"], worker["device"], worker["state"], worker["job"]) == (
            "node-1",
            "CPU",
            "idle",
            None,
        )
        assert client.get("/readyz").json()["workers"] == "1 alive"
        assert "tfjobs_workers_alive 1.0" in client.get("/metrics").text
    finally:
        presence.stop()
    assert client.get("/workers").json() == []  # a stopping worker removes itself


def test_a_silent_worker_is_gone_and_a_busy_one_shows_only_your_job(client):
    store = client.app_state.store
    mine = client.post("/jobs", json=MINIMAL).json()["id"]
    with store.session() as session:
        store_workers.beat(session, name="a:1", hostname="a", pid=1, device="CPU", current_job=mine)
        store_workers.beat(
            session, name="b:2", hostname="b", pid=2, device="GPU:0", current_job="f" * 32
        )  # not yours
        store_workers.beat(session, name="c:3", hostname="c", pid=3, device="CPU", current_job=None)
        session.execute(
            update(Worker).where(Worker.name == "c:3").values(last_seen=utcnow() - timedelta(seconds=60))
        )
    workers = {w["hostname"]: w for w in client.get("/workers").json()}
    assert set(workers) == {"a", "b"}  # c missed three heartbeats: gone
    assert (workers["a"]["state"], workers["a"]["job"]) == ("busy", mine)
    assert (workers["b"]["state"], workers["b"]["job"]) == (
        "busy",
        None,
    )  # another owner's job id stays hidden
    metrics = client.get("/metrics").text
    assert "tfjobs_workers_alive 2.0" in metrics and "tfjobs_workers_busy 2.0" in metrics
