"""Reporting overhead: the same training job with metric streaming on (the worker's
StoreReporter writing to a SQLite store, service defaults) vs off (NullReporter).

    .venv/bin/python -m bench.reporting_overhead [--rounds 3]

Rounds alternate off/on so drift on a shared machine hits both alike; each round's
figure is the median training throughput of epochs 2..4 (epoch 1 pays for tracing).
"""

from __future__ import annotations

import argparse

from app.core.config import Settings
from app.store import jobs as store_jobs
from bench.common import machine, median, temporary_store
from tfcore.data import split, synthetic_regression
from tfcore.report import NullReporter
from tfcore.runner import prepare_trainer
from tfcore.spec import JobSpec
from tfcore.train import LoopConfig, fit
from worker.reporter import StoreReporter

SPEC = JobSpec(model_type="residual", loss="mse", epochs=4, batch_size=32, metrics=["mae"])
TRAIN, VAL = split(synthetic_regression(rows=20_000, features=8, seed=0), validation_split=0.2, seed=0)
DEFAULTS = Settings()


def one_run(reporter) -> float:
    trainer = prepare_trainer(SPEC, TRAIN.x, TRAIN.y)
    config = LoopConfig.from_spec(
        SPEC,
        report_every_steps=DEFAULTS.report_every_steps,
        report_every_seconds=DEFAULTS.report_every_seconds,
    )
    result = fit(trainer, (TRAIN.x, TRAIN.y), (VAL.x, VAL.y), config, reporter=reporter)
    return median([h["samples_per_second"] for h in result.history[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {machine()}\njob: residual, 16,000 × 8 rows, batch 32, 4 epochs; step points at "
        f"most every {DEFAULTS.report_every_steps} steps or {DEFAULTS.report_every_seconds} s\n"
    )
    off, on, points = [], [], 0
    with temporary_store() as store:
        for _ in range(args.rounds):
            off.append(one_run(NullReporter()))
            with store.session() as session:
                job = store_jobs.create_job(session, spec=SPEC.model_dump(mode="json"), epochs=SPEC.epochs)
            reporter = StoreReporter(store, job.id)
            on.append(one_run(reporter))
            reporter.close()
            with store.session() as session:
                points = store_jobs.get_job(session, job_id=job.id).last_seq
    print(f"{'':28}{'samples/s (median of rounds)':>30}")
    print(f"{'streaming off':28}{median(off):30,.0f}")
    print(f"{'streaming on (SQLite)':28}{median(on):30,.0f}   ({points} points per job)")
    overhead = 1 - median(on) / median(off)
    print(
        f"\noverhead: {overhead * 100:+.2f} % (goal ≤ 2 %); rounds off={[round(x) for x in off]} "
        f"on={[round(x) for x in on]}"
    )


if __name__ == "__main__":
    main()
