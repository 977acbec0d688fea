"""tfjobs next to an MLflow tracking server, on the same machine and the same 100,000 points.

    .venv/bin/python -m bench.vs_mlflow [--points 100000] [--pages 200]

MLflow lives in its own environment (``.venv-mlflow``, created with ``pip install
mlflow`` on the first run; the project's environment never imports it) and runs as
``mlflow server`` with a SQLite backend store; tfjobs runs as its API process on its
embedded SQLite store. Both hold one run/job of ``--points`` step values of one metric.

1. Ingest, points/s: MLflow through its REST ``runs/log-batch`` (1,000 metrics a
   request, the most it takes: what ``MlflowClient.log_batch`` sends) against the
   worker's ``StoreReporter`` (what a tfjobs worker uses: batches into the store).
2. A page of 1,000, one client: MLflow ``metrics/get-history`` with ``max_results`` and
   a ``page_token`` (tokens collected while walking the history) against
   ``GET /jobs/{id}/metrics?after=…&limit=1000``; random pages, p50 and p99.
3. The whole history: MLflow's ``get-history`` in one request, and page by page;
   tfjobs' columnar ``/metrics/series`` (``max_points`` = all), and page by page.

The same httpx client reads both servers, so client costs are alike.
"""

from __future__ import annotations

import argparse
import base64
import random
import subprocess
import tempfile
import time
import venv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.store.db import Store
from bench.common import machine, median, percentile
from bench.metrics_reads import ingest
from bench.service import running_service
from harness.stack import free_port
from tfcore.report import Point

REPO = Path(__file__).resolve().parents[1]
MLFLOW_ENV = REPO / ".venv-mlflow"
PAGE = 1000


