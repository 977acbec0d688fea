"""S3 outages: a short one does not fail a job, a wedged one does not wedge the API.

Before: S3 refusing connections for 3 s failed a running job (`internal_error`, with a
1.5 KB debug dump naming the endpoint and bucket in the user's error); a hung S3 with 10
concurrent downloads stopped the whole API for the outage (each download held one of its
threads in a blocking read); a download answered 200 with Content-Length, then dropped.
S3 is moto's server behind a proxy (tests/outage.py) that refuses or hangs on demand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from harness.stack import Stack, running_stack, wait_until
from tests.chaos.test_faults import LONG, assert_trained_once_per_epoch, epoch_of
from tests.conftest import S3_ENV
from tests.outage import TcpProxy

pytestmark = pytest.mark.chaos


@pytest.fixture
def s3_behind_proxy(tmp_path, bucket, s3_endpoint) -> Iterator[tuple[Stack, TcpProxy]]:
    proxy = TcpProxy(s3_endpoint)
    settings = {
        "TFJOBS_STORAGE_URL": f"s3://{bucket}/tfjobs",
        "TFJOBS_S3_ENDPOINT_URL": proxy.url,
        "TFJOBS_STORAGE_TIMEOUT_SECONDS": "2",
        **S3_ENV,
    }
    try:
        with running_stack(tmp_path, settings, workers=1, wait_ready=True) as stack:
            yield stack, proxy
    finally:
        proxy.close()


def test_a_short_s3_outage_mid_job_does_not_fail_it_and_a_wedged_s3_does_not_wedge_the_api(
    s3_behind_proxy, tmp_path
):
    stack, proxy = s3_behind_proxy
    with stack.client() as client:
        job_id = client.post("/jobs", json={**LONG, "epochs": 8}).json()["id"]
    wait_until(lambda: epoch_of(stack, job_id) >= 2, 120, "epoch 2")
    proxy.down()  # connection refused, while checkpoints are being uploaded
    time.sleep(3)
    proxy.up()
    job = stack.wait_for_job(job_id, timeout=240)
    assert job["status"] == "succeeded", (job["error"], stack.tail_logs())
    assert job["attempts"] == 1
    assert "retrying" in (stack.logs / "worker-1.log").read_text()  # the outage was felt
    assert_trained_once_per_epoch(stack, job, tmp_path)  # downloads through the API, from S3

    proxy.hang()  # S3 accepts connections and never answers
    results, probes = asyncio.run(downloads_while_probing(stack.url, job_id, clients=10))
    assert [code for code, _, _ in results] == [503] * 10  # never a 200 that breaks off
    assert all("not answering" in detail and "127.0.0.1" not in detail for _, _, detail in results)
    assert max(seconds for _, seconds, _ in results) < 30
    assert max(probes) < 1.0, probes  # /healthz and GET /jobs/{id} stayed fast throughout

    proxy.down()  # refused: a 503 before the first byte, at once
    with stack.client() as client:
        refused = client.get(f"/jobs/{job_id}/artifacts/model.keras")
    assert refused.status_code == 503 and "bucket" not in refused.text


async def downloads_while_probing(url: str, job_id: str, clients: int):
    done = asyncio.Event()
    probes: list[float] = []

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            while not done.is_set():
                for path in ("/healthz", f"/jobs/{job_id}"):
                    started = time.monotonic()
                    assert (await c.get(path)).status_code == 200
                    probes.append(time.monotonic() - started)
                await asyncio.sleep(0.2)

    async def download(c: httpx.AsyncClient) -> tuple[int, float, str]:
        started = time.monotonic()
        response = await c.get(f"/jobs/{job_id}/artifacts/model.keras")
        return response.status_code, time.monotonic() - started, response.text

    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        prober = asyncio.create_task(probe())
        results = await asyncio.gather(*(download(c) for _ in range(clients)))
        done.set()
        await prober
    return results, probes
