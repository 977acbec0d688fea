"""/models and /webhooks on SQLite and PostgreSQL: the registry's contract (versions count
up, only succeeded jobs, aliases move, a version keeps its job's files, owners see their
own), and webhooks end to end against a real HTTP receiver — signed, retried with
backoff from the store, every attempt on record, SSRF refused — with the deliverer run
a pass at a time. Predictions with a real model server: tests/integration/test_registry_live.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.store import artifacts as store_artifacts
from app.store import jobs as store_jobs
from app.webhooks.deliverer import deliver_due
from harness.receiver import Receiver
from tests.api.conftest import two_owners

SECRET = "a-receiver-secret-0123"
TABLES = ("webhook_attempts", "webhook_deliveries", "webhooks", "model_aliases", "model_versions", "models")


@pytest.fixture
def api(tmp_path, database_url: str) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """Two owners on the API; the webhook loop's passes run by hand."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        webhook_allowed_networks="127.0.0.0/8",  # the receiver below: an operator's choice
        webhook_backoff_seconds=0.05,
        webhook_timeout_seconds=2,
    )
    with two_owners(settings, TABLES) as found:
        yield found


def trained_job(
    client: TestClient, owner: str, content: bytes = b"model bytes", status: str = "succeeded"
) -> str:
    """A job as a worker leaves it: finished, its model.keras in the artifact storage and listed."""
    store, settings = client.app_state.store, client.app_state.settings  # type: ignore[attr-defined]
    with store.session() as session:
        job = store_jobs.create_job(
            session, spec={"model_type": "mlp", "loss": "mse", "epochs": 1}, epochs=1, owner=owner
        )
        store_jobs.claim_job(session, job_id=job.id, hostname="test", device="CPU")
        store_jobs.finish_job(session, job_id=job.id, status=status, attempt=1, summary={"val_loss": 0.5})
        path = f"{job.id}/artifacts-1/model.keras"
        target = settings.artifacts_root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        store_artifacts.add_artifacts(
            session,
            job_id=job.id,
            files=[
                {
                    "name": "model.keras",
                    "path": path,
                    "size": len(content),
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
            ],
        )
        return job.id


def test_register_versions_alias_download_and_refusals(api):
    client, heads = api
    alice, bob = heads["alice"], heads["bob"]
    assert (
        client.post("/models", json={"name": "houses", "description": "prices"}, headers=alice).status_code
        == 201
    )
    assert client.post("/models", json={"name": "houses"}, headers=alice).status_code == 409
    assert client.post("/models", json={"name": "bad name!"}, headers=alice).status_code == 422
    first, second = trained_job(client, "alice", b"v1 bytes"), trained_job(client, "alice", b"v2 bytes")
    made = client.post("/models/houses/versions", json={"job_id": first[:8]}, headers=alice)
    assert made.status_code == 201, made.text
    v1 = made.json()
    assert (v1["version"], v1["job_id"], v1["sha256"]) == (1, first, hashlib.sha256(b"v1 bytes").hexdigest())
    assert v1["summary"] == {"val_loss": 0.5} and v1["spec"]["model_type"] == "mlp"
    assert (
        client.post("/models/houses/versions", json={"job_id": second}, headers=alice).json()["version"] == 2
    )
    failed = trained_job(client, "alice", status="failed")
    refused = client.post("/models/houses/versions", json={"job_id": failed}, headers=alice)
    assert refused.status_code == 409 and "only a succeeded job" in refused.json()["detail"]

    moved = client.put("/models/houses/aliases/production", json={"version": 1}, headers=alice)
    assert moved.json() == {"alias": "production", "version": 1, "previous": None}
    assert (
        client.put("/models/houses/aliases/production", json={"version": 2}, headers=alice).json()["previous"]
        == 1
    )
    assert client.put("/models/houses/aliases/staging", json={"version": 9}, headers=alice).status_code == 409
    model = client.get("/models/houses", headers=alice).json()
    assert model["aliases"] == {"production": 2} and [v["version"] for v in model["versions"]] == [1, 2]
    assert model["versions"][1]["aliases"] == ["production"]

    # the same bytes as the job's own artifact, by version and by alias (ranges too)
    by_job = client.get(f"/jobs/{second}/artifacts/model.keras", headers=alice)
    by_alias = client.get("/models/houses/aliases/production/artifacts/model.keras", headers=alice)
    by_version = client.get(
        "/models/houses/versions/2/artifacts/model.keras", headers={**alice, "Range": "bytes=3-"}
    )
    assert (
        by_alias.content == by_job.content == b"v2 bytes"
        and by_alias.headers["etag"] == by_job.headers["etag"]
    )
    assert by_version.status_code == 206 and by_version.content == b"v2 bytes"[3:]

    # a version keeps its job: deleting the job is refused while the version exists
    gone = client.delete(f"/jobs/{second}", headers=alice)
    assert gone.status_code == 409 and "houses version 2" in gone.json()["detail"]
    assert (
        client.delete("/models/houses/versions/2", headers=alice).status_code == 409
    )  # production points at it
    assert client.delete("/models/houses/aliases/production", headers=alice).status_code == 204
    assert client.delete("/models/houses/versions/2", headers=alice).status_code == 204
    assert client.delete(f"/jobs/{second}", headers=alice).status_code == 204
    assert (
        client.post("/models/houses/versions", json={"job_id": first}, headers=alice).json()["version"] == 3
    )  # never reused

    # another owner sees none of it
    assert client.get("/models/houses", headers=bob).status_code == 404
    assert client.get("/models", headers=bob).json() == {"items": []}
    assert client.get("/models/houses/versions/1/artifacts/model.keras", headers=bob).status_code == 404
    assert client.post("/models/houses/versions", json={"job_id": first}, headers=bob).status_code == 404
    # predictions need the model server: none is configured here
    down = client.post("/models/houses/versions/1/predict", json={"instances": [[1.0]]}, headers=alice)
    assert down.status_code == 503 and "tfjobs serve" in down.json()["detail"]
    too_many = client.post(
        "/models/houses/versions/1/predict", json={"instances": [[1.0]] * 1001}, headers=alice
    )
    assert too_many.status_code == 422


def run_passes(client: TestClient, until: Any, timeout: float = 10) -> None:
    state = client.app_state  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    with httpx.Client() as http:
        while not until():
            assert time.monotonic() < deadline, "deliveries did not arrive"
            deliver_due(state.store, state.settings, http)
            time.sleep(0.05)


def test_a_webhook_is_signed_retried_after_500s_and_every_attempt_is_on_record(api):
    client, heads = api
    alice = heads["alice"]
    receiver = Receiver(failures=2)
    try:
        made = client.post(
            "/webhooks",
            json={"url": receiver.url, "events": ["job.succeeded", "model.alias_moved"], "secret": SECRET},
            headers=alice,
        )
        assert made.status_code == 201, made.text
        hook = made.json()
        assert "secret" not in hook and "secret" not in json.dumps(
            client.get("/webhooks", headers=alice).json()
        )
        job_id = trained_job(client, "alice")  # its end is the event
        run_passes(client, lambda: len(receiver.got) == 3)
        headers, body = receiver.got[-1]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Tfjobs-Signature"], expected)  # as a receiver checks
        event = json.loads(body)
        assert headers["X-Tfjobs-Event"] == event["event"] == "job.succeeded"
        assert event["data"]["job"]["id"] == job_id and event["data"]["job"]["status"] == "succeeded"
        assert {h["X-Tfjobs-Delivery"] for h, _ in receiver.got} == {event["id"]}  # one delivery, three tries
        log = client.get(f"/webhooks/{hook['id']}/deliveries", headers=alice).json()["items"]
        assert len(log) == 1 and log[0]["status"] == "delivered"
        assert [(a["number"], a["status_code"]) for a in log[0]["attempts"]] == [(1, 500), (2, 500), (3, 200)]
        assert all(a["duration_ms"] >= 0 and a["time"] for a in log[0]["attempts"])

        # redeliver by hand: the same id and body again
        again = client.post(f"/webhooks/{hook['id']}/deliveries/{event['id']}/redeliver", headers=alice)
        assert again.status_code == 202
        run_passes(client, lambda: len(receiver.got) == 4)
        assert receiver.got[-1][1] == body
        # events it did not subscribe to are not sent
        client.post("/models", json={"name": "m"}, headers=alice)
        v = client.post("/models/m/versions", json={"job_id": job_id}, headers=alice).json()["version"]
        client.put("/models/m/aliases/production", json={"version": v}, headers=alice)
        run_passes(client, lambda: len(receiver.got) == 5)
        assert json.loads(receiver.got[-1][1])["data"] == {
            "model": "m",
            "alias": "production",
            "version": 1,
            "previous": None,
        }
        assert client.get(f"/webhooks/{hook['id']}", headers=heads["bob"]).status_code == 404
    finally:
        receiver.close()


def test_a_delivery_survives_an_api_restart_and_arrives_once(api, tmp_path, database_url):
    client, heads = api
    receiver = Receiver(failures=1)
    try:
        client.post(
            "/webhooks",
            json={"url": receiver.url, "events": ["job.succeeded"], "secret": SECRET},
            headers=heads["alice"],
        )
        trained_job(client, "alice")
        run_passes(client, lambda: len(receiver.got) == 1)  # the first try fails: a retry is pending
        # a new API process on the same store (the old one's loop is gone)
        settings = client.app_state.settings  # type: ignore[attr-defined]
        app = create_app(settings)
        with TestClient(app, base_url="http://localhost") as restarted:
            restarted.app_state = app.state  # type: ignore[attr-defined]
            run_passes(restarted, lambda: len(receiver.got) == 2)
            time.sleep(0.3)
            with httpx.Client() as http:
                assert deliver_due(app.state.store, settings, http) == 0  # delivered: nothing left
        app.state.store.dispose()
        assert len(receiver.got) == 2 and receiver.got[0][1] == receiver.got[1][1]
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",  # a name that resolves to loopback
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata address
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "http://user:pw@example.com/hook",
    ],
)
def test_webhooks_to_private_addresses_are_refused_and_nothing_is_sent(tmp_path, url):
    app = create_app(Settings(data_dir=tmp_path / "data"))  # no networks opened
    with TestClient(app, base_url="http://localhost") as client:
        response = client.post("/webhooks", json={"url": url, "events": ["job.succeeded"], "secret": SECRET})
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "url"]
        assert client.get("/webhooks").json() == {"items": []}
    app.state.store.dispose()


def test_a_target_that_turns_private_after_creation_is_refused_at_send_time(api, monkeypatch):
    client, heads = api
    receiver = Receiver()
    try:
        client.post(
            "/webhooks",
            json={"url": receiver.url, "events": ["job.succeeded"], "secret": SECRET},
            headers=heads["alice"],
        )
        hook = client.get("/webhooks", headers=heads["alice"]).json()["items"][0]
        client.app_state.settings.webhook_allowed_networks = ""  # type: ignore[attr-defined] - the operator closes it
        trained_job(client, "alice")

        def tried() -> bool:
            items = client.get(f"/webhooks/{hook['id']}/deliveries", headers=heads["alice"]).json()["items"]
            return bool(items and items[0]["attempts"])

        run_passes(client, tried)
        assert receiver.got == []  # nothing sent
        (delivery,) = client.get(f"/webhooks/{hook['id']}/deliveries", headers=heads["alice"]).json()["items"]
        assert delivery["status"] == "pending" and "loopback" in delivery["attempts"][0]["error"]
    finally:
        receiver.close()
