"""The multi-device path on the CPU: two logical devices, a MirroredStrategy, the same result."""

from __future__ import annotations

import json

DISTRIBUTED_VS_SINGLE = """
import json
import numpy as np
from tfcore.distribute import choose_strategy, split_cpu

devices = split_cpu(2)  # before anything initializes TensorFlow's devices
import tensorflow as tf
import tfcore
from tfcore.data import split, synthetic_regression
from tfcore.runner import prepare_trainer
from tfcore.spec import JobSpec
from tfcore.train import LoopConfig, fit

train, val = split(synthetic_regression(rows=800, features=6, seed=0), validation_split=0.2, seed=0)
spec = JobSpec(model_type="reconstructing", loss="huber", epochs=2, metrics=["mae", "huber"])
results = {}
for name, strategy in [("single", tf.distribute.OneDeviceStrategy(devices[0])),
                       ("mirrored", choose_strategy(devices))]:
    trainer = prepare_trainer(spec, train.x, train.y, strategy=strategy)
    result = fit(trainer, (train.x, train.y), (val.x, val.y), LoopConfig.from_spec(spec))
    results[name] = {"replicas": trainer.replicas, "history": result.history,
                     "traces": result.trace_counts,
                     "weights": [w.numpy().ravel().tolist() for w in trainer.model.trainable_variables]}
print(json.dumps({"default_replicas": choose_strategy().num_replicas_in_sync, **results}))
"""


def test_mirrored_strategy_on_two_cpu_devices_matches_one_device(fresh_python):
    out = json.loads(fresh_python(DISTRIBUTED_VS_SINGLE).strip().splitlines()[-1])
    single, mirrored = out["single"], out["mirrored"]
    assert out["default_replicas"] == 1  # one CPU, no GPUs: no wrapping by default
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert mirrored["traces"] == {"train_chunk": 1, "evaluate": 1}
    # 640 rows = 20 whole batches: each replica takes half of every batch and the summed
    # half-gradients equal the full batch's — the same training, up to float rounding.
    for a, b in zip(single["history"], mirrored["history"], strict=True):
        for key in ("loss", "mae", "huber", "reconstruction_error", "val_loss", "val_mae"):
            assert abs(a[key] - b[key]) <= 1e-3 * max(1.0, abs(a[key])), (key, a[key], b[key])
    for w1, w2 in zip(single["weights"], mirrored["weights"], strict=True):
        assert max(abs(x - y) for x, y in zip(w1, w2, strict=True)) < 1e-3
