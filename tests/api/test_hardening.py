"""NUL never reaches the store (it was a 500 on PostgreSQL on 13 routes), and every
response carries the hardening headers (they were on /ui/* only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.api.conftest import MINIMAL

NUL_REQUESTS = [
    ("GET", "/jobs/abc%00def"),
    ("GET", "/jobs?q=a%00b"),
    ("GET", "/jobs?tag=%00"),
    ("GET", "/jobs/abcdef%00/metrics"),
    ("GET", "/jobs/abcdef%00/metrics/series"),
    ("GET", "/jobs/abcdef%00/logs"),
    ("GET", "/jobs/abcdef%00/artifacts"),
    ("GET", "/jobs/abcdef%00/artifacts/model.keras"),
    ("POST", "/jobs/abcdef%00/cancel"),
    ("DELETE", "/jobs/abcdef%00"),
    ("GET", "/sweeps/abcdef%00"),
    ("GET", "/sweeps/abcdef%00/trials"),
    ("DELETE", "/datasets/abcdef%00"),
]


@pytest.fixture
def any_store(tmp_path, database_url) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url))
    with TestClient(app, base_url="http://localhost") as client:
        yield client
    app.state.store.dispose()


@pytest.mark.parametrize(("method", "path"), NUL_REQUESTS)
def test_a_nul_in_an_id_or_a_query_parameter_is_400(any_store, method, path):
    response = any_store.request(method, path)
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["detail"]


def test_a_nul_in_a_json_string_is_422_not_500(any_store):
    for field in ("name", "dataset"):
        response = any_store.post("/jobs", json={**MINIMAL, field: "a\u0000b"})
        assert response.status_code == 422, (field, response.text)
    tagged = any_store.post("/jobs", json={**MINIMAL, "tags": ["a\u0000"]})
    assert tagged.status_code == 422, tagged.text


@pytest.mark.parametrize("path", ["/jobs", "/healthz", "/jobs/nonexistent", "/openapi.json", "/ui/"])
def test_every_response_is_hardened(client, path):
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("content", "target"),
    [(b"a\x00,b,y\n" + b"1,2,3\n" * 20, "y"), (b"a,b,y\x00\n" + b"1,2,3\n" * 20, "y\x00")],
)
def test_a_nul_in_a_csv_header_is_422_and_keeps_nothing(any_store, tmp_path, content, target):
    response = any_store.post("/datasets", files={"file": ("d.csv", content)}, data={"target": target})
    assert response.status_code == 422, response.text
    assert [d for d in any_store.get("/datasets").json() if not d["builtin"]] == []
    root = tmp_path / "data" / "datasets"
    assert not root.exists() or list(root.iterdir()) == []
