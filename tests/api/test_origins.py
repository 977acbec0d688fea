"""With auth off, only this service's own names and pages: DNS rebinding and cross-site
writes are refused (before: `Host: evil.example` answered 200 with data, and a page from
another origin stored a dataset through a no-cors form POST)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.origins import host_name
from app.main import create_app

CSV = b"a,b,y\n1,2,3\n4,5,6\n7,8,9\n1,1,1\n2,2,2\n3,3,3\n4,4,4\n5,5,5\n6,6,6\n7,7,7\n"


def datasets(client) -> list:
    return [d for d in client.get("/datasets").json() if not d["builtin"]]


def test_a_rebound_host_gets_nothing_but_the_probes(client):
    refused = client.get("/jobs", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and "TFJOBS_ALLOWED_HOSTS" in refused.json()["detail"]
    assert "evil.example" in refused.json()["detail"]
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
        assert client.get("/jobs", headers={"Host": host}).status_code == 200, host
    assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"},
    ],
)
def test_a_cross_site_form_post_stores_nothing(client, headers):
    response = client.post(
        "/datasets", files={"file": ("d.csv", CSV, "text/csv")}, data={"target": "y"}, headers=headers
    )
    assert response.status_code == 403 and "may not change anything" in response.json()["detail"]
    assert datasets(client) == []
    assert client.post("/jobs", json={"epochs": 1}, headers=headers).status_code == 403


def test_the_dashboards_own_requests_and_scripts_pass(client):
    same_origin = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    response = client.post(
        "/datasets", files={"file": ("d.csv", CSV, "text/csv")}, data={"target": "y"}, headers=same_origin
    )
    assert response.status_code == 201
    assert (
        client.post("/datasets", files={"file": ("e.csv", CSV, "text/csv")}, data={"target": "y"}).status_code
        == 201
    )  # no Origin
    assert len(datasets(client)) == 2


def test_hosts_and_origins_can_be_allowed(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data", allowed_hosts="tfjobs.lan", cors_origins="https://notebooks.example"
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://tfjobs.lan") as client:
        assert client.get("/jobs").status_code == 200
        assert client.get("/jobs", headers={"Host": "other.lan"}).status_code == 400
        preflight = client.options(
            "/jobs",
            headers={"Origin": "https://notebooks.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://notebooks.example"
        posted = client.post("/jobs", json={"epochs": 1}, headers={"Origin": "https://notebooks.example"})
        assert posted.status_code != 403
    app.state.store.dispose()


def test_cors_is_closed_by_default(client):
    preflight = client.options(
        "/jobs", headers={"Origin": "https://notebooks.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_with_auth_on_any_host_is_served_unless_a_list_is_set(tmp_path):
    assert Settings(auth=True).host_allowlist is None
    assert Settings(auth=True, allowed_hosts="api.example").host_allowlist == frozenset({"api.example"})
    assert Settings(allowed_hosts="*").host_allowlist is None
    assert "127.0.0.1" in (Settings().host_allowlist or ())


@pytest.mark.parametrize(
    ("host", "name"),
    [("localhost:8000", "localhost"), ("[::1]:80", "::1"), ("::1", "::1"), ("Example.COM", "example.com")],
)
def test_host_names(host, name):
    assert host_name(host) == name
