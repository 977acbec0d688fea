from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcore.losses import huber
from tfcore.metrics import HuberMetric, build_metrics


def test_streaming_huber_over_batches_equals_one_shot():
    rng = np.random.default_rng(1)
    y_true = rng.normal(scale=3, size=(90, 1)).astype("float32")
    y_pred = rng.normal(scale=3, size=(90, 1)).astype("float32")
    metric = HuberMetric(2.0)
    for lo, hi in [(0, 10), (10, 50), (50, 90)]:  # uneven batches: a mean of means would differ
        metric.update_state(y_true[lo:hi], y_pred[lo:hi])
    one_shot = float(tf.reduce_mean(huber(y_true, y_pred, 2.0)))
    assert float(metric.result()) == pytest.approx(one_shot, rel=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0 and [float(v) for v in metric.variables] == [0.0, 0.0]


def test_keras_precision_streams_like_the_seed():
    precision = keras.metrics.Precision()
    precision.update_state([0, 1, 1, 1, 0, 1, 0, 1], [1, 1, 0, 1, 0, 1, 0, 1])
    assert float(precision.result()) == pytest.approx(0.8)
    precision.update_state([0, 1, 0, 0, 1, 0, 1, 1], [1, 0, 1, 1, 0, 0, 0, 0])
    assert float(precision.result()) == pytest.approx(0.5)  # overall, not the mean 0.4
    precision.reset_state()  # Keras 3's name for the seed's reset_states()
    assert float(precision.result()) == 0.0


def test_sample_weights_apply():
    metric = HuberMetric(1.0)
    metric.update_state(
        tf.constant([[0.0], [0.0]]), tf.constant([[1.0], [3.0]]), sample_weight=tf.constant([[1.0], [0.0]])
    )
    assert float(metric.result()) == pytest.approx(0.5)


def test_build_metrics_names():
    names = ["mae", "mse", "rmse", "huber", "accuracy", "precision", "recall", "auc"]
    assert [m.name for m in build_metrics(names, threshold=2.0)] == names
    with pytest.raises(ValueError, match="unknown metrics"):
        build_metrics(["r2"], threshold=1.0)