def mlflow_env() -> Path:
    """The bench's own environment with MLflow in it; created on first use."""
    mlflow = MLFLOW_ENV / "bin" / "mlflow"
    if not mlflow.exists():
        print(
            f"creating {MLFLOW_ENV.name} and installing MLflow into it (once; a few minutes)...", flush=True
        )
        venv.create(MLFLOW_ENV, with_pip=True)
        subprocess.run([str(MLFLOW_ENV / "bin" / "pip"), "install", "--quiet", "mlflow"], check=True)
    return mlflow


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    mlflow, port = mlflow_env(), free_port()
    version = subprocess.run(
        [str(MLFLOW_ENV / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    log = (folder / "mlflow.log").open("wb")
    process = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--default-artifact-root",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start; see {folder / 'mlflow.log'}")
            time.sleep(0.5)
        print(f"MLflow {version}: mlflow server, SQLite backend store, 1 worker, at {url}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# --- MLflow ---------------------------------------------------------------------------


def mlflow_ingest(api: httpx.Client, n: int) -> tuple[str, float]:
    experiment = api.post("/experiments/create", json={"name": "bench"}).json()["experiment_id"]
    run_id = api.post("/runs/create", json={"experiment_id": experiment}).json()["run"]["info"]["run_id"]
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for first in range(0, n, PAGE):
        metrics = [
            {"key": "loss", "value": 1.0 / (step + 1), "timestamp": now, "step": step}
            for step in range(first + 1, min(first + PAGE, n) + 1)
        ]
        api.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics}).raise_for_status()
    return run_id, n / (time.perf_counter() - start)


def mlflow_pages(api: httpx.Client, run_id: str) -> tuple[list[str], int]:
    """Every page's token (the first page has none) and the values read, page by page."""
    tokens, token, count = [""], "", 0
    while True:
        params = {"run_id": run_id, "metric_key": "loss", "max_results": PAGE}
        page = api.get("/metrics/get-history", params={**params, **({"page_token": token} if token else {})})
        body = page.json()
        count += len(body.get("metrics", []))
        token = body.get("next_page_token", "")
        if not token:
            return tokens, count
        tokens.append(token)


def mlflow_page(api: httpx.Client, run_id: str, token: str) -> None:
    params = {"run_id": run_id, "metric_key": "loss", "max_results": PAGE}
    body = api.get(
        "/metrics/get-history", params={**params, **({"page_token": token} if token else {})}
    ).json()
    assert len(body["metrics"]) == PAGE, (token, base64.b64decode(token or "e30="))


def mlflow_whole(api: httpx.Client, run_id: str, n: int) -> None:
    body = api.get("/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}).json()
    assert len(body["metrics"]) == n


# --- tfjobs -----------------------------------------------------------------------------


def tfjobs_ingest(store: Store, api: httpx.Client, n: int) -> tuple[str, float]:
    job_id, rate = ingest(store, n, lambda step: Point("step", 1, step, {"loss": 1.0 / (step + 1)}))
    assert api.get(f"/jobs/{job_id}/metrics", params={"after": n - 1}).json()["points"][0]["seq"] == n
    return job_id, rate


def tfjobs_page(api: httpx.Client, job_id: str, after: int) -> None:
    body = api.get(f"/jobs/{job_id}/metrics", params={"after": after, "limit": PAGE}).json()
    assert len(body["points"]) == PAGE


def tfjobs_pages(api: httpx.Client, job_id: str) -> int:
    after, count = 0, 0
    while points := api.get(f"/jobs/{job_id}/metrics", params={"after": after, "limit": PAGE}).json()[
        "points"
    ]:
        count += len(points)
        after = points[-1]["seq"]
    return count


def tfjobs_series(api: httpx.Client, job_id: str, n: int) -> None:
    params = {"kind": "step", "names": "loss", "max_points": n}
    body = api.get(f"/jobs/{job_id}/metrics/series", params=params).json()
    assert len(body["values"]["loss"]) == n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=200, help="random pages timed on each")
    parser.add_argument("--repeat", type=int, default=3, help="whole-history reads on each (median)")
    args = parser.parse_args()
    n = args.points
    print(f"machine: {machine()}\n{n:,} step values of one metric on each\n")
    with tempfile.TemporaryDirectory() as tmp, mlflow_server(Path(tmp)) as url:
        with httpx.Client(base_url=f"{url}/api/2.0/mlflow", timeout=120) as mlflow:
            run_id, rate = mlflow_ingest(mlflow, n)
            whole_pages = timed(lambda: mlflow_pages(mlflow, run_id))
            tokens, count = mlflow_pages(mlflow, run_id)
            assert count == n, count
            rng = random.Random(1)
            picks = [rng.randrange(0, len(tokens) - 1) for _ in range(args.pages)]  # full pages only
            ml_pages = [timed(lambda t=tokens[i]: mlflow_page(mlflow, run_id, t)) for i in picks]
            ml_whole = median([timed(lambda: mlflow_whole(mlflow, run_id, n)) for _ in range(args.repeat)])
        with running_service(workers=0) as service, httpx.Client(base_url=service.url, timeout=120) as api:
            store = Store(f"sqlite:///{service.data_dir / 'tfjobs.db'}")
            job_id, ours_rate = tfjobs_ingest(store, api, n)
            store.dispose()
            ours_whole_pages = median([timed(lambda: tfjobs_pages(api, job_id)) for _ in range(args.repeat)])
            assert tfjobs_pages(api, job_id) == n
            ours_pages = [timed(lambda i=i: tfjobs_page(api, job_id, i * PAGE)) for i in picks]
            ours_series = median([timed(lambda: tfjobs_series(api, job_id, n)) for _ in range(args.repeat)])

    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1000

    table = [
        ("ingest (points/s, higher is better)", rate, ours_rate, rate and ours_rate / rate),
        (
            "page of 1,000, p50 (ms)",
            ms(ml_pages, 50),
            ms(ours_pages, 50),
            ms(ml_pages, 50) / ms(ours_pages, 50),
        ),
        (
            "page of 1,000, p99 (ms)",
            ms(ml_pages, 99),
            ms(ours_pages, 99),
            ms(ml_pages, 99) / ms(ours_pages, 99),
        ),
        ("whole history, one request (ms)", ml_whole * 1000, ours_series * 1000, ml_whole / ours_series),
        (
            "whole history, page by page (ms)",
            whole_pages * 1000,
            ours_whole_pages * 1000,
            whole_pages / ours_whole_pages,
        ),
    ]
    print(f"\n{'':36} {'MLflow':>10} {'tfjobs':>10} {'tfjobs ×':>9}")
    for what, theirs, ours, ratio in table:
        print(f"{what:36} {theirs:>10,.1f} {ours:>10,.1f} {ratio:>8.1f}×")
    print(
        "\nwhole history, one request: MLflow get-history without max_results; tfjobs "
        "/metrics/series with max_points = all (columns). Goal: ≥ 5× MLflow on each."
    )


if __name__ == "__main__":
    main()
