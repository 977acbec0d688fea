"""Streaming metrics: the seed's ``HuberMetric`` and the spec's metric names.

A streaming metric keeps its state in variables and answers for everything it has
seen since the last ``reset_state`` (Keras 3's name for the seed's ``reset_states``),
not the mean of per-batch answers.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfcore.losses import huber

__all__ = ["HuberMetric", "build_metrics"]


@keras.saving.register_keras_serializable(package="tfcore")
class HuberMetric(keras.metrics.Metric):
    """Mean Huber loss over every element seen since the last reset.

    Args:
        threshold: the Huber threshold (> 0). Defaults to 1.0.
        name: Defaults to ``"huber"``.

    >>> m = HuberMetric(2.0)
    >>> m.update_state(tf.constant([[0.0]]), tf.constant([[3.0]]))
    >>> float(m.result())
    4.0
    """

    def __init__(self, threshold: float = 1.0, name: str = "huber", **kwargs: Any) -> None:
        if not threshold > 0:
            raise ValueError(f"threshold must be positive. Received: threshold={threshold}")
        super().__init__(name=name, **kwargs)
        self.threshold = float(threshold)
        # "sum": under a MirroredStrategy each replica adds its share
        self.total = self.add_variable(shape=(), initializer="zeros", name="total", aggregation="sum")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count", aggregation="sum")

    def update_state(
        self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: tf.Tensor | None = None
    ) -> None:
        values = huber(y_true, y_pred, self.threshold)
        if sample_weight is None:
            weights = tf.ones_like(values)
        else:
            weights = tf.broadcast_to(tf.cast(sample_weight, values.dtype), tf.shape(values))
        self.total.assign_add(tf.reduce_sum(values * weights))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self) -> tf.Tensor:
        return tf.math.divide_no_nan(self.total, self.count)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}


def build_metrics(
    names: list[str], *, threshold: float, loss: str = "mse", top_k: int = 5
) -> list[keras.metrics.Metric]:
    """Fresh streaming metric objects for the spec's metric names (reported under those names).
    ``loss`` says what ``accuracy`` means: of a sigmoid, of class labels, or of one-hot rows."""
    top_k_accuracy = (
        keras.metrics.TopKCategoricalAccuracy
        if loss == "categorical_crossentropy"
        else keras.metrics.SparseTopKCategoricalAccuracy
    )
    accuracy = {
        "sparse_categorical_crossentropy": keras.metrics.SparseCategoricalAccuracy,
        "categorical_crossentropy": keras.metrics.CategoricalAccuracy,
    }.get(loss, keras.metrics.BinaryAccuracy)
    factories = {
        "mae": lambda: keras.metrics.MeanAbsoluteError(name="mae"),
        "mse": lambda: keras.metrics.MeanSquaredError(name="mse"),
        "rmse": lambda: keras.metrics.RootMeanSquaredError(name="rmse"),
        "huber": lambda: HuberMetric(threshold, name="huber"),
        "accuracy": lambda: accuracy(name="accuracy"),
        "precision": lambda: keras.metrics.Precision(name="precision"),
        "recall": lambda: keras.metrics.Recall(name="recall"),
        "auc": lambda: keras.metrics.AUC(name="auc"),
        "top_k_accuracy": lambda: top_k_accuracy(k=top_k, name="top_k_accuracy"),
    }
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(factories)}")
    return [factories[n]() for n in names]
