"""A reused trainer trains exactly as a fresh one: same seed, same final weights, no
new trace. Each case runs the job cold, then through a cache warmed by another job of
the same architecture (another seed, learning rate, epochs), and compares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfcore.data import synthetic_regression
from tfcore.runner import run_job
from tfcore.spec import JobSpec
from tfcore.warm import TrainerCache, architecture_key

DATA = synthetic_regression(rows=600, features=6)
# A user's own architecture (model_type keras), with dropout and a Normalization to fit.
KERAS_ARCHITECTURE = {
    "module": "keras",
    "class_name": "Sequential",
    "registered_name": None,
    "config": {
        "name": "own",
        "layers": [
            {"module": "keras.layers", "class_name": name, "registered_name": None, "config": config}
            for name, config in (
                ("InputLayer", {"batch_shape": [None, 6], "name": "rows"}),
                ("Normalization", {"name": "scale"}),
                ("Dense", {"units": 16, "activation": "relu", "name": "hidden"}),
                ("Dropout", {"rate": 0.2, "name": "drop", "seed": 3}),
                ("Dense", {"units": 1, "name": "out"}),
            )
        ],
    },
}


def final_weights(result) -> list[np.ndarray]:
    return [np.array(v) for v in result.model.get_weights()]


def train(spec: JobSpec, tmp: Path, cache: TrainerCache | None = None):
    result = run_job(spec, DATA, workdir=tmp / f"w{np.random.randint(1 << 30)}", cache=cache)
    weights, traces, history = final_weights(result), dict(result.trainer.trace_counts), result.history
    result.release()
    return weights, traces, history


@pytest.mark.parametrize(
    "fields",
    [
        {"model_type": "mlp", "loss": "mse", "dropout": 0.2, "gaussian_noise": 0.1},
        {
            "model_type": "wide_deep",
            "loss": "huber",
            "optimizer": "rmsprop",
            "kernel_regularizer": {"l2": 0.01},
        },
        {"model_type": "keras", "loss": "mse", "architecture": KERAS_ARCHITECTURE, "dataset": "synthetic"},
    ],
    ids=["mlp", "wide_deep", "keras"],
)
def test_a_reused_trainer_ends_with_the_cold_runs_weights(fields, tmp_path):
    spec = JobSpec.model_validate({**fields, "epochs": 3, "seed": 7, "learning_rate": 0.01})
    cold, _, cold_history = train(spec, tmp_path)

    cache = TrainerCache()
    other = spec.model_copy(update={"learning_rate": 0.003, "epochs": 2})  # warms the cache
    train(other, tmp_path, cache)
    assert len(cache) == 1 and cache.misses == 1
    warm, traces, warm_history = train(spec, tmp_path, cache)

    assert cache.hits == 1
    assert traces == {"train_chunk": 1, "evaluate": 1}  # traced once, by the first job only
    assert len(warm) == len(cold)
    for a, b in zip(warm, cold, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [r["loss"] for r in warm_history] == [r["loss"] for r in cold_history]


def test_another_architecture_or_data_scale_is_a_miss(tmp_path):
    spec = JobSpec(model_type="mlp", loss="mse", epochs=1)
    cache = TrainerCache()
    train(spec, tmp_path, cache)
    train(spec.model_copy(update={"hidden_units": 8}), tmp_path, cache)
    assert (cache.hits, cache.misses, len(cache)) == (0, 2, 2)
    key = architecture_key(spec, 6, 0.0, 1.0, 1)
    assert key != architecture_key(spec, 7, 0.0, 1.0, 1) != architecture_key(spec, 6, 0.5, 1.0, 1)
    assert key == architecture_key(
        spec.model_copy(update={"learning_rate": 0.5, "epochs": 9}), 6, 0.0, 1.0, 1
    )
    assert key != architecture_key(spec.model_copy(update={"seed": 1}), 6, 0.0, 1.0, 1)  # in the saved config


def test_the_cache_keeps_the_most_recent_and_never_lends_one_trainer_twice():
    cache = TrainerCache(size=2)
    for key in "abc":
        cache.give(key, object())
    assert cache.take("a") is None and cache.take("b") is not None and cache.take("b") is None
