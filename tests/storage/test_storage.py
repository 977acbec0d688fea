"""The storage interface on a local folder and on a real S3-compatible server: the same
behaviour from both (puts, ranged reads, listing, deletes), presigned URLs for S3, and
downloads through the API with Content-Length, ETag, Range and a 307 redirect."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.storage import LocalStorage, ObjectStorage, open_storage
from app.store import artifacts as store_artifacts
from app.store import jobs as store_jobs

DATA = os.urandom(3 << 20) + b"the end"


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    bucket = request.getfixturevalue("bucket")
    return ObjectStorage(
        f"s3://{bucket}/some/prefix", endpoint=request.getfixturevalue("s3_endpoint"), region="us-east-1"
    )


def test_put_read_list_and_delete_behave_alike(storage, tmp_path):
    source = tmp_path / "file.bin"
    source.write_bytes(DATA)
    storage.put_file("job-1/artifacts-1/model.keras", source)
    with source.open("rb") as stream:
        storage.put_stream("job-1/work/checkpoints/attempt-1/ckpt-1.index", stream)
    assert storage.size("job-1/artifacts-1/model.keras") == len(DATA)
    assert storage.size("job-1/nothing") is None
    assert b"".join(storage.read("job-1/artifacts-1/model.keras")) == DATA
    assert b"".join(storage.read("job-1/artifacts-1/model.keras", 5, 105)) == DATA[5:105]
    assert b"".join(storage.read("job-1/artifacts-1/model.keras", len(DATA) - 7)) == b"the end"
    assert storage.list("job-1/") == [
        "job-1/artifacts-1/model.keras",
        "job-1/work/checkpoints/attempt-1/ckpt-1.index",
    ]
    storage.get_to_file("job-1/artifacts-1/model.keras", tmp_path / "back" / "model.keras")
    assert (tmp_path / "back" / "model.keras").read_bytes() == DATA
    storage.delete("job-1/artifacts-1/model.keras")
    assert storage.list("job-1/") == ["job-1/work/checkpoints/attempt-1/ckpt-1.index"]
    storage.delete_prefix("job-1")
    assert storage.list("job-1/") == []
    with pytest.raises(ValueError):
        storage.put_file("../escape", source)


def test_a_presigned_url_downloads_the_object_without_credentials(bucket, s3_endpoint, tmp_path):
    storage = ObjectStorage(f"s3://{bucket}/p", endpoint=s3_endpoint, region="us-east-1")
    (tmp_path / "f").write_bytes(DATA)
    storage.put_file("a/b.bin", tmp_path / "f")
    url = storage.presign("a/b.bin", 60)
    assert url and "X-Amz-Signature" in url
    assert httpx.get(url).content == DATA


@pytest.fixture
def s3_client(tmp_path, bucket, s3_endpoint):
    settings = Settings(
        data_dir=tmp_path / "data",
        storage_url=f"s3://{bucket}/tfjobs",
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost") as client:
        yield client, settings
    app.state.store.dispose()


def stored_artifact(client, settings) -> tuple[str, str]:
    """A finished job with one artifact in the bucket, as a worker records it."""
    job_id = client.post("/jobs", json={"model_type": "mlp", "loss": "mse", "epochs": 1}).json()["id"]
    source = settings.resolved_data_dir / "upload.bin"
    source.write_bytes(DATA)
    open_storage(settings, "artifacts").put_file(f"{job_id}/artifacts-1/model.keras", source)
    digest = hashlib.sha256(DATA).hexdigest()
    with client.app.state.store.session() as session:
        store_artifacts.add_artifacts(
            session,
            job_id=job_id,
            files=[
                {
                    "name": "model.keras",
                    "path": f"{job_id}/artifacts-1/model.keras",
                    "size": len(DATA),
                    "sha256": digest,
                }
            ],
        )
    return job_id, digest


def test_downloads_from_s3_carry_length_etag_and_ranges(s3_client):
    client, settings = s3_client
    job_id, digest = stored_artifact(client, settings)
    url = f"/jobs/{job_id}/artifacts/model.keras"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["content-length"] == str(len(DATA)) and whole.headers["etag"] == f'"{digest}"'
    part = client.get(url, headers={"Range": f"bytes={len(DATA) - 7}-", "If-Range": f'"{digest}"'})
    assert part.status_code == 206 and part.content == b"the end"
    assert part.headers["content-range"] == f"bytes {len(DATA) - 7}-{len(DATA) - 1}/{len(DATA)}"
    changed = client.get(url, headers={"Range": "bytes=10-", "If-Range": '"another-file"'})
    assert changed.status_code == 200 and changed.content == DATA  # not the file asked about: all of it
    assert client.get(url, headers={"Range": f"bytes={len(DATA) + 5}-"}).status_code == 416


def test_redirect_1_answers_307_to_a_presigned_url_after_the_owner_check(s3_client):
    client, settings = s3_client
    job_id, _ = stored_artifact(client, settings)
    answer = client.get(
        f"/jobs/{job_id}/artifacts/model.keras", params={"redirect": 1}, follow_redirects=False
    )
    assert answer.status_code == 307 and "X-Amz-Signature" in answer.headers["location"]
    assert httpx.get(answer.headers["location"]).content == DATA
    assert (
        client.get("/jobs/0123456789abcdef/artifacts/model.keras", params={"redirect": 1}).status_code == 404
    )


def test_deleting_a_job_removes_its_objects(s3_client):
    client, settings = s3_client
    job_id, _ = stored_artifact(client, settings)
    with client.app.state.store.session() as session:
        store_jobs.finish_job(session, job_id=job_id, status="succeeded")
    assert client.delete(f"/jobs/{job_id}").status_code == 204
    assert open_storage(settings, "artifacts").list(f"{job_id}/") == []


def test_an_upload_goes_to_the_bucket_and_its_delete_removes_it(s3_client):
    client, settings = s3_client
    csv = b"a,b,y\n" + b"".join(f"{i},{i % 5},{i * 3}\n".encode() for i in range(40))
    made = client.post("/datasets", files={"file": ("houses.csv", csv, "text/csv")}, data={"target": "y"})
    assert made.status_code == 201, made.text
    datasets = open_storage(settings, "datasets")
    (key,) = datasets.list("")
    assert b"".join(datasets.read(key)) == csv
    assert not any(
        p.is_file() for p in (settings.resolved_data_dir / "datasets").glob("*.csv")
    )  # not on disk
    assert client.delete(f"/datasets/{made.json()['id']}").status_code == 204
    assert datasets.list("") == []


@pytest.fixture
def local_client(tmp_path):
    settings = Settings(data_dir=tmp_path / "local")
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost") as client:
        yield client, settings
    app.state.store.dispose()


RANGES = [
    "bytes=0-9",
    "bytes=-7",
    "bytes=10-",
    "bytes=0-0",
    "bytes=0-1,5-9",
    "bytes=5-9, 0-3",
    "items=0-5",  # another unit: ignored (RFC 9110), the whole file
    "bytes=abc",
    "bytes=9-2",
    "bytes=999999-",
]


def answer(client, url: str, method: str = "GET", **headers: str) -> tuple:
    response = client.request(method, url, headers=headers)
    kind = response.headers.get("content-type", "")
    boundary = kind.partition("boundary=")[2]
    body = response.content.replace(boundary.encode(), b"B") if boundary else response.content
    return (
        response.status_code,
        body,
        kind.partition(";")[0],
        response.headers.get("content-range"),
        response.headers.get("content-length"),
    )


def test_the_folder_and_s3_answer_every_range_and_head_alike(local_client, s3_client):
    """Before: suffix and multiple ranges were 206 from a folder and 416 from S3, and HEAD
    was 405."""
    homes = []
    for client, settings in (local_client, s3_client):
        job_id, _ = stored_artifact(client, settings)
        homes.append((client, f"/jobs/{job_id}/artifacts/model.keras"))
    (local, local_url), (s3, s3_url) = homes
    for wanted in RANGES:
        assert answer(s3, s3_url, Range=wanted) == answer(local, local_url, Range=wanted), wanted
    assert answer(s3, s3_url, Range="bytes=-7")[:2] == (206, b"the end")
    assert answer(s3, s3_url, Range="items=0-5")[:2] == (200, DATA)
    head = answer(s3, s3_url, "HEAD")
    assert head == answer(local, local_url, "HEAD")
    assert head[0] == 200 and head[1] == b"" and head[4] == str(len(DATA))
