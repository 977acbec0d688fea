"""Initializer, regularizer, constraint — and from_config(get_config()) for everything registered."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfcore.components  # noqa: F401 - registers everything
from tfcore.constraints import PositiveWeights
from tfcore.initializers import GlorotNormalVariant
from tfcore.layers import Exponential, MyDense, MyGaussianNoise, MyMultiLayer, ResidualBlock
from tfcore.losses import HuberLoss
from tfcore.metrics import HuberMetric
from tfcore.models import MODEL_CLASSES
from tfcore.regularizers import MyL1Regularizer


def test_glorot_variant_has_the_seed_stddev_and_repeats_with_a_seed():
    weights = GlorotNormalVariant(seed=3)((400, 600)).numpy()
    assert weights.shape == (400, 600)
    assert abs(weights.std() - np.sqrt(2.0 / 1000)) < 0.002
    assert abs(weights.mean()) < 0.002
    np.testing.assert_array_equal(weights, GlorotNormalVariant(seed=3)((400, 600)).numpy())


def test_l1_regularizer_is_the_seed_formula():
    w = tf.constant([[-1.0, 2.0], [3.0, -4.0]])
    assert float(MyL1Regularizer(0.01)(w)) == pytest.approx(0.1)
    assert MyL1Regularizer.from_config(MyL1Regularizer(0.3).get_config()).factor == 0.3


def test_regularizer_penalty_reaches_model_losses():
    layer = MyDense(2, kernel_regularizer=MyL1Regularizer(0.5), kernel_initializer="ones")
    layer(tf.ones((1, 3)))
    assert float(tf.add_n(layer.losses)) == pytest.approx(0.5 * 6)


def test_positive_constraint_applies_after_each_optimizer_step():
    layer = MyDense(4, kernel_constraint=PositiveWeights(), kernel_initializer="ones")
    layer.build((None, 3))
    optimizer = keras.optimizers.SGD(learning_rate=10.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.ones((2, 3))))  # gradient pushes every weight negative
    grads = tape.gradient(loss, layer.trainable_variables)
    optimizer.apply_gradients(zip(grads, layer.trainable_variables, strict=True))
    assert float(tf.reduce_min(layer.kernel)) == 0.0
    np.testing.assert_array_equal(PositiveWeights()(tf.constant([-1.0, 0.5])).numpy(), [0.0, 0.5])


REGISTERED = {
    "HuberLoss": HuberLoss(2.0),
    "HuberMetric": HuberMetric(2.0),
    "GlorotNormalVariant": GlorotNormalVariant(seed=1),
    "MyL1Regularizer": MyL1Regularizer(0.02),
    "PositiveWeights": PositiveWeights(),
    "MyDense": MyDense(
        3,
        "stable_softplus",
        kernel_initializer=GlorotNormalVariant(),
        kernel_regularizer=MyL1Regularizer(0.1),
        kernel_constraint=PositiveWeights(),
    ),
    "Exponential": Exponential(),
    "MyMultiLayer": MyMultiLayer(),
    "MyGaussianNoise": MyGaussianNoise(0.3, seed=2),
    "ResidualBlock": ResidualBlock(2, 30, activation="elu", kernel_regularizer=MyL1Regularizer(0.1)),
    **{
        cls.__name__: cls(
            hidden_units=7,
            n_hidden=2,
            activation="stable_softplus",
            kernel_initializer=GlorotNormalVariant(),
            kernel_constraint=PositiveWeights(),
            dropout=0.1,
            target_mean=3.0,
            target_std=2.0,
        )
        for cls in MODEL_CLASSES.values()
    },
}


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_from_config_rebuilds_every_registered_object(name):
    obj = REGISTERED[name]
    assert keras.saving.get_registered_name(type(obj)) == f"tfcore>{name}"
    config = obj.get_config()
    clone = type(obj).from_config(config)
    assert clone.get_config() == config
    # and the generic path the .keras loader takes
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
    assert type(again) is type(obj) and again.get_config() == config


def test_functions_are_registered_too():
    from tfcore.activations import stable_softplus
    from tfcore.losses import huber

    assert keras.saving.get_registered_object("tfcore>stable_softplus") is stable_softplus
    assert keras.saving.get_registered_object("tfcore>huber") is huber
