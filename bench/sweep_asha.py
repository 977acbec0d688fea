"""ASHA against the full search it prunes (issue 13's goal: ASHA's best within 5 % of the
full search's best, with at most 40 % of its epochs).

    .venv/bin/python -m bench.sweep_asha [--trials 27] [--epochs 27] [--workers 2]

The real service (API and worker processes, SQLite, the folder broker). Two sweeps of
the same random search — the same seed, so the same configurations in the same order —
one with every trial run to the end (the reference, in the same run), one with ASHA
(min 1 epoch, reduction factor 3). Prints epochs trained, wall time and the best value.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from bench.common import machine
from bench.service import running_service

SEARCH: dict[str, Any] = {
    "spec": {"model_type": "mlp", "loss": "mse", "dataset": "synthetic", "batch_size": 64},
    "space": {
        "learning_rate": {"log_uniform": [1e-5, 3e-2]},
        "hidden_units": {"int_uniform": [8, 128]},
        "dropout": {"uniform": [0.0, 0.3]},
    },
    "method": "random",
    "metric": "val_loss",
    "mode": "min",
    "seed": 7,
}
ASHA = {"type": "asha", "min_epochs": 1, "reduction_factor": 3}


def run_sweep(url: str, body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as client:
        made = client.post("/sweeps", json=body)
        made.raise_for_status()
        sweep_id = made.json()["id"]
        while (sweep := client.get(f"/sweeps/{sweep_id}").json())["status"] not in ("succeeded", "failed"):
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        trials = client.get(f"/sweeps/{sweep_id}/trials").json()["items"]
    return {
        "seconds": seconds,
        "epochs": sum(t["epochs_trained"] for t in trials),
        "best": sweep["best"]["value"] if sweep["best"] else float("nan"),
        "pruned": sum(t["status"] == "pruned" for t in trials),
        "params": [t["params"] for t in sorted(trials, key=lambda t: t["number"])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=27)
    parser.add_argument("--epochs", type=int, default=27)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.workers} workers")
    body = {
        **SEARCH,
        "spec": {**SEARCH["spec"], "epochs": args.epochs},
        "max_trials": args.trials,
        "max_concurrent": args.workers,
    }
    settings = {"TFJOBS_MAX_SWEEP_TRIALS": str(args.trials)}
    with running_service(workers=args.workers, settings=settings) as service:
        full = run_sweep(service.url, body)
        asha = run_sweep(service.url, {**body, "pruner": ASHA})
    same = full["params"] == asha["params"]
    print(f"\n{args.trials} random configurations (seed {SEARCH['seed']}), up to {args.epochs} epochs each")
    print(f"the same configurations in both sweeps: {same}\n")
    print("| search | epochs trained | wall time | best val_loss | pruned trials |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, r in (("reference: every trial to the end", full), ("ASHA (min 1 epoch, factor 3)", asha)):
        print(f"| {label} | {r['epochs']} | {r['seconds']:.1f} s | {r['best']:.5g} | {r['pruned']} |")
    epochs = asha["epochs"] / full["epochs"]
    gap = (asha["best"] - full["best"]) / abs(full["best"])
    met = epochs <= 0.40 and gap <= 0.05
    print(
        f"\nASHA: {epochs:.0%} of the epochs, {asha['seconds'] / full['seconds']:.0%} of the time, best "
        f"{gap:+.1%} from the full search's (goal: ≤ 40 % and within 5 %: {'met' if met else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
