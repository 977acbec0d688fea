"""Storage backends side by side (issue 15): a local folder against an S3-compatible
server on this machine (moto's), for a 200 MB artifact and for whole jobs.

    .venv/bin/python -m bench.storage [--mb 200] [--jobs 3]

1. The storage layer: upload (put) throughput, and download throughput and time to the
   first byte (ranged reads of the whole object), local vs S3.
2. Through the real API (its own process): downloading the same 200 MB artifact, with
   time to first byte — what a user's ``tfjobs download`` sees.
3. Whole jobs on a real worker: submit → succeeded for a 5-epoch job (every epoch's
   checkpoint and the five exported files go to the backend), median of ``--jobs``.
The local folder is the reference, measured in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import httpx
from moto.server import ThreadedMotoServer

from app.core.config import Settings
from app.storage import Storage, open_storage
from app.store import artifacts as store_artifacts
from app.store.db import Store
from bench.common import machine
from bench.service import running_service

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}
JOB = {"model_type": "mlp", "loss": "mse", "epochs": 5, "dataset": "synthetic"}


def layer(storage: Storage, source: Path, size: int) -> dict[str, float]:
    started = time.perf_counter()
    storage.put_file("bench/big.bin", source)
    put = time.perf_counter() - started
    started = time.perf_counter()
    first = None
    got = 0
    for block in storage.read("bench/big.bin", 0, size):
        first = first or time.perf_counter() - started
        got += len(block)
    get = time.perf_counter() - started
    assert got == size
    return {"put": size / put / 2**20, "get": size / get / 2**20, "ttfb": first or 0.0}


def through_api(url: str, job_id: str, size: int) -> dict[str, float]:
    started = time.perf_counter()
    first = None
    got = 0
    with (
        httpx.Client(timeout=120) as client,
        client.stream("GET", f"{url}/jobs/{job_id}/artifacts/big.bin") as r,
    ):
        r.raise_for_status()
        for chunk in r.iter_bytes(1 << 20):
            first = first or time.perf_counter() - started
            got += len(chunk)
    assert got == size
    return {"api": size / (time.perf_counter() - started) / 2**20, "api_ttfb": first or 0.0}


def backend(label: str, settings_env: dict[str, str], source: Path, size: int, jobs: int) -> dict[str, float]:
    with running_service(workers=1, settings=settings_env) as service:
        settings = Settings(
            **{k[len("TFJOBS_") :].lower(): v for k, v in settings_env.items() if k.startswith("TFJOBS_")}
        )
        if not settings.storage_url:
            settings = Settings(data_dir=service.data_dir)
        figures = layer(open_storage(settings, "artifacts"), source, size)
        times = []
        job_id = ""
        with httpx.Client(base_url=service.url, timeout=60) as client:
            for _ in range(jobs):
                started = time.perf_counter()
                job_id = client.post("/jobs", json=JOB).json()["id"]
                while client.get(f"/jobs/{job_id}").json()["status"] not in ("succeeded", "failed"):
                    time.sleep(0.05)
                times.append(time.perf_counter() - started)
                assert client.get(f"/jobs/{job_id}").json()["status"] == "succeeded"
        store = Store(f"sqlite:///{service.data_dir / 'tfjobs.db'}")
        with store.session() as session:  # the 200 MB file as one of the last job's artifacts
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
            store_artifacts.add_artifacts(
                session,
                job_id=job_id,
                files=[{"name": "big.bin", "path": "bench/big.bin", "size": size, "sha256": digest}],
            )
        store.dispose()
        figures |= through_api(service.url, job_id, size)
        figures["job"] = statistics.median(times)
    print(f"{label}: done")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    size = args.mb << 20
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "big.bin"
        source.write_bytes(os.urandom(size))
        results["local folder (reference)"] = backend("local", {}, source, size, args.jobs)
        s3 = {"TFJOBS_STORAGE_URL": f"s3://{bucket}/bench", "TFJOBS_S3_ENDPOINT_URL": endpoint, **CREDENTIALS}
        results["S3 (moto, this machine)"] = backend("s3", s3, source, size, args.jobs)
    server.stop()
    print(f"\n{args.mb} MB artifact; jobs: {JOB['epochs']} epochs, median of {args.jobs}\n")
    columns = ["backend", "put MB/s", "get MB/s", "get first byte", "API download MB/s", "API first byte"]
    print("| " + " | ".join([*columns, "job submit → succeeded"]) + " |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, r in results.items():
        print(
            f"| {label} | {r['put']:.0f} | {r['get']:.0f} | {r['ttfb'] * 1000:.1f} ms | {r['api']:.0f} | "
            f"{r['api_ttfb'] * 1000:.1f} ms | {r['job']:.2f} s |"
        )
    local, s3 = results.values()
    jobs, downloads = s3["job"] / local["job"], s3["api"] / local["api"]
    print(f"\nS3 against the local folder: jobs take {jobs:.2f}×, API downloads run at {downloads:.2f}×")


if __name__ == "__main__":
    main()
