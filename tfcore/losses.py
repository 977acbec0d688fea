"""Huber loss three ways, as the seed builds it: a function, a factory, a ``Loss`` class.

Huber with threshold ``t`` on the error ``e = y_true - y_pred``::

    e**2 / 2              where |e| <  t
    t * |e| - t**2 / 2    elsewhere

Only the class keeps ``threshold`` through save/load; the factory's closure
cannot (the seed's point), so models are compiled with ``HuberLoss``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

__all__ = ["HuberLoss", "create_huber", "huber"]


@keras.saving.register_keras_serializable(package="tfcore")
def huber(y_true: tf.Tensor, y_pred: tf.Tensor, threshold: float = 1.0) -> tf.Tensor:
    """Per-element Huber loss (not reduced, so sample weights can apply).

    Args:
        y_true: targets.
        y_pred: predictions, same shape.
        threshold: where the quadratic part turns linear. Defaults to 1.0.

    >>> float(huber(tf.constant([0.0]), tf.constant([3.0]), threshold=2.0)[0])
    4.0
    """
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(y_true, y_pred.dtype)
    error = y_true - y_pred
    is_small_error = tf.abs(error) < threshold
    squared_loss = tf.square(error) / 2
    linear_loss = threshold * tf.abs(error) - threshold**2 / 2
    return tf.where(is_small_error, squared_loss, linear_loss)


def create_huber(threshold: float = 1.0) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The seed's factory: a two-argument Huber function with ``threshold`` baked in.

    Handy for ``compile(loss=...)`` but its threshold is not saved with a model; use
    :class:`HuberLoss` for anything that is saved.
    """

    def huber_fn(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        return huber(y_true, y_pred, threshold)

    return huber_fn


@keras.saving.register_keras_serializable(package="tfcore")
class HuberLoss(keras.losses.Loss):
    """Huber loss whose ``threshold`` is part of its config, so it survives save/load.

    Args:
        threshold: where the quadratic part turns linear (> 0). Defaults to 1.0.

    >>> float(HuberLoss(2.0)(tf.constant([[0.0]]), tf.constant([[3.0]])))
    4.0
    """

    def __init__(self, threshold: float = 1.0, **kwargs: Any) -> None:
        if not threshold > 0:
            raise ValueError(f"threshold must be positive. Received: threshold={threshold}")
        kwargs.setdefault("name", "huber_loss")
        super().__init__(**kwargs)
        self.threshold = float(threshold)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        return huber(y_true, y_pred, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}
