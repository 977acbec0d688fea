"""Training throughput: tfcore's loop vs Keras ``model.fit`` vs a plain ``@tf.function`` loop.

Same data (20,000 × 8 synthetic rows, 80 % for training), batch 32, MSE, the
``residual`` model with the same initial weights, on this machine, in one run.
Each row trains ``--epochs`` epochs; the first epoch (tracing) is dropped and
the median of the rest is reported, in training samples per second.

    .venv/bin/python -m bench.train_throughput [--epochs 4]
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from bench.common import machine  # first: quiets TensorFlow's C++ logging
from tfcore.data import make_tf_dataset, split, synthetic_regression
from tfcore.report import ListReporter
from tfcore.runner import prepare_trainer
from tfcore.spec import JobSpec
from tfcore.train import LoopConfig, build_loss, build_optimizer, fit

SPEC = JobSpec(model_type="residual", loss="mse", epochs=4, batch_size=32, metrics=["mae"])
DATA = synthetic_regression(rows=20_000, features=8, seed=0)
TRAIN, VAL = split(DATA, validation_split=0.2, seed=0)


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def steady(samples_per_second: list[float]) -> float:
    return statistics.median(samples_per_second[1:])  # epoch 1 pays for tracing


def keras_fit(epochs: int, **compile_options) -> float:
    model = prepare_trainer(SPEC, TRAIN.x, TRAIN.y).model
    model.compile(optimizer=build_optimizer(SPEC), loss=build_loss(SPEC), metrics=["mae"], **compile_options)
    timer = EpochTimer()
    model.fit(TRAIN.x, TRAIN.y, batch_size=SPEC.batch_size, epochs=epochs, verbose=0, callbacks=[timer])
    return steady([TRAIN.rows / s for s in timer.seconds])


def plain_tf_function(epochs: int) -> float:
    """The seed's loop with ``train_step`` under ``@tf.function``: one Python call per step."""
    trainer = prepare_trainer(SPEC, TRAIN.x, TRAIN.y)
    step = tf.function(trainer._train_step)
    rates = []
    for epoch in range(epochs):
        start = time.perf_counter()
        for x, y in make_tf_dataset(TRAIN.x, TRAIN.y, batch_size=SPEC.batch_size, seed=epoch):
            step(x, y)
        float(trainer.mean_loss.result())  # wait for the last step
        rates.append(TRAIN.rows / (time.perf_counter() - start))
    return steady(rates)


def tfcore_loop(epochs: int, reporter=None, **overrides) -> float:
    trainer = prepare_trainer(SPEC, TRAIN.x, TRAIN.y)
    result = fit(
        trainer,
        (TRAIN.x, TRAIN.y),
        (VAL.x, VAL.y),
        LoopConfig.from_spec(SPEC, epochs=epochs, **overrides),
        reporter=reporter or ListReporter(),
    )  # reporting on: step and epoch points
    assert result.trace_counts["train_chunk"] == 1
    return steady([h["samples_per_second"] for h in result.history])


def tfcore_through_the_worker_reporter(epochs: int) -> float:
    """As the service runs it: the worker's StoreReporter writing every point to SQLite."""
    from app.core.config import Settings
    from app.store import jobs as store_jobs
    from bench.common import temporary_store
    from worker.reporter import StoreReporter

    defaults = Settings()
    with temporary_store() as store:
        with store.session() as session:
            job = store_jobs.create_job(session, spec=SPEC.model_dump(mode="json"), epochs=epochs)
        reporter = StoreReporter(store, job.id)
        rate = tfcore_loop(
            epochs,
            reporter,
            report_every_steps=defaults.report_every_steps,
            report_every_seconds=defaults.report_every_seconds,
        )
        reporter.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()

    print(
        f"machine: {machine()}; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; devices: "
        f"{[d.device_type for d in tf.config.list_logical_devices()]}"
    )
    print(
        f"data: {TRAIN.rows} training rows × {TRAIN.features} features, batch {SPEC.batch_size}, "
        f"MSE, residual model; median of epochs 2..{args.epochs}\n"
    )

    rows = [
        ("keras fit (defaults)", lambda: keras_fit(args.epochs)),
        ("keras fit (steps_per_execution=100)", lambda: keras_fit(args.epochs, steps_per_execution=100)),
        (
            "keras fit (steps_per_execution=100, jit)",
            lambda: keras_fit(args.epochs, steps_per_execution=100, jit_compile=True),
        ),
        ("plain one-step @tf.function loop", lambda: plain_tf_function(args.epochs)),
        ("tfcore loop (reporter on)", lambda: tfcore_loop(args.epochs)),
        (
            "tfcore loop + worker's StoreReporter (SQLite)",
            lambda: tfcore_through_the_worker_reporter(args.epochs),
        ),
    ]
    results = {}
    for name, run in rows:
        results[name] = run()
    reference = results["keras fit (defaults)"]
    print(f"{'':48}{'samples/s':>12}{'vs fit':>9}")
    for name, rate in results.items():
        print(f"{name:48}{rate:12,.0f}{rate / reference:8.2f}×")
    print(
        f"\ntfcore / keras fit defaults: {results['tfcore loop (reporter on)'] / reference:.2f}× "
        "(goal ≥ 1.5×)"
    )


if __name__ == "__main__":
    np.random.seed(0)
    main()
