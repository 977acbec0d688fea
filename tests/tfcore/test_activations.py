from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfcore.activations import naive_softplus, stable_softplus


def values_and_gradients(fn, points):
    z = tf.Variable(points, dtype=tf.float32)
    with tf.GradientTape() as tape:
        out = fn(z)
    return out.numpy(), tape.gradient(out, z).numpy()


def test_matches_keras_softplus_including_gradients():
    points = [-1000.0, -30.0, -1.0, 0.0, 0.5, 30.0, 1000.0]
    ours, our_grad = values_and_gradients(stable_softplus, points)
    theirs, their_grad = values_and_gradients(keras.activations.softplus, points)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(our_grad, their_grad, rtol=1e-6, atol=1e-7)


def test_finite_and_correct_up_to_1e4():
    points = np.array([-1e4, -100.0, 100.0, 1e4], dtype="float32")
    values, grads = values_and_gradients(stable_softplus, points)
    assert np.isfinite(values).all() and np.isfinite(grads).all()
    np.testing.assert_allclose(values, [0.0, 0.0, 100.0, 1e4], atol=1e-6)
    np.testing.assert_allclose(grads, [0.0, 0.0, 1.0, 1.0], atol=1e-6)


def test_the_seed_naive_form_gives_nan_where_the_stable_one_does_not():
    # The seed's point: autodiff through log(1 + exp(z)) computes inf / inf at large z.
    _, naive_grad = values_and_gradients(naive_softplus, [1000.0])
    _, stable_grad = values_and_gradients(stable_softplus, [1000.0])
    assert np.isnan(naive_grad).all()
    assert stable_grad.tolist() == [1.0]


def test_usable_by_name_in_a_layer_and_serializable():
    layer = keras.layers.Dense(2, activation=stable_softplus)
    config = layer.get_config()
    assert keras.layers.Dense.from_config(config).activation is stable_softplus
