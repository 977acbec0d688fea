"""Nodes that share nothing but the services: the API and two workers, each with its own
data dir, sharing only PostgreSQL, Redis and an S3-compatible server (moto's, started
here). A job trains on an uploaded dataset; a worker is killed mid-job and the other
resumes it from the checkpoint in the bucket; the artifacts download with matching
sha256; a 200 MB artifact cut halfway resumes with Range."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from app.storage import open_storage
from app.store import artifacts as store_artifacts
from app.store.db import Store
from harness.stack import LONG_JOB, Stack, running_stack, wait_until
from tests.client.test_sdk import flaky_proxy, port_of
from tests.conftest import S3_ENV
from tfjobs import Client

pytestmark = pytest.mark.chaos


@pytest.fixture
def share_nothing(tmp_path, redis_url, postgres_url, bucket, s3_endpoint) -> Iterator[Stack]:
    shared = {
        "TFJOBS_BROKER_URL": redis_url,
        "TFJOBS_DATABASE_URL": postgres_url,
        "TFJOBS_STORAGE_URL": f"s3://{bucket}/tfjobs",
        "TFJOBS_S3_ENDPOINT_URL": s3_endpoint,
        "TFJOBS_LEASE_SECONDS": "4",
        "TFJOBS_WORKER_HEARTBEAT_SECONDS": "0.5",  # GET /workers names a job's worker at once
        **S3_ENV,
    }
    with running_stack(tmp_path / "api", shared, workers=0) as stack:
        base = dict(stack.env)
        for node in ("node-a", "node-b"):  # each worker its own disk
            stack.env = {**base, "TFJOBS_DATA_DIR": str(tmp_path / node)}
            stack.start_worker(wait_ready=True)
        stack.env = base
        yield stack
    store = Store(postgres_url)
    with store.engine.begin() as connection:  # the session's PostgreSQL database is shared
        for table in ("artifacts", "log_lines", "metric_points", "attempts", "jobs", "datasets", "workers"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    store.dispose()


def worker_running(stack: Stack, job_id: str) -> int:
    """The pid of the worker process training the job (GET /workers names it)."""
    pids: list[int] = []

    def named() -> bool:
        pids[:] = [w["pid"] for w in httpx.get(f"{stack.url}/workers").json() if w["job"] == job_id]
        return bool(pids)

    wait_until(named, 30, f"a worker training {job_id}")
    return pids[0]


def test_a_job_moves_between_nodes_through_the_bucket(share_nothing, tmp_path, bucket, s3_endpoint):
    stack = share_nothing
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["x1", "x2", "x3", "y"])
    for i in range(4000):
        writer.writerow([i % 17, (i * 7) % 13, (i * 3) % 11, (i % 17) * 0.5 + ((i * 7) % 13) * 0.25])
    with Client(stack.url) as client:
        dataset = client.datasets.upload(_write(tmp_path / "rows.csv", rows.getvalue()), target="y")
        job = client.submit({**LONG_JOB, "dataset": dataset["id"], "epochs": 12, "batch_size": 8})
        wait_until(lambda: job.refresh().data["progress"]["epoch"] >= 2, 180, "two epochs on the first node")
        os.kill(worker_running(stack, job.id), signal.SIGKILL)
        done = job.wait(timeout=300)
        assert done.data["attempts"] == 2
        lines = [x["message"] for x in client.get_json(f"/jobs/{job.id}/logs", limit=1000)["lines"]]
        assert any("resumed from the checkpoint after epoch" in line for line in lines), lines
        epochs = [p["epoch"] for p in job.metrics() if p["kind"] == "epoch"]
        assert epochs == list(range(1, 13))  # each epoch reported once, across two nodes
        out = job.download(tmp_path / "out")  # every file sha256-checked
    assert (out / "model.keras").is_file()
    api_artifacts = stack.data_dir / "artifacts" / job.id
    assert not api_artifacts.exists()  # the API's disk never held them: they came from the bucket
    settings = Settings(storage_url=f"s3://{bucket}/tfjobs", s3_endpoint_url=s3_endpoint)
    assert open_storage(settings, "artifacts").list(f"{job.id}/checkpoints/") == []  # dropped after export


def test_a_200_mb_download_from_the_bucket_cut_halfway_resumes(share_nothing, tmp_path, bucket, s3_endpoint):
    stack = share_nothing
    with Client(stack.url) as client:
        job = client.submit({"model_type": "mlp", "loss": "mse", "epochs": 1}).wait(timeout=180)
    big = os.urandom(200 << 20)
    source = tmp_path / "big.bin"
    source.write_bytes(big)
    settings = Settings(storage_url=f"s3://{bucket}/tfjobs", s3_endpoint_url=s3_endpoint)
    open_storage(settings, "artifacts").put_file(f"{job.id}/extra/big.bin", source)
    digest = hashlib.sha256(big).hexdigest()
    store = Store(stack.env["TFJOBS_DATABASE_URL"])
    with store.session() as session:
        store_artifacts.add_artifacts(
            session,
            job_id=job.id,
            files=[
                {"name": "big.bin", "path": f"{job.id}/extra/big.bin", "size": len(big), "sha256": digest}
            ],
        )
    store.dispose()
    with (
        flaky_proxy(port_of(stack.url), drop="download", after_bytes=100 << 20) as (proxy, state),
        Client(proxy) as client,
    ):
        out = client.job(job.id).download(tmp_path / "out", extract=False)
    assert hashlib.sha256((out / "big.bin").read_bytes()).hexdigest() == digest
    fetches = [r for r in state["requests"] if "/artifacts/big.bin" in r.split("\r\n", 1)[0]]
    assert len(fetches) == 2 and "range: bytes=" in fetches[1].lower()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
