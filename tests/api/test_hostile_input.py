"""Bad and hostile input over every route: always a 4xx, nothing created, the service healthy.
Then Schemathesis generates requests from the app's own OpenAPI schema: no server errors."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests import hostile
from tests.api.conftest import MINIMAL

BAD_JOB_BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"true",
    b"42",
    b'"text"',
    b'{"model_type": }',
    json.dumps({**MINIMAL, "threshold": "NaN"}).encode(),
    b'{"model_type": "residual", "loss": "huber", "threshold": NaN, "epochs": 5}',
    b'{"model_type": "residual", "loss": "huber", "threshold": Infinity, "epochs": 5}',
    json.dumps({**MINIMAL, "epochs": 10**30}).encode(),
    json.dumps({**MINIMAL, "epochs": 2.5}).encode(),
    json.dumps({**MINIMAL, "epochs": True}).encode(),
    json.dumps({**MINIMAL, "batch_size": -1}).encode(),
    json.dumps({**MINIMAL, "learning_rate": 1e308}).encode(),
    json.dumps({**MINIMAL, "metrics": ["mae"] * 100}).encode(),
    json.dumps({**MINIMAL, "dataset": "../../../../etc/passwd"}).encode(),
    json.dumps({**MINIMAL, "dataset": "x" * 1000}).encode(),
    json.dumps({**MINIMAL, "activation": "__import__('os').system('id')"}).encode(),
    json.dumps({**MINIMAL, "model_type": {"$ne": None}}).encode(),
    json.dumps({**MINIMAL, "kernel_regularizer": {"l1": -1}}).encode(),
    json.dumps({**MINIMAL, "lr_schedule": {"type": "piecewise", "boundaries": [], "values": []}}).encode(),
    json.dumps({**MINIMAL, "early_stopping": {"patience": 0}}).encode(),
    ("[" * 5000 + "]" * 5000).encode(),  # deep nesting
    json.dumps({**MINIMAL, "pad": [[[[[[[[[[1]]]]]]]]]]}).encode(),
    '{"model_type": "résidual\u0000"}'.encode(),
    b"\xff\xfe\x00garbage",
]


@pytest.mark.parametrize("body", BAD_JOB_BODIES, ids=range(len(BAD_JOB_BODIES)))
def test_bad_job_bodies_are_4xx_and_create_nothing(client, body):
    response = client.post("/jobs", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert "detail" in response.json()
    assert client.get("/jobs").json()["items"] == []
    assert client.get("/healthz").status_code == 200


def test_a_body_that_is_not_json_is_415(client):
    for content_type, body in [
        ("text/plain", json.dumps(MINIMAL)),  # valid JSON, but not said to be: 415 all the same
        ("application/xml", "<spec/>"),
        ("multipart/form-data; boundary=x", "--x--"),
        ("application/x-www-form-urlencoded", "model_type=mlp"),
    ]:
        response = client.post("/jobs", content=body, headers={"content-type": content_type})
        assert response.status_code == 415, (content_type, response.status_code)
        assert "Content-Type: application/json" in response.json()["detail"]
    assert (
        client.post(
            "/jobs", json=MINIMAL, headers={"content-type": "application/json; charset=utf-8"}
        ).status_code
        == 201
    )
    assert len(client.get("/jobs").json()["items"]) == 1


def _zip_bomb_like() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", b"\x93NUMPY garbage")
    return buffer.getvalue()


def _pickled_npz() -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([object()] * 12, dtype=object), y=np.zeros(12))
    return buffer.getvalue()


def _tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../evil")
        tar.addfile(info, io.BytesIO(b""))
    return buffer.getvalue()


HOSTILE_UPLOADS = [
    ("../../../etc/passwd", b"root:x:0:0\n", {"target": "y"}),
    ("evil.csv", b"a,y\n=cmd|' /C calc'!A0,1\n" * 12, {"target": "y"}),
    ("evil.npz", _pickled_npz(), {}),
    ("evil.npz", _zip_bomb_like(), {}),
    ("evil.tar.gz", _tarball(), {"target": "y"}),
    ("nul.csv", b"a,y\n1\x00,2\n" * 12, {"target": "y"}),
    ("wide.csv", (",".join(f"c{i}" for i in range(2000)) + ",y\n").encode(), {"target": "y"}),
    ("ragged.csv", b"a,b,y\n1,2,3\n1,2\n", {"target": "y"}),
    ("header-only.csv", b"a,b,y\n", {"target": "y"}),
    ("x.csv", b"a,y\n1,2\n" * 12, {"target": "y" * 300}),
]


MALFORMED_UPLOADS = [  # each was once a 500 (or, for the bomb, 3.3 GB of API memory)
    ("cr-only.csv", hostile.cr_only_csv(), {"target": "y"}, "CR only"),
    ("huge-cell.csv", hostile.huge_cell_csv(), {"target": "y"}, "not a well-formed CSV"),
    ("corrupt.npz", hostile.corrupted_npz(), {}, "not a readable .npz archive"),
    ("huge-shape.npz", hostile.npz_declaring((10**12, 10)), {}, "rows is more than the limit"),
    ("bomb.npz", hostile.decompression_bomb(), {}, "more than the limit of 1,024 MB"),
    ("complex.npz", hostile.npz_bytes(x=np.ones((20, 2), complex), y=np.zeros(20)), {}, "real numbers"),
    ("timedelta.npz", hostile.npz_bytes(x=np.ones((20, 2), "m8[s]"), y=np.zeros(20)), {}, "real numbers"),
    ("wide.csv", hostile.wide_header_csv(60_000), {"target": "y"}, "features is more than the limit"),
]


@pytest.fixture
def roomy_client(tmp_path) -> Iterator[TestClient]:
    """The app with a 16 MB upload limit, so the bomb gets past the upload cap to the loader."""
    app = create_app(Settings(data_dir=tmp_path / "data", max_upload_mb=16))
    with TestClient(app, base_url="http://localhost") as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client
    app.state.store.dispose()


@pytest.mark.parametrize(
    ("name", "content", "data", "message"), MALFORMED_UPLOADS, ids=[u[0] for u in MALFORMED_UPLOADS]
)
def test_malformed_uploads_are_422_and_name_the_problem(roomy_client, name, content, data, message):
    client = roomy_client
    response = client.post("/datasets", files={"file": (name, content)}, data=data)
    assert response.status_code == 422, (response.status_code, response.text[:300])
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "file"] and message in error["msg"]
    assert len(response.content) < 1000  # never the whole header back
    root = client.app_state.settings.datasets_root
    assert not root.exists() or list(root.iterdir()) == []


@pytest.mark.parametrize(("name", "content", "data"), HOSTILE_UPLOADS, ids=[u[0] for u in HOSTILE_UPLOADS])
def test_hostile_uploads_are_refused_and_leave_nothing(client, name, content, data):
    response = client.post("/datasets", files={"file": (name, content)}, data=data)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert all(d["builtin"] for d in client.get("/datasets").json())
    root = client.app_state.settings.datasets_root
    assert not root.exists() or list(root.iterdir()) == []


PATH_TRICKS = [
    "../manifest.json",
    "..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "model.keras%2F..%2F..",
    "....//....//etc/passwd",
    "%00",
    "~root",
    "C:%5Cwindows%5Cwin.ini",
    "a" * 300,
]
BAD_QUERIES = ["after=-5", "after=1e9999", "limit=abc", "after=99999999999999999999", "limit=-1"]
BAD_EVENT_IDS = ["abc", "-1", "9" * 15, "9" * 20, "' OR 1=1 --", "\xb2", "1e3", "\u0663"]


@pytest.mark.parametrize("name", PATH_TRICKS)
def test_path_tricks_in_artifact_names_are_404(client, name):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    expected = 400 if "%00" in name else 404  # a NUL is refused before any route (app/core/hardening.py)
    assert client.get(f"/jobs/{job_id}/artifacts/{name}").status_code == expected


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_query_values_are_422(client, query):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    assert client.get(f"/jobs/{job_id}/metrics?{query}").status_code == 422


@pytest.mark.parametrize("value", BAD_EVENT_IDS)
def test_a_last_event_id_we_never_sent_is_400_not_a_crash(client, value):
    """Byte 0xB2 reads as "²", which str.isdigit() accepts and int() refuses; 20 digits
    overflow the store's integers. Only what the stream sent as `id:` is taken."""
    from app.store import jobs as store_jobs

    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    with client.app_state.store.session() as session:
        store_jobs.request_cancel(session, job=store_jobs.get_job(session, job_id=job_id))
    raw = value.encode("latin-1") if all(ord(c) < 256 for c in value) else value.encode()  # on the wire
    headers = [(b"last-event-id", raw)]
    with client.stream("GET", f"/jobs/{job_id}/metrics/stream", headers=headers) as r:
        r.read()
        assert r.status_code == 400, r.text
        assert "Last-Event-ID" in r.json()["detail"]


def test_a_valid_last_event_id_resumes_the_stream_after_it(client):
    from app.store import jobs as store_jobs

    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    with client.app_state.store.session() as session:
        store_jobs.request_cancel(session, job=store_jobs.get_job(session, job_id=job_id))
    with client.stream("GET", f"/jobs/{job_id}/metrics/stream", headers={"Last-Event-ID": " 7 "}) as r:
        body = r.read().decode()
    assert r.status_code == 200 and 'event: end\ndata: {"status": "cancelled"}' in body


def test_an_unknown_or_repeated_query_parameter_is_refused_by_name(client):
    """A misspelt filter used to return the unfiltered list as if it had worked."""
    response = client.get("/jobs", params={"limt": 5})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "limt"] and "did you mean 'limit'?" in problem["msg"]
    repeated = client.get("/jobs?limit=5&limit=500")
    assert repeated.status_code == 422 and "given 2 times" in repeated.json()["detail"][0]["msg"]
    assert client.get("/jobs", params={"limit": 5, "status": "queued"}).status_code == 200
    assert client.get("/healthz", params={"x": 1}).status_code == 422
