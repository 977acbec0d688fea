"""The custom loop trains as well as Keras' own ``model.fit`` on the same model and data."""

from __future__ import annotations

import numpy as np
import pytest

from tfcore.data import load_builtin, split
from tfcore.runner import prepare_trainer
from tfcore.spec import JobSpec
from tfcore.train import LoopConfig, build_loss, build_optimizer, fit

EPOCHS = 25


def holdout_mae(model, x, y) -> float:
    return float(np.mean(np.abs(model.predict(x, verbose=0, batch_size=1024) - y)))


@pytest.mark.parametrize("model_type", ["mlp", "residual", "reconstructing", "wide_deep"])
def test_holdout_error_within_1_3x_of_keras_fit(model_type):
    spec = JobSpec(model_type=model_type, loss="huber", threshold=2.0, epochs=EPOCHS, learning_rate=0.003)
    train, holdout = split(load_builtin("diabetes"), validation_split=0.2, seed=1)

    ours = prepare_trainer(spec, train.x, train.y)
    fit(ours, (train.x, train.y), (holdout.x, holdout.y), LoopConfig.from_spec(spec))

    reference = prepare_trainer(spec, train.x, train.y).model  # same architecture and init
    reference.compile(optimizer=build_optimizer(spec), loss=build_loss(spec))
    reference.fit(train.x, train.y, batch_size=spec.batch_size, epochs=EPOCHS, verbose=0)

    ours_error = holdout_mae(ours.model, holdout.x, holdout.y)
    fit_error = holdout_mae(reference, holdout.x, holdout.y)
    baseline = float(np.mean(np.abs(holdout.y - train.y.mean())))  # predicting the mean
    assert ours_error < 0.9 * baseline, (ours_error, baseline)
    assert ours_error <= 1.3 * fit_error, (ours_error, fit_error)
