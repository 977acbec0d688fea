"""Auth on: bearer tokens, stored hashed; every resource scoped to its owner (BOLA → 404)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.config import Settings
from app.main import create_app
from app.store import artifacts as store_artifacts
from app.store import tokens as store_tokens
from app.store.tables import ApiToken
from tests.api.conftest import MINIMAL

CSV = b"a,b,y\n" + b"".join(f"{i},{i % 5},{i * 3}\n".encode() for i in range(20))


@pytest.fixture
def secured(tmp_path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    app = create_app(Settings(data_dir=tmp_path / "data", auth=True))
    with app.state.store.session() as session:
        alice = store_tokens.create_token(session, owner="alice")
        bob = store_tokens.create_token(session, owner="bob")
    with TestClient(app, base_url="http://localhost") as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client, {"Authorization": f"Bearer {alice}"}, {"Authorization": f"Bearer {bob}"}
    app.state.store.dispose()


def test_tokens_are_stored_hashed(secured):
    client, alice, _ = secured
    token = alice["Authorization"].split()[1]
    with client.app_state.store.session() as session:
        hashes = set(session.scalars(select(ApiToken.token_hash)))
    assert hashlib.sha256(token.encode()).hexdigest() in hashes and token not in hashes


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer tfj_forged"},
        {"Authorization": "Basic YWxpY2U6eA=="},
        {"Authorization": "Bearer "},
    ],
)
def test_no_or_bad_token_is_401_everywhere(secured, headers):
    client, alice, _ = secured
    job_id = client.post("/jobs", json=MINIMAL, headers=alice).json()["id"]
    for method, path in [
        ("GET", "/jobs"),
        ("POST", "/jobs"),
        ("GET", f"/jobs/{job_id}"),
        ("POST", f"/jobs/{job_id}/cancel"),
        ("GET", f"/jobs/{job_id}/metrics"),
        ("GET", f"/jobs/{job_id}/metrics/stream"),
        ("GET", f"/jobs/{job_id}/logs"),
        ("GET", f"/jobs/{job_id}/artifacts"),
        ("GET", f"/jobs/{job_id}/artifacts/x"),
        ("GET", "/datasets"),
        ("POST", "/datasets"),
    ]:
        response = client.request(method, path, headers=headers, json=MINIMAL if method == "POST" else None)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz").status_code == 200  # probes stay open


def test_another_owners_things_do_not_exist_for_you(secured):
    client, alice, bob = secured
    job_id = client.post("/jobs", json=MINIMAL, headers=alice).json()["id"]
    dataset = client.post(
        "/datasets", files={"file": ("d.csv", CSV)}, data={"target": "y"}, headers=alice
    ).json()
    with client.app_state.store.session() as session:
        store_artifacts.add_artifacts(
            session,
            job_id=job_id,
            files=[{"name": "model.keras", "path": "x", "size": 1, "sha256": "0" * 64}],
        )
    for method, path in [
        ("GET", f"/jobs/{job_id}"),
        ("POST", f"/jobs/{job_id}/cancel"),
        ("GET", f"/jobs/{job_id}/metrics"),
        ("GET", f"/jobs/{job_id}/metrics/stream"),
        ("GET", f"/jobs/{job_id}/logs"),
        ("GET", f"/jobs/{job_id}/logs/stream"),
        ("GET", f"/jobs/{job_id}/artifacts"),
        ("GET", f"/jobs/{job_id}/artifacts/model.keras"),
    ]:
        assert client.request(method, path, headers=bob).status_code == 404, path
    assert client.get("/jobs", headers=bob).json()["items"] == []
    assert dataset["id"] not in {d["id"] for d in client.get("/datasets", headers=bob).json()}
    # bob cannot train on alice's dataset either: it does not exist for him
    response = client.post("/jobs", json={**MINIMAL, "dataset": dataset["id"]}, headers=bob)
    assert response.status_code == 422 and "no dataset" in response.json()["detail"][0]["msg"]
    # and alice still sees all of hers, untouched
    assert client.get(f"/jobs/{job_id}", headers=alice).json()["status"] == "queued"
    assert client.post("/jobs", json={**MINIMAL, "dataset": dataset["id"]}, headers=alice).status_code == 201


def test_idempotency_keys_are_per_owner(secured):
    client, alice, bob = secured
    a = client.post("/jobs", json=MINIMAL, headers={**alice, "Idempotency-Key": "k1"}).json()
    b = client.post("/jobs", json=MINIMAL, headers={**bob, "Idempotency-Key": "k1"}).json()
    assert a["id"] != b["id"]


def test_queued_jobs_per_owner_are_limited_with_retry_after(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", max_queued_per_owner=2))
    with TestClient(app, base_url="http://localhost") as client:
        assert [client.post("/jobs", json=MINIMAL).status_code for _ in range(2)] == [201, 201]
        response = client.post("/jobs", json=MINIMAL)
        assert response.status_code == 429 and response.headers["retry-after"] == "30"
        assert len(client.get("/jobs").json()["items"]) == 2
    app.state.store.dispose()


def test_bootstrap_token_from_the_environment(tmp_path):
    token = "tfj_bootstrap_for_compose_0123456789"
    app = create_app(Settings(data_dir=tmp_path / "data", auth=True, bootstrap_token=token))
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    app.state.store.dispose()


def test_metrics_need_their_own_token_when_auth_is_on(tmp_path):
    metrics_token = "m" * 32
    for settings, headers, expected in [
        (Settings(data_dir=tmp_path / "a", auth=True), {}, 403),  # no metrics token set: closed
        (Settings(data_dir=tmp_path / "b", auth=True, metrics_token=metrics_token), {}, 401),
        (
            Settings(data_dir=tmp_path / "c", auth=True, metrics_token=metrics_token),
            {"Authorization": "Bearer " + "x" * 32},
            401,
        ),
        (
            Settings(data_dir=tmp_path / "d", auth=True, metrics_token=metrics_token),
            {"Authorization": f"Bearer {metrics_token}"},
            200,
        ),
        (Settings(data_dir=tmp_path / "e", auth=False), {}, 200),  # local, loopback only
    ]:
        app = create_app(settings)
        with TestClient(app, base_url="http://localhost") as client:
            response = client.get("/metrics", headers=headers)
            assert response.status_code == expected, (settings.auth, headers, response.text)
            if expected == 200:
                assert "tfjobs_jobs" in response.text
        app.state.store.dispose()


def test_an_anonymous_upload_is_refused_before_its_body_is_read(tmp_path):
    """A 50 MB multipart body without a token: the 401 arrives after the headers and the
    first megabyte, while the client still has 49 MB to send."""
    import socket

    from harness.stack import running_stack

    with running_stack(tmp_path, {"TFJOBS_AUTH": "on", "TFJOBS_MAX_UPLOAD_MB": "64"}, workers=0) as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /datasets HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 52428800\r\n\r\n--b\r\nContent-Disposition: form-data; name=file; "
                b'filename="big.csv"\r\n\r\n' + b"1," * (1 << 19)
            )
            sock.settimeout(5)
            answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_revoked_token_loses_its_open_streams(secured):
    """Before: a revoked token's streams went on (108 points in 15 s after the revoke)."""
    client, alice, _ = secured
    job_id = client.post("/jobs", json=MINIMAL, headers=alice).json()["id"]  # stays queued: no worker
    token = alice["Authorization"].split()[1]
    with client.stream("GET", f"/jobs/{job_id}/metrics/stream", headers=alice) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        with client.app_state.store.session() as session:
            store_tokens.revoke_tokens(session, hash_prefix=store_tokens.hash_token(token)[:16])
        started = time.monotonic()
        ending = [next(lines) for _ in range(3)]
    assert ending[0] == "" and ending[1] == "event: error"
    assert "no longer valid" in ending[2]
    assert time.monotonic() - started < 10
    assert client.get(f"/jobs/{job_id}", headers=alice).status_code == 401
