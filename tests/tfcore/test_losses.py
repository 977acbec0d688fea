from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcore.losses import HuberLoss, create_huber, huber

rng = np.random.default_rng(0)
Y_TRUE = rng.normal(scale=3, size=(64, 1)).astype("float32")
Y_PRED = rng.normal(scale=3, size=(64, 1)).astype("float32")


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_huber_loss_matches_keras(threshold):
    ours = HuberLoss(threshold)(Y_TRUE, Y_PRED)
    theirs = keras.losses.Huber(delta=threshold)(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-6)


def test_function_factory_and_class_agree():
    per_element = huber(Y_TRUE, Y_PRED, 2.0)
    assert per_element.shape == Y_TRUE.shape  # unreduced: sample weights can apply
    np.testing.assert_allclose(create_huber(2.0)(Y_TRUE, Y_PRED), per_element)
    np.testing.assert_allclose(
        float(HuberLoss(2.0)(Y_TRUE, Y_PRED)), float(tf.reduce_mean(per_element)), rtol=1e-6
    )


def test_huber_branches_by_threshold():
    values = huber(tf.constant([0.0, 0.0]), tf.constant([1.0, 3.0]), 2.0).numpy()
    np.testing.assert_allclose(values, [0.5, 2.0 * 3.0 - 2.0])  # quadratic, then linear


def test_threshold_survives_config_and_save(tmp_path):
    loss = HuberLoss(2.5)
    assert HuberLoss.from_config(loss.get_config()).threshold == 2.5
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=HuberLoss(2.5))
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.loss, HuberLoss) and reloaded.loss.threshold == 2.5


def test_threshold_must_be_positive():
    with pytest.raises(ValueError, match="threshold=0"):
        HuberLoss(0)
