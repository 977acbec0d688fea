"""The seed's positive-weights constraint."""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["PositiveWeights"]


@keras.saving.register_keras_serializable(package="tfcore")
class PositiveWeights(keras.constraints.Constraint):
    """After each optimizer step, negative weights are set to zero (``relu`` on the kernel).

    >>> PositiveWeights()(tf.constant([-1.0, 2.0])).numpy().tolist()
    [0.0, 2.0]
    """

    def __call__(self, weights: tf.Tensor) -> tf.Tensor:
        return tf.where(weights < 0.0, tf.zeros_like(weights), weights)

    def get_config(self) -> dict[str, object]:
        return {}
