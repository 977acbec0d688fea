from __future__ import annotations

import itertools

import numpy as np
import pytest

from tfcore.data import load_builtin, split, synthetic_regression
from tfcore.errors import TrainingDiverged
from tfcore.report import ListReporter
from tfcore.runner import prepare_trainer
from tfcore.spec import JobSpec
from tfcore.train import LoopConfig, fit

DATA = synthetic_regression(rows=600, features=6, seed=0)
TRAIN, VAL = split(DATA, validation_split=0.2, seed=0)  # 480 rows: 15 batches of 32


def spec(**fields) -> JobSpec:
    return JobSpec.model_validate({"model_type": "mlp", "loss": "mse", "epochs": 3, **fields})


def run(job: JobSpec, *, train=TRAIN, val=VAL, reporter=None, should_stop=None, **config):
    trainer = prepare_trainer(job, train.x, train.y)
    loop = LoopConfig.from_spec(job, **config)
    kwargs = {"should_stop": should_stop} if should_stop else {}
    return trainer, fit(
        trainer, (train.x, train.y), (val.x, val.y), loop, reporter=reporter or ListReporter(), **kwargs
    )


def test_training_lowers_the_loss_on_builtin_data():
    data = load_builtin("diabetes")
    train, val = split(data, validation_split=0.2, seed=0)
    _, result = run(spec(model_type="residual", loss="huber", threshold=2.0, epochs=8), train=train, val=val)
    assert result.stop_reason == "completed" and len(result.history) == 8
    assert result.history[-1]["loss"] < 0.7 * result.history[0]["loss"]
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]


def test_each_function_traces_once_per_job():
    # 15 steps per epoch in chunks of 4 → calls of 4, 4, 4, 3: the short one must not retrace.
    _, result = run(spec(epochs=4, steps_per_execution=4))
    assert result.trace_counts == {"train_chunk": 1, "evaluate": 1}
    assert result.steps == 4 * 15


def test_epoch_points_carry_every_field_and_step_points_are_throttled():
    reporter = ListReporter()
    run(
        spec(epochs=2, steps_per_execution=2, metrics=["mae", "huber"]),
        reporter=reporter,
        report_every_steps=4,
        report_every_seconds=3600,
    )
    epochs = reporter.epochs()
    assert [p.epoch for p in epochs] == [1, 2]
    assert list(epochs[0].values) == spec(epochs=2, metrics=["mae", "huber"]).epoch_metric_names
    assert set(epochs[0].values) == {
        "loss",
        "mae",
        "huber",
        "val_loss",
        "val_mae",
        "val_huber",
        "lr",
        "epoch_seconds",
        "samples_per_second",
    }
    steps = [p.step for p in reporter.points if p.kind == "step"]
    assert steps and all(b - a >= 4 for a, b in itertools.pairwise(steps))
    assert len(steps) <= 2 * 15 // 4


def test_an_epoch_of_one_compiled_call_still_draws_a_step_curve():
    """The default: 100 steps a call, and an epoch of the default data is fewer, so each
    epoch is one call. Each call's point is reported (one an epoch at least), not only the
    first call's: the dashboard's step chart has a curve, not one point."""
    reporter = ListReporter()
    run(spec(epochs=3), reporter=reporter, report_every_seconds=3600)
    steps = [p for p in reporter.points if p.kind == "step"]
    epoch_ends = [p.step for p in reporter.epochs()]
    assert [p.epoch for p in steps] == [1, 2, 3]
    assert [p.step for p in steps] == epoch_ends  # one call an epoch: its end
    assert all("loss" in p.values for p in steps)


def test_reconstructing_model_reports_reconstruction_error_each_epoch():
    reporter = ListReporter()
    run(spec(model_type="reconstructing", epochs=2), reporter=reporter)
    errors = [p.values["reconstruction_error"] for p in reporter.epochs()]
    assert len(errors) == 2 and all(e > 0 for e in errors)
    assert set(reporter.epochs()[0].values) == set(
        spec(model_type="reconstructing", epochs=2).epoch_metric_names
    )


def test_cancel_is_checked_between_compiled_calls():
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) >= 3

    reporter = ListReporter()
    _, result = run(spec(epochs=5, steps_per_execution=2), reporter=reporter, should_stop=should_stop)
    assert result.stop_reason == "cancelled"
    assert result.steps == 6 and result.history == []
    assert any("stopped during epoch 1 at step 6" in line for line in reporter.lines)


