"""A softplus that stays finite where the textbook form overflows.

``log(1 + exp(z))`` overflows for large ``z`` and its autodiff gradient becomes
``inf / inf = NaN``. The seed's stable form is ``log(1 + exp(-|z|)) + max(0, z)``
with the analytic gradient ``1 - 1 / (1 + exp(z))`` supplied through
``tf.custom_gradient``; both stay finite for any float32 input.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["naive_softplus", "stable_softplus"]


def naive_softplus(z: tf.Tensor) -> tf.Tensor:
    """The seed's first ``my_softplus``: correct for small ``z``, NaN gradients for large."""
    return tf.math.log(1.0 + tf.exp(z))


@tf.custom_gradient
def _stable_softplus(z: tf.Tensor):
    def gradient(upstream: tf.Tensor) -> tf.Tensor:
        # sigmoid(z) written so that exp(z) = inf gives 1 - 0 = 1, not inf/inf.
        return upstream * (1 - 1 / (1 + tf.exp(z)))

    result = tf.math.log(1 + tf.exp(-tf.abs(z))) + tf.nn.relu(z)  # relu: max(0, z) in z's own dtype
    return result, gradient


@keras.saving.register_keras_serializable(package="tfcore")
def stable_softplus(z: tf.Tensor) -> tf.Tensor:
    """Softplus, ``log(1 + exp(z))``, with finite values and gradients for any input.

    >>> float(stable_softplus(tf.constant(1e4)))
    10000.0
    """
    return _stable_softplus(tf.convert_to_tensor(z))
