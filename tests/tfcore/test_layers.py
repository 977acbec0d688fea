from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcore.layers import Exponential, MyDense, MyGaussianNoise, MyMultiLayer, ResidualBlock

X = tf.constant(np.random.default_rng(0).normal(size=(4, 30)), dtype=tf.float32)


def test_my_dense_computes_activation_of_affine_map():
    layer = MyDense(5, activation="relu")
    out = layer(X)
    expected = tf.nn.relu(X @ layer.kernel + layer.bias)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert layer.get_config()["units"] == 5 and layer.get_config()["activation"] == "relu"


def test_my_dense_validates_units():
    with pytest.raises(ValueError, match="Received: units=0"):
        MyDense(0)


def test_exponential_replaces_lambda_and_loads_in_safe_mode(tmp_path):
    np.testing.assert_allclose(Exponential()(tf.constant([0.0, 1.0])), [1.0, np.e], rtol=1e-6)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1), Exponential()])
    model.save(tmp_path / "exp.keras")
    reloaded = keras.models.load_model(tmp_path / "exp.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded(np.ones((1, 2))), model(np.ones((1, 2))))


def test_lambda_layers_are_refused_by_safe_mode(tmp_path):
    # Why Exponential exists: a Lambda carries bytecode and safe mode will not load it.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: tf.exp(x))])
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.models.load_model(tmp_path / "lambda.keras", safe_mode=True)


def test_multi_layer_has_two_inputs_and_three_outputs():
    a, b = tf.constant([[2.0, 3.0]]), tf.constant([[4.0, 6.0]])
    total, product, ratio = MyMultiLayer()((a, b))
    np.testing.assert_allclose(total, [[6.0, 9.0]])
    np.testing.assert_allclose(product, [[8.0, 18.0]])
    np.testing.assert_allclose(ratio, [[0.5, 0.5]])


def test_gaussian_noise_acts_only_while_training():
    layer = MyGaussianNoise(1.0, seed=0)
    np.testing.assert_array_equal(layer(X), X)
    np.testing.assert_array_equal(layer(X, training=False), X)
    noisy = layer(X, training=True).numpy() - X.numpy()
    assert 0.7 < noisy.std() < 1.3


def test_residual_block_adds_its_input():
    block = ResidualBlock(2, 30)
    out = block(X)
    branch = X
    for dense in block.hidden:
        branch = dense(branch)
    np.testing.assert_allclose(out, X + branch, rtol=1e-6)
    assert len(block.trainable_variables) == 4


def test_residual_block_checks_width():
    with pytest.raises(ValueError, match="n_neurons"):
        ResidualBlock(2, 10)(X)