def test_nan_loss_stops_with_epoch_and_step():
    rng = np.random.default_rng(0)
    huge = TRAIN.__class__(
        "huge",
        TRAIN.x,
        rng.normal(scale=1e25, size=TRAIN.y.shape).astype("float32"),
        TRAIN.feature_names,
        "y",
        "regression",
    )
    with pytest.raises(TrainingDiverged) as info:
        run(spec(steps_per_execution=10), train=huge)
    assert (info.value.epoch, info.value.step) == (1, 1)
    assert "epoch 1, step 1" in str(info.value)


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    job = spec(epochs=4, model_type="residual")
    _, straight = run(job, checkpoint_dir=tmp_path / "straight")

    reporter = ListReporter()
    _, first = run(
        job,
        checkpoint_dir=tmp_path / "ckpt",
        reporter=reporter,
        should_stop=lambda: len(reporter.epochs()) >= 2,
    )
    assert first.stop_reason == "cancelled" and len(first.history) == 2
    # a crash while writing epoch 3 leaves a stray data file but no index entry
    (tmp_path / "ckpt" / "ckpt-3.data-00000-of-00001").write_bytes(b"partial")

    resumed_reporter = ListReporter()
    _, resumed = run(
        job,
        checkpoint_dir=tmp_path / "ckpt",
        resume=True,
        reporter=resumed_reporter,
        already_reported_epoch=2,
    )
    assert [int(h["epoch"]) for h in resumed.history] == [1, 2, 3, 4]
    assert [p.epoch for p in resumed_reporter.epochs()] == [3, 4]  # only the remaining epochs ran
    assert resumed.steps == straight.steps
    np.testing.assert_allclose(resumed.history[-1]["val_loss"], straight.history[-1]["val_loss"], rtol=1e-4)


def test_resume_after_the_last_epoch_trains_nothing(tmp_path):
    job = spec(epochs=2)
    run(job, checkpoint_dir=tmp_path)
    reporter = ListReporter()
    _, again = run(job, checkpoint_dir=tmp_path, resume=True, reporter=reporter, already_reported_epoch=2)
    assert len(again.history) == 2 and reporter.epochs() == []


def test_early_stopping_on_val_loss():
    reporter = ListReporter()
    _, result = run(spec(epochs=10, early_stopping={"patience": 2, "min_delta": 1e6}), reporter=reporter)
    assert result.stop_reason == "early_stopping" and len(result.history) == 3
    assert any("early stopping after epoch 3" in line for line in reporter.lines)


def test_exponential_decay_schedule_is_reported():
    _, result = run(
        spec(
            epochs=2,
            learning_rate=0.01,
            lr_schedule={"type": "exponential", "decay_steps": 15, "decay_rate": 0.5},
        )
    )
    np.testing.assert_allclose([h["lr"] for h in result.history], [0.005, 0.0025], rtol=1e-5)


def test_piecewise_schedule_is_reported():
    _, result = run(
        spec(epochs=2, lr_schedule={"type": "piecewise", "boundaries": [10], "values": [0.01, 0.001]})
    )
    np.testing.assert_allclose([h["lr"] for h in result.history], [0.001, 0.001], rtol=1e-6)


def test_seed_options_train_together():
    # Every custom component from the seed in one model, trained by the loop.
    job = spec(
        epochs=2,
        activation="stable_softplus",
        kernel_initializer="glorot_normal_variant",
        kernel_regularizer={"l1": 0.01},
        kernel_constraint="positive",
        gaussian_noise=0.1,
        dropout=0.1,
    )
    trainer, result = run(job)
    assert np.isfinite(result.history[-1]["loss"])
    kernels = [
        v.numpy() for v in trainer.model.trainable_variables if "kernel" in v.path and "head" not in v.path
    ]
    assert kernels and all((k >= 0).all() for k in kernels)


def test_mixed_precision_computes_in_float16_and_answers_in_float32():
    trainer, result = run(spec(epochs=1, mixed_precision=True))
    assert trainer.model.hidden[0].compute_dtype == "float16"
    assert trainer.model.hidden[0].kernel.dtype == "float32"
    assert trainer.model(VAL.x[:2]).dtype == "float32"
    assert np.isfinite(result.history[-1]["loss"])


def test_resume_reports_checkpointed_epochs_whose_points_were_lost(tmp_path):
    # A crash between saving epoch 2's checkpoint and storing its point: the store has
    # epoch 1 only, so the resumed run reports epoch 2 from the checkpoint, then trains 3.
    job = spec(epochs=3)
    reporter = ListReporter()
    run(job, checkpoint_dir=tmp_path, reporter=reporter, should_stop=lambda: len(reporter.epochs()) >= 2)
    resumed = ListReporter()
    run(job, checkpoint_dir=tmp_path, resume=True, reporter=resumed, already_reported_epoch=1)
    assert [p.epoch for p in resumed.epochs()] == [2, 3]
    assert resumed.epochs()[0].values == {k: v for k, v in reporter.epochs()[1].values.items()}
