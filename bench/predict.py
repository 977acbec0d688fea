"""Predictions from a registered model through the API (issue 24's goal: warm p50 ≤ 20 ms
for one instance of the built-in residual model), against what users do without it:
load the downloaded ``model.keras`` in a fresh process and call ``predict``.

    PYTHONPATH=. .venv/bin/python -m bench.predict [--requests 200]

The real ``tfjobs up`` (API, a worker, the model server it starts) on this machine; one
residual job trained (diabetes, 3 epochs), registered, aliased ``production``. Then, through
``POST /models/bench/aliases/production/predict``: ``--requests`` requests of 1 instance
and of 100, one client after another (warm: the first request loads the model and is not
counted). The reference, measured in the same run: a fresh ``python`` that imports Keras
and tfcore, loads the file and predicts the same 1 and 100 rows (3 runs each).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.common import machine, median, percentile
from harness.stack import clean_env, running_up, wait_until

SPEC = {"model_type": "residual", "loss": "huber", "epochs": 3}
FRESH = """
import sys, time
t0 = time.perf_counter()
import numpy as np, keras, tfcore
model = keras.models.load_model(sys.argv[1], safe_mode=True)
rows = np.random.default_rng(0).normal(size=(int(sys.argv[2]), 10)).astype("float32")
model.predict(rows, verbose=0)
print(time.perf_counter() - t0)
"""


def latencies(url: str, rows: list[list[float]], n: int) -> list[float]:
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/models/bench/aliases/production/predict", json={"instances": rows}).raise_for_status()
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.post(
                "/models/bench/aliases/production/predict", json={"instances": rows}
            ).raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def fresh_process(path: Path, rows: int, runs: int = 3) -> float:
    seconds = [
        float(
            subprocess.run(
                [sys.executable, "-c", FRESH, str(path), str(rows)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]
    return median(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rng = np.random.default_rng(0)
    one, hundred = rng.normal(size=(1, 10)).tolist(), rng.normal(size=(100, 10)).tolist()
    with tempfile.TemporaryDirectory() as tmp, running_up(Path(tmp), env=clean_env()) as up:
        job_id = httpx.post(f"{up.url}/jobs", json=SPEC).json()["id"]
        wait_until(
            lambda: httpx.get(f"{up.url}/jobs/{job_id}").json()["status"] == "succeeded", 300, "the job"
        )
        httpx.post(f"{up.url}/models", json={"name": "bench"}).raise_for_status()
        version = httpx.post(f"{up.url}/models/bench/versions", json={"job_id": job_id}).json()["version"]
        httpx.put(f"{up.url}/models/bench/aliases/production", json={"version": version}).raise_for_status()
        t0 = time.perf_counter()
        httpx.post(f"{up.url}/models/bench/versions/{version}/predict", json={"instances": one}, timeout=60)
        cold = (time.perf_counter() - t0) * 1000
        single, batch = latencies(up.url, one, args.requests), latencies(up.url, hundred, args.requests)
        model = Path(tmp) / "model.keras"
        model.write_bytes(
            httpx.get(f"{up.url}/models/bench/versions/{version}/artifacts/model.keras").content
        )
        fresh_one, fresh_hundred = fresh_process(model, 1), fresh_process(model, 100)

    print(
        f"\n{args.requests} sequential requests each, warm; "
        f"the first request (it loads the model): {cold:.0f} ms\n"
    )
    print("| instances | API p50 | API p99 | fresh process: load + predict | ratio (p50) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n, found, fresh in ((1, single, fresh_one), (100, batch, fresh_hundred)):
        p50 = median(found)
        print(
            f"| {n} | {p50:.1f} ms | {percentile(found, 99):.1f} ms | {fresh:,.0f} ms "
            f"| {fresh / p50:,.0f}× faster |"
        )
    goal = median(single)
    print(f"\nwarm p50 for one instance: {goal:.1f} ms (goal: ≤ 20 ms: {'met' if goal <= 20 else 'MISSED'})")


if __name__ == "__main__":
    main()
