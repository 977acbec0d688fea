"""Deleting what a user no longer needs: finished jobs (with their files) and datasets."""

from __future__ import annotations

from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store.tables import utcnow
from tests.api.conftest import MINIMAL

CSV = b"a,b,y\n" + b"".join(f"{i},{i % 5},{i * 3}\n".encode() for i in range(20))


def finish(client, job_id: str, status: str = "succeeded") -> None:
    with client.app_state.store.session() as session:
        store_jobs.claim_job(session, job_id=job_id, hostname="node-1", device="CPU")
        store_jobs.finish_job(session, job_id=job_id, status=status, attempt=1)


def test_a_finished_job_is_deleted_with_its_rows_and_files(client):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    assert client.delete(f"/jobs/{job_id}").status_code == 409  # queued: cancel it first
    finish(client, job_id)
    with client.app_state.store.session() as session:
        store_points.append_points(
            session,
            job_id=job_id,
            points=[
                {"seq": 1, "kind": "epoch", "epoch": 1, "step": 1, "time": utcnow(), "values": {"loss": 1.0}}
            ],
            attempt=None,
        )
    folder = client.app_state.settings.artifacts_root / job_id / "artifacts-1"
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"PK")
    response = client.delete(f"/jobs/{job_id[:8]}")  # a unique prefix works here too
    assert response.status_code == 204
    assert client.get(f"/jobs/{job_id}").status_code == 404
    assert not (client.app_state.settings.artifacts_root / job_id).exists()
    with client.app_state.store.session() as session:
        assert store_points.read_point_payloads(session, job_id=job_id, after=0, limit=10) == []
        assert store_jobs.list_attempts(session, job_id=job_id) == []
    assert client.delete(f"/jobs/{job_id}").status_code == 404


def test_a_running_job_is_not_deleted(client):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    with client.app_state.store.session() as session:
        store_jobs.claim_job(session, job_id=job_id, hostname="node-1", device="CPU")
    response = client.delete(f"/jobs/{job_id}")
    assert response.status_code == 409 and "cancel it first" in response.json()["detail"]


def test_a_dataset_in_use_is_kept_until_its_jobs_end(client):
    dataset = client.post("/datasets", files={"file": ("d.csv", CSV)}, data={"target": "y"}).json()
    job_id = client.post("/jobs", json={**MINIMAL, "loss": "mse", "dataset": dataset["id"]}).json()["id"]
    response = client.delete(f"/datasets/{dataset['id']}")
    assert response.status_code == 409 and job_id[:8] in response.json()["detail"]
    finish(client, job_id, "failed")
    files = list(client.app_state.settings.datasets_root.iterdir())
    assert len(files) == 1
    assert client.delete(f"/datasets/{dataset['id'][:8]}").status_code == 204
    assert list(client.app_state.settings.datasets_root.iterdir()) == []
    assert all(d["builtin"] for d in client.get("/datasets").json())
    assert client.delete("/datasets/diabetes").status_code == 404  # built-ins are not yours to delete
