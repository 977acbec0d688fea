"""The audit trail on SQLite and PostgreSQL: every request that asks to change something
leaves a row — allowed or refused (a bad token, another owner's job, a rule), with actor,
action, target, status, request id and client — and a concurrent flood loses none."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.audit import action_of
from app.core.config import Settings
from app.store import audit as store_audit
from tests.api.conftest import two_owners

SPEC = {"model_type": "mlp", "loss": "mse", "epochs": 1}


@pytest.fixture
def api(tmp_path, database_url: str) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, max_queued_per_owner=500)
    with two_owners(settings, ()) as found:
        yield found


def rows(client: TestClient) -> list:
    with client.app_state.store.session() as session:  # type: ignore[attr-defined]
        found = store_audit.rows(session, limit=10_000)
        return [(r.actor, r.action, r.target, r.status, r.request_id, r.client) for r in reversed(found)]


def test_changes_allowed_and_refused_are_on_record_and_reads_are_not(api):
    client, heads = api
    made = client.post("/jobs", json=SPEC, headers={**heads["alice"], "X-Request-ID": "ci-run-42"})
    job_id = made.json()["id"]
    assert made.headers["x-request-id"] == "ci-run-42"
    client.get(f"/jobs/{job_id}", headers=heads["alice"])  # a read: not audited
    assert client.post(f"/jobs/{job_id}/cancel", headers=heads["bob"]).status_code == 404  # not bob's
    assert client.post(f"/jobs/{job_id}/cancel", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/jobs", json={**SPEC, "epochs": 0}, headers=heads["alice"]).status_code == 422
    cancelled = client.post(f"/jobs/{job_id}/cancel", headers=heads["alice"])
    found = rows(client)
    assert [(a, act, t, s) for a, act, t, s, _, _ in found] == [
        ("alice", "job.create", job_id, 201),
        ("bob", "job.cancel", job_id, 404),
        ("anonymous", "job.cancel", job_id, 401),
        ("alice", "job.create", None, 422),
        ("alice", "job.cancel", job_id, cancelled.status_code),
    ]
    assert found[0][4] == "ci-run-42" and all(r[4] and r[5] == "testclient" for r in found)
    assert len({r[4] for r in found}) == len(found)  # a request id of its own each


def test_a_concurrent_flood_of_writes_loses_no_row(api):
    client, heads = api

    def submit(i: int) -> int:
        return client.post("/jobs", json={**SPEC, "name": f"flood-{i}"}, headers=heads["alice"]).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(submit, range(120)))
    assert codes.count(201) == 120
    created = [r for r in rows(client) if r[1] == "job.create"]
    assert len(created) == 120 and len({r[2] for r in created}) == 120  # one row per job, each its own


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("PUT", "/models/houses/aliases/production", ("model.alias.set", "houses/aliases/production")),
        ("POST", "/models/houses/aliases/production/predict", None),  # a read
        ("GET", "/jobs", None),
        ("POST", "/webhooks/abc/deliveries/def/redeliver", ("webhook.redeliver", "abc/deliveries/def")),
        ("PATCH", "/jobs/abc", ("other", "PATCH /jobs/abc")),
    ],
)
def test_actions_are_named_from_the_request(method, path, expected):
    assert action_of(method, path) == expected
