"""The API past its capacity: requests served and shed, and whether /healthz stays fast.

    .venv/bin/python -m bench.overload [--clients 200 1000] [--seconds 15] [--database URL]

For each client count, that many clients loop `GET /jobs?limit=1` (each on its own
connection) for ``--seconds``, while a separate process probes `/healthz` every 50 ms.
The reference, measured in the same run: `/healthz` probed the same way with no load.
Reports requests/s answered 2xx and shed (503 + Retry-After), any other outcome, the
slowest request, and /healthz p50/p99/max under load against the idle reference.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from collections import Counter

import aiohttp

from bench.common import machine, percentile
from bench.service import running_service
from harness.probe import probe_results, start_probe

SPEC = {"model_type": "mlp", "loss": "mse", "epochs": 1, "dataset": "synthetic"}


def probe_latencies(process: subprocess.Popen[str]) -> tuple[list[float], int]:
    results = probe_results(process)
    return [s for s, code in results if code == 200], sum(1 for _, code in results if code != 200)


async def load(url: str, clients: int, seconds: float) -> tuple[Counter[str], float]:
    outcomes: Counter[str] = Counter()
    slowest = 0.0
    end = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal slowest
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                async with session.get(url + "/jobs?limit=1") as response:
                    await response.read()
                    outcomes[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as err:
                outcomes[type(err).__name__] += 1
            slowest = max(slowest, time.monotonic() - started)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return outcomes, slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--database", help="a PostgreSQL URL (default: the embedded SQLite)")
    args = parser.parse_args()
    settings = {"TFJOBS_DATABASE_URL": args.database} if args.database else {}
    print(f"machine: {machine()}; store: {'PostgreSQL' if args.database else 'SQLite'}")
    with running_service(workers=0, settings=settings) as stack:
        with stack.client() as http:
            for _ in range(3):
                http.post("/jobs", json=SPEC).raise_for_status()
        idle, _ = probe_latencies(start_probe(stack.url, 5))
        print(
            f"reference: /healthz idle p50 {percentile(idle, 50) * 1000:.1f} ms, "
            f"p99 {percentile(idle, 99) * 1000:.1f} ms ({len(idle)} probes)"
        )
        for clients in args.clients:
            prober = start_probe(stack.url, args.seconds)
            outcomes, slowest = asyncio.run(load(stack.url, clients, args.seconds))
            busy, failed_probes = probe_latencies(prober)
            served, shed = outcomes.pop("200", 0), outcomes.pop("503", 0)
            p99 = percentile(busy, 99)
            print(
                f"{clients} clients, {args.seconds:.0f} s: served {served / args.seconds:.0f} req/s, "
                f"shed {shed / args.seconds:.0f} req/s (503), other {dict(outcomes) or 'none'}; "
                f"slowest request {slowest:.2f} s; /healthz p50 {percentile(busy, 50) * 1000:.1f} ms, "
                f"p99 {p99 * 1000:.1f} ms ({p99 / percentile(idle, 99):.1f}× idle), "
                f"max {max(busy) * 1000:.0f} ms, {failed_probes} failed probes"
            )


if __name__ == "__main__":
    main()
