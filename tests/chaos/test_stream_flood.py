"""200 people follow one running job: every one gets every point, and the API stays responsive.

Before streams shared one poller per job, each open stream held a database connection
for its whole life: about 16 followers exhausted the pool (500s, dropped streams,
/readyz taking 30 s). Runs against a real API process and worker, on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from harness.stack import running_stack

pytestmark = pytest.mark.chaos

FOLLOWERS = 200
# ~12 s of training with a point every 0.2 s: the followers join while it runs
JOB = {"model_type": "mlp", "loss": "mse", "epochs": 8, "dataset": "synthetic", "batch_size": 4}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def follow(client: httpx.AsyncClient, job_id: str) -> tuple[int, list[int], str | None]:
    """One follower: the status code, every `id:` it received, and how the stream ended."""
    seqs: list[int] = []
    async with client.stream("GET", f"/jobs/{job_id}/metrics/stream") as response:
        if response.status_code != 200:
            return response.status_code, seqs, None
        event = None
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                seqs.append(int(line[4:]))
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "end":
                return 200, seqs, line[6:]
    return 200, seqs, None


async def flood(url: str, job_id: str, api_pid: int) -> dict:
    limits = httpx.Limits(max_connections=FOLLOWERS + 10, max_keepalive_connections=FOLLOWERS + 10)
    latencies: list[float] = []
    codes: list[int] = []
    peak = [rss_mb(api_pid)]
    done = asyncio.Event()

    async def monitor() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as probe:
            while not done.is_set():
                for path in ("/healthz", f"/jobs/{job_id}"):
                    started = time.perf_counter()
                    response = await probe.get(path)
                    latencies.append(time.perf_counter() - started)
                    codes.append(response.status_code)
                peak.append(rss_mb(api_pid))
                await asyncio.sleep(0.25)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        watcher = asyncio.create_task(monitor())
        results = await asyncio.gather(*(follow(client, job_id) for _ in range(FOLLOWERS)))
        done.set()
        await watcher
    return {"results": results, "latencies": latencies, "codes": codes, "peak": max(peak), "start": peak[0]}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_hundred_followers_of_one_running_job(database, tmp_path, request):
    settings = {"TFJOBS_MAX_STREAMS_PER_OWNER": str(FOLLOWERS + 10)}
    if database == "postgresql":
        settings["TFJOBS_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    with running_stack(tmp_path, settings, workers=1, wait_ready=True) as stack:
        with stack.client() as client:
            job_id = client.post("/jobs", json=JOB).json()["id"]
        figures = asyncio.run(flood(stack.url, job_id, stack.api_pid))
        with stack.client() as client:
            job = client.get(f"/jobs/{job_id}").json()
            stored = [
                p["seq"]
                for p in client.get(f"/jobs/{job_id}/metrics", params={"limit": 1000}).json()["points"]
            ]
    assert job["status"] == "succeeded", stack.tail_logs()
    assert stored == list(range(1, len(stored) + 1)) and len(stored) > 20
    codes = [code for code, _, _ in figures["results"]]
    assert codes.count(200) == FOLLOWERS, sorted(set(codes))
    for _, seqs, end in figures["results"]:
        assert seqs == stored  # every point, in order, no gap, no duplicate
        assert end == '{"status": "succeeded"}'
    assert all(code < 500 for code in figures["codes"])
    worst = max(figures["latencies"])
    growth = figures["peak"] - figures["start"]
    print(
        f"\n{database}: {FOLLOWERS} followers × {len(stored)} points; /healthz and GET /jobs/{{id}} "
        f"worst {worst * 1000:.0f} ms over {len(figures['latencies'])} probes; API RSS "
        f"{figures['start']:.0f} → {figures['peak']:.0f} MB"
    )
    # A stalled event loop (a blocking read per stream) shows as probes of many seconds; the
    # bound leaves room for a busy 2-core machine (1.1 s was seen with other work running).
    assert worst < 2.0
    assert growth < 150  # bounded: no per-stream connection, buffer or thread


def test_open_streams_per_owner_are_capped_with_429(tmp_path):
    """With no worker the job stays queued, so its streams stay open."""
    with running_stack(tmp_path, {"TFJOBS_MAX_STREAMS_PER_OWNER": "2"}, workers=0) as stack:
        with stack.client() as client:
            job_id = client.post("/jobs", json=JOB).json()["id"]
            url = f"/jobs/{job_id}/metrics/stream"

            def open_one() -> httpx.Response:
                with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        response.read()  # the error's JSON; a 200 stream is left open until here
                    return response

            with (
                client.stream("GET", url) as first,
                client.stream("GET", f"/jobs/{job_id}/logs/stream") as second,
            ):
                assert (first.status_code, second.status_code) == (200, 200)
                refused = open_one()
                assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
                assert "the limit is 2" in refused.json()["detail"]
                assert client.get(f"/jobs/{job_id}").status_code == 200  # pages are not streams
            deadline = time.monotonic() + 10  # the server notices the closed streams within a second or so
            while open_one().status_code == 429:
                assert time.monotonic() < deadline, "closed streams were never released"
                time.sleep(0.5)
