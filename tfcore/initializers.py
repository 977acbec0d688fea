"""The seed's Glorot-normal variant as a serializable ``Initializer``."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

__all__ = ["GlorotNormalVariant"]


@keras.saving.register_keras_serializable(package="tfcore")
class GlorotNormalVariant(keras.initializers.Initializer):
    """Normal weights with ``stddev = sqrt(2 / (fan_in + fan_out))``, untruncated.

    Unlike Keras' ``GlorotNormal`` this draws from a plain (not truncated) normal,
    as the seed's ``my_glorot_initializer`` does. A ``seed`` makes draws repeatable.

    Args:
        seed: optional integer seed. Defaults to None.

    >>> GlorotNormalVariant(seed=1)((30, 20)).shape
    TensorShape([30, 20])
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def __call__(self, shape: Any, dtype: Any = None) -> tf.Tensor:
        if len(shape) < 2:
            raise ValueError(f"needs a kernel shape with two dimensions. Received: shape={shape}")
        stddev = tf.sqrt(2.0 / (shape[0] + shape[1]))
        dtype = tf.as_dtype(dtype or "float32")
        if self.seed is None:
            return tf.random.normal(shape, stddev=stddev, dtype=dtype)
        return tf.random.stateless_normal(shape, seed=[self.seed, 0], stddev=stddev, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}
