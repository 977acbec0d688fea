"""The seed's L1 regularizer with its ``factor`` kept in the config."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

__all__ = ["MyL1Regularizer"]


@keras.saving.register_keras_serializable(package="tfcore")
class MyL1Regularizer(keras.regularizers.Regularizer):
    """Penalty ``sum(|factor * w|)`` added to the loss for each regularized weight.

    Args:
        factor: strength of the penalty (>= 0). Defaults to 0.01, the seed's value.

    >>> float(MyL1Regularizer(0.5)(tf.constant([-2.0, 4.0])))
    3.0
    """

    def __init__(self, factor: float = 0.01) -> None:
        if factor < 0:
            raise ValueError(f"factor must be non-negative. Received: factor={factor}")
        self.factor = float(factor)

    def __call__(self, weights: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.abs(self.factor * weights))

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor}
