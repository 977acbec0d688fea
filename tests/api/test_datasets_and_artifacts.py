from __future__ import annotations

import hashlib
import io

import numpy as np

from app.store import artifacts as store_artifacts
from tests.api.conftest import MINIMAL

CSV = b"a,b,price\n" + b"".join(f"{i},{i * 2},{i * 3}\n".encode() for i in range(30))


def test_builtins_are_listed(client):
    names = {d["id"]: d for d in client.get("/datasets").json()}
    assert names["diabetes"]["task"] == "regression" and names["diabetes"]["rows"] == 442
    assert names["breast_cancer"]["task"] == "binary" and names["breast_cancer"]["builtin"]


def test_csv_upload_is_validated_stored_under_a_generated_name_and_usable(client):
    response = client.post(
        "/datasets", files={"file": ("../../etc/evil.csv", CSV, "text/csv")}, data={"target": "price"}
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert (dataset["rows"], dataset["features"], dataset["target"], dataset["task"]) == (
        30,
        2,
        "price",
        "regression",
    )
    assert dataset["name"] == "evil.csv"
    stored = list(client.app_state.settings.datasets_root.iterdir())
    assert [p.name for p in stored] == [f"{dataset['id']}.csv"]
    assert dataset["id"] in {d["id"] for d in client.get("/datasets").json()}
    job = client.post("/jobs", json={**MINIMAL, "dataset": dataset["id"]})
    assert job.status_code == 201


def test_npz_upload(client):
    buffer = io.BytesIO()
    x = np.random.default_rng(0).normal(size=(40, 3))
    np.savez(buffer, x=x, y=(x[:, 0] > 0).astype(float))
    response = client.post("/datasets", files={"file": ("d.npz", buffer.getvalue())})
    assert response.status_code == 201 and response.json()["task"] == "binary"


def test_bad_uploads_are_422_and_leave_nothing(client):
    cases = [
        ({"file": ("x.csv", b"a,b\n1,2\n")}, {"target": "y"}, "no target column 'y'"),
        ({"file": ("x.csv", b"a,y\n1,oops\n" * 11)}, {"target": "y"}, "not numeric"),
        ({"file": ("x.csv", CSV)}, {}, "needs the name of its target"),
        ({"file": ("x.npz", b"PK\x03\x04junk")}, {}, "not a readable .npz"),
        ({"file": ("x.csv", b"")}, {"target": "y"}, "empty"),
    ]
    for files, data, message in cases:
        response = client.post("/datasets", files=files, data=data)
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"][0]["msg"]
    assert client.post("/datasets", data={"target": "y"}).status_code == 422  # no file at all
    assert list(client.app_state.settings.datasets_root.iterdir()) == []
    assert all(d["builtin"] for d in client.get("/datasets").json())


def test_upload_over_the_limit_is_413(client):
    big = b"a,y\n" + b"1,2\n" * 400_000  # 1.6 MB against a 1 MB limit
    response = client.post("/datasets", files={"file": ("big.csv", big)}, data={"target": "y"})
    assert response.status_code == 413


def test_artifacts_are_served_only_by_recorded_name(client):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    folder = client.app_state.settings.artifacts_root / job_id / "artifacts-1"
    folder.mkdir(parents=True)
    content = b"model bytes" * 100
    (folder / "model.keras").write_bytes(content)
    (folder / "secret.txt").write_bytes(b"not listed")
    digest = hashlib.sha256(content).hexdigest()
    with client.app_state.store.session() as session:
        store_artifacts.add_artifacts(
            session,
            job_id=job_id,
            files=[
                {
                    "name": "model.keras",
                    "path": f"{job_id}/artifacts-1/model.keras",
                    "size": len(content),
                    "sha256": digest,
                }
            ],
        )
    assert client.get(f"/jobs/{job_id}/artifacts").json() == {
        "items": [{"name": "model.keras", "size": len(content), "sha256": digest}]
    }
    response = client.get(f"/jobs/{job_id}/artifacts/model.keras")
    assert response.status_code == 200 and response.content == content
    assert response.headers["content-length"] == str(len(content))
    for name in ["secret.txt", "..%2F..%2Fetc%2Fpasswd", "%2e%2e"]:
        assert client.get(f"/jobs/{job_id}/artifacts/{name}").status_code == 404, name
    assert client.get(f"/jobs/{job_id}/artifacts/model.keras%00").status_code == 400  # no NUL anywhere


def test_a_dataset_an_unfinished_sweep_trains_on_cannot_be_deleted(client):
    """Before: deleting it left the sweep's next 39 trials to fail, and the sweep `succeeded`."""
    dataset = client.post("/datasets", files={"file": ("d.csv", CSV)}, data={"target": "price"}).json()
    sweep = client.post(
        "/sweeps",
        json={
            "spec": {**MINIMAL, "dataset": dataset["name"]},
            "space": {"learning_rate": {"choice": [0.001, 0.01]}},
            "method": "grid",
            "max_concurrent": 1,
        },
    ).json()
    for job_id in [t["job_id"] for t in client.get(f"/sweeps/{sweep['id']}/trials").json()["items"]]:
        client.post(f"/jobs/{job_id}/cancel")  # no trial holds it: only the sweep does
    refused = client.delete(f"/datasets/{dataset['id']}")
    assert refused.status_code == 409 and "unfinished sweep" in refused.json()["detail"]
    assert client.post(f"/sweeps/{sweep['id']}/cancel").status_code == 202
    assert client.delete(f"/datasets/{dataset['id']}").status_code == 204


def test_a_too_short_dataset_prefix_says_so_instead_of_no_dataset(client):
    dataset = client.post("/datasets", files={"file": ("d.csv", CSV)}, data={"target": "price"}).json()
    refused = client.post("/jobs", json={**MINIMAL, "dataset": dataset["id"][:4]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == (
        f"no dataset {dataset['id'][:4]!r}: {dataset['id'][:4]!r} is too short to name a dataset; give at "
        "least 6 characters of its id (1 of your dataset ids start with it)"
    )
    assert client.post("/jobs", json={**MINIMAL, "dataset": dataset["id"][:6]}).status_code == 201
