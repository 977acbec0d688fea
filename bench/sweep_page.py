"""The sweep page with 200 trials (issue 23's goal: drawn in under 1 s): leaderboard,
parallel coordinates, importance, every trial's curve and the per-parameter scatters.

    PYTHONPATH=. .venv/bin/python -m bench.sweep_page [--trials 200] [--epochs 20] [--runs 5]

Two finished random sweeps behind the real API (uvicorn, its own process), their trials
stored as a worker would (one epoch point per epoch); the reference, measured in the
same run, has 10 trials. Debian's Chromium opens ``/ui/sweeps/{id}`` in a fresh tab each
run and reports when everything is drawn (the page's ``tfjobs:charts-drawn`` mark) and
the bytes it fetched.
"""

from __future__ import annotations

import argparse
import math
import random

from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store import sweeps as store_sweeps
from app.store.db import Store, migrate
from app.store.tables import utcnow
from bench.common import machine
from bench.service import running_service
from bench.ui import CHROMIUM, page_timings
from tfjobs import SweepStatus

SPACE = {
    "learning_rate": {"log_uniform": [1e-5, 1e-1]},
    "hidden_units": {"int_uniform": [8, 128]},
    "dropout": {"uniform": [0.0, 0.5]},
    "activation": {"choice": ["relu", "tanh", "gelu"]},
}


def finished_sweep(store: Store, trials: int, epochs: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    with store.session() as session:
        sweep = store_sweeps.create_sweep(
            session,
            owner="local",
            spec={"model_type": "mlp", "loss": "mse", "epochs": epochs},
            space=SPACE,
            method="random",
            pruner=None,
            metric="val_loss",
            mode="min",
            max_trials=trials,
            max_concurrent=4,
            seed=seed,
        )
        sweep_id = sweep.id
    for number in range(trials):
        params = {
            "learning_rate": math.exp(rng.uniform(math.log(1e-5), math.log(1e-1))),
            "hidden_units": rng.randint(8, 128),
            "dropout": rng.uniform(0, 0.5),
            "activation": rng.choice(["relu", "tanh", "gelu"]),
        }
        final = (math.log10(params["learning_rate"]) + 2.5) ** 2 / 10 + rng.random() * 0.05
        with store.session() as session:
            job = store_jobs.create_job(
                session,
                spec={"model_type": "mlp", "loss": "mse", "epochs": epochs, **params},
                epochs=epochs,
                sweep_id=sweep_id,
                trial_number=number,
                params=params,
            )
            store_jobs.claim_job(session, job_id=job.id, hostname="bench", device="CPU")
            points = [
                {
                    "seq": e,
                    "kind": "epoch",
                    "epoch": e,
                    "step": e * 10,
                    "time": utcnow(),
                    "values": {"loss": final * (1 + 2 / e), "val_loss": final * (1 + 1.5 / e)},
                }
                for e in range(1, epochs + 1)
            ]
            store_points.append_points(session, job_id=job.id, points=points, attempt=1)
            store_jobs.finish_job(
                session, job_id=job.id, status="succeeded", attempt=1, summary=points[-1]["values"]
            )
    with store.session() as session:
        store_sweeps.finish_sweep(session, sweep_id=sweep_id, status=SweepStatus.SUCCEEDED)
    return sweep_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"machine: {machine()}")
    with running_service(workers=0) as service:
        store = Store(f"sqlite:///{service.data_dir / 'tfjobs.db'}")
        migrate(store.engine)
        big = finished_sweep(store, args.trials, args.epochs, seed=1)
        small = finished_sweep(store, 10, args.epochs, seed=2)
        store.dispose()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            page_timings(browser, f"{service.url}/ui/sweeps/{small}", 1)  # warm: imports, caches
            reference = page_timings(browser, f"{service.url}/ui/sweeps/{small}", args.runs)
            measured = page_timings(browser, f"{service.url}/ui/sweeps/{big}", args.runs)
            browser.close()

    print(f"median of {args.runs} page loads (fresh tab each), {args.epochs} epochs a trial\n")
    print("| /ui/sweeps/{id} | first paint | everything drawn | bytes fetched |")
    print("| --- | ---: | ---: | ---: |")
    for label, t in ((f"{args.trials} trials", measured), ("reference: 10 trials", reference)):
        print(f"| {label} | {t['paint']:.0f} ms | {t['drawn']:.0f} ms | {t['bytes'] / 1024:,.0f} KB |")
    print(
        f"\ndrawn at {args.trials} trials: {measured['drawn'] / reference['drawn']:.2f}× the 10-trial page "
        f"(goal: under 1,000 ms: {'met' if measured['drawn'] < 1000 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
