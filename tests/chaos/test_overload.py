"""Overload never freezes the API: every request ends, fast, and the probes keep answering.

Before this test, 64 concurrent `GET /jobs?limit=1` froze the whole API, `/healthz`
included, for about 90 s: each request's session held a pooled connection while it
waited for a thread to commit, and every thread waited in `pool.connect()` for one of
those connections (broken only by the pool's 30 s timeout). Runs a real API process on
SQLite and on PostgreSQL, with `/healthz` probed from a separate process.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from harness.probe import probe_results, start_probe
from harness.stack import running_stack

pytestmark = pytest.mark.chaos


async def burst(url: str, clients: int, path: str) -> list[tuple[int | str, float, dict[str, str]]]:
    """``clients`` requests at once, each on its own connection: (status, seconds, headers)."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=40, limits=limits) as client:

        async def one() -> tuple[int | str, float, dict[str, str]]:
            started = time.monotonic()
            try:
                response = await client.get(path)
                return response.status_code, time.monotonic() - started, dict(response.headers)
            except httpx.HTTPError as err:
                return type(err).__name__, time.monotonic() - started, {}

        return await asyncio.gather(*(one() for _ in range(clients)))


def settings_for(database: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if database == "postgresql":
        return {"TFJOBS_DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_hundred_concurrent_lists_all_end_and_healthz_stays_fast(database, tmp_path, request):
    with running_stack(tmp_path, settings_for(database, request), workers=0) as stack:
        with stack.client() as client:
            for _ in range(3):
                assert (
                    client.post(
                        "/jobs",
                        json={"model_type": "mlp", "loss": "mse", "epochs": 1, "dataset": "synthetic"},
                    ).status_code
                    == 201
                )
        probe = start_probe(stack.url, seconds=6)  # during the burst and after it
        started = time.monotonic()
        results = asyncio.run(burst(stack.url, 200, "/jobs?limit=1"))
        took = time.monotonic() - started
        probes = probe_results(probe, timeout=60)
        with stack.client() as client:  # and after: the API serves as before
            assert client.get("/jobs?limit=1").status_code == 200
            assert client.get("/readyz").status_code == 200
    codes = [code for code, _, _ in results]
    assert all(code in (200, 429, 503) for code in codes), sorted(map(str, set(codes)))
    assert max(seconds for _, seconds, _ in results) <= 30
    for code, _, headers in results:
        if code in (429, 503):
            assert "retry-after" in headers
    assert [code for _, code in probes if code != 200] == []
    worst = max(seconds for seconds, _ in probes)
    print(
        f"\n{database}: 200 concurrent lists in {took:.1f} s: {codes.count(200)} served, "
        f"{len(codes) - codes.count(200)} shed; /healthz worst {worst * 1000:.0f} ms "
        f"over {len(probes)} probes"
    )
    assert worst < 1.0


def test_excess_requests_are_shed_fast_with_retry_after(tmp_path):
    """With room for 2 requests at work and 2 waiting, a burst of 60 is mostly shed — at
    once, with 503 and Retry-After — while probes and readiness still answer."""
    settings = {"TFJOBS_MAX_CONCURRENT_REQUESTS": "2", "TFJOBS_MAX_WAITING_REQUESTS": "2"}
    with running_stack(tmp_path, settings, workers=0) as stack:
        results = asyncio.run(burst(stack.url, 60, "/jobs?limit=50"))
        with stack.client() as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
    shed = [(seconds, headers) for code, seconds, headers in results if code == 503]
    served = [code for code, _, _ in results if code == 200]
    assert len(served) + len(shed) == 60, sorted(map(str, {code for code, _, _ in results}))
    assert len(served) >= 4 and len(shed) >= 30
    assert all(headers.get("retry-after") == "1" for _, headers in shed)
    assert max(seconds for seconds, _ in shed) < 10
