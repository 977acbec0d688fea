"""A user's own architecture: a small CNN trained by tfcore's loop vs Keras ``model.fit``.

Same generated images (6,000 × 16 × 16 × 1, four classes, 80 % for training), batch 32,
sparse categorical cross-entropy, the same CNN config with the same initial weights, on
this machine, in one run. Each row trains ``--epochs`` epochs; the first (tracing) is
dropped and the median of the rest is reported, in training samples per second. The goal
for a `keras` job is ≥ 1.5× fit's defaults on this CPU (the built-in types reach ≥ 2×).

    .venv/bin/python -m bench.keras_throughput [--epochs 4]
"""

from __future__ import annotations

import argparse
import json

import keras
import tensorflow as tf

from bench.common import machine  # first: quiets TensorFlow's C++ logging
from bench.train_throughput import EpochTimer, steady
from tfcore.data import Dataset, infer_task, quadrant_images, split
from tfcore.report import ListReporter
from tfcore.runner import prepare_trainer
from tfcore.spec import JobSpec
from tfcore.train import LoopConfig, build_loss, build_optimizer, fit


def quadrants(rows: int, size: int = 16) -> Dataset:
    x, y = quadrant_images(rows, size)
    labels = y.astype("float32").reshape(-1, 1)
    return Dataset("quadrants", x.astype("float32"), labels, (), "y", infer_task(labels, labels=True))


def cnn() -> dict:
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    return json.loads(model.to_json())


SPEC = JobSpec.model_validate(
    {
        "model_type": "keras",
        "architecture": cnn(),
        "loss": "sparse_categorical_crossentropy",
        "epochs": 4,
        "batch_size": 32,
        "dataset": "quadrants",
    }
)
TRAIN, VAL = split(quadrants(6_000), validation_split=0.2, seed=0)


def keras_fit(epochs: int) -> float:
    model = prepare_trainer(SPEC, TRAIN.x, TRAIN.y, classes=4).model
    model.compile(optimizer=build_optimizer(SPEC), loss=build_loss(SPEC), metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(TRAIN.x, TRAIN.y, batch_size=SPEC.batch_size, epochs=epochs, verbose=0, callbacks=[timer])
    return steady([TRAIN.rows / s for s in timer.seconds])


def tfcore_loop(epochs: int) -> float:
    trainer = prepare_trainer(SPEC, TRAIN.x, TRAIN.y, classes=4)
    result = fit(
        trainer,
        (TRAIN.x, TRAIN.y),
        (VAL.x, VAL.y),
        LoopConfig.from_spec(SPEC, epochs=epochs),
        reporter=ListReporter(),
    )
    return steady([h["samples_per_second"] for h in result.history])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {machine()}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(
        f"data: {TRAIN.rows} training images 16×16×1, 4 classes, batch 32; "
        f"median of epochs 2..{args.epochs}\n"
    )
    results = {
        "keras fit (defaults)": keras_fit(args.epochs),
        "tfcore loop (a keras job)": tfcore_loop(args.epochs),
    }
    reference = results["keras fit (defaults)"]
    print(f"{'':30}{'samples/s':>12}{'vs fit':>9}")
    for name, rate in results.items():
        print(f"{name:30}{rate:12,.0f}{rate / reference:8.2f}×")


if __name__ == "__main__":
    main()
