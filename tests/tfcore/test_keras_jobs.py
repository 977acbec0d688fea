"""model_type "keras": a user's own architecture trains in tfcore's loop, checkpoints,
exports verified, and reloads with `keras.models.load_model` (safe mode) and tfcore only —
a CNN on images, a GRU on sequences, a functional model with the seed's ResidualBlock."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tests.hostile import npz_bytes
from tests.tfcore.shapes import cnn
from tfcore.data import load_npz, quadrant_images, running_sums
from tfcore.errors import DataError
from tfcore.layers import ResidualBlock
from tfcore.runner import run_job
from tfcore.spec import JobSpec


def keras_spec(model: keras.Model, **fields) -> JobSpec:
    return JobSpec.model_validate(
        {"model_type": "keras", "architecture": json.loads(model.to_json()), "dataset": "upload", **fields}
    )


def images():
    x, y = quadrant_images()
    return load_npz(npz_bytes(x=x, y=y), name="quadrants.npz")


def test_a_cnn_learns_the_images_as_well_as_keras_fit_and_reloads(tmp_path):
    dataset = images()
    spec = keras_spec(cnn(), loss="sparse_categorical_crossentropy", epochs=8, batch_size=32)
    job = run_job(
        spec, dataset, workdir=tmp_path / "work", export_dir=tmp_path / "model", steps_per_execution=5
    )
    ours = job.history[-1]["val_accuracy"]

    # Keras fit on the same architecture, data split and epochs, as the reference.
    reference = cnn()
    keras.utils.set_random_seed(spec.seed)
    reference = keras.Sequential.from_config(reference.get_config())
    reference.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    from tfcore.data import split

    train, validation = split(dataset, validation_split=spec.validation_split, seed=spec.seed)
    fitted = reference.fit(
        train.x, train.y, epochs=8, batch_size=32, verbose=0, validation_data=(validation.x, validation.y)
    )
    theirs = fitted.history["val_accuracy"][-1]
    assert ours >= theirs - 0.05, (ours, theirs)
    assert ours > 0.9

    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["dataset"]["shape"] == [8, 8, 1] and manifest["dataset"]["classes"] == 4
    reloaded = keras.models.load_model(tmp_path / "model" / "model.keras", safe_mode=True)
    inputs = np.asarray(manifest["examples"]["inputs"], dtype="float32")
    np.testing.assert_allclose(
        reloaded.predict(inputs, verbose=0), manifest["examples"]["outputs"], rtol=1e-4, atol=1e-5
    )


def gru() -> keras.Model:
    inputs = keras.Input((12, 2))
    hidden = keras.layers.GRU(16)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


def test_top_k_accuracy_counts_a_label_among_the_k_likeliest(tmp_path):
    spec = keras_spec(
        cnn(),
        loss="sparse_categorical_crossentropy",
        epochs=1,
        metrics=["accuracy", "top_k_accuracy"],
        top_k=4,
    )
    job = run_job(spec, images(), workdir=tmp_path / "work")
    assert job.history[-1]["top_k_accuracy"] == 1.0  # every label is among all four classes
    assert job.history[-1]["val_top_k_accuracy"] == 1.0 and job.history[-1]["accuracy"] < 1.0


def test_a_gru_regresses_sequences_as_well_as_keras_fit(tmp_path):
    from tfcore.data import split

    x, y = running_sums()
    dataset = load_npz(npz_bytes(x=x, y=y), name="sums.npz")
    spec = keras_spec(gru(), loss="mse", epochs=6, batch_size=32, learning_rate=0.01)
    job = run_job(spec, dataset, workdir=tmp_path / "work", export_dir=tmp_path / "model")
    ours = job.history[-1]["val_loss"]
    assert ours < 0.5 * job.history[0]["val_loss"]
    assert (tmp_path / "model" / "saved_model.tar.gz").is_file()

    keras.utils.set_random_seed(spec.seed)
    reference = keras.Model.from_config(gru().get_config())
    reference.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    train, validation = split(dataset, validation_split=spec.validation_split, seed=spec.seed)
    fitted = reference.fit(
        train.x, train.y, epochs=6, batch_size=32, verbose=0, validation_data=(validation.x, validation.y)
    )
    assert ours <= 1.25 * fitted.history["val_loss"][-1], (ours, fitted.history["val_loss"][-1])


def test_a_functional_model_with_the_seeds_residual_block_trains_and_reloads(tmp_path):
    from tfcore.data import load_builtin

    inputs = keras.Input((10,))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    x = ResidualBlock(2, 16)(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    spec = keras_spec(model, loss="huber", threshold=2.0, epochs=2, dataset="diabetes")
    run_job(spec, load_builtin("diabetes"), workdir=tmp_path / "work", export_dir=tmp_path / "model")
    reloaded = keras.models.load_model(tmp_path / "model" / "model.keras", safe_mode=True)
    assert any(isinstance(layer, ResidualBlock) for layer in reloaded.layers)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"shape": (6, 6, 1)}, "takes inputs of shape [8, 8, 1] but the dataset's rows have shape [6, 6, 1]"),
        ({"classes": 3}, "outputs 4 values per row but the dataset needs 3 classes"),
    ],
)
def test_an_architecture_that_does_not_fit_the_data_fails_naming_both_shapes(tmp_path, change, says):
    shape, classes = change.get("shape", (8, 8, 1)), change.get("classes", 4)
    rng = np.random.default_rng(0)
    dataset = load_npz(
        npz_bytes(x=rng.integers(0, 255, (40, *shape), dtype=np.uint8), y=np.arange(40) % classes)
    )
    spec = keras_spec(cnn(), loss="sparse_categorical_crossentropy", epochs=1)
    with pytest.raises(DataError, match=re_escape(says)):
        run_job(spec, dataset, workdir=tmp_path / "work")


def test_a_model_over_the_parameter_limit_fails_with_its_exact_count(tmp_path):
    spec = keras_spec(cnn(), loss="sparse_categorical_crossentropy", epochs=1)
    with pytest.raises(DataError, match=r"has 596 parameters, more than the limit of 500"):
        run_job(spec, images(), workdir=tmp_path / "work", max_params=500)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_mixed_precision_computes_a_users_model_in_float16_and_answers_in_float32(tmp_path):
    spec = keras_spec(cnn(), loss="sparse_categorical_crossentropy", epochs=2, mixed_precision=True)
    job = run_job(spec, images(), workdir=tmp_path / "work", export_dir=tmp_path / "model")
    conv = next(layer for layer in job.model.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "float16" and conv.kernel.dtype == "float32"
    assert job.model.layers[-1].compute_dtype == "float32"
    assert np.isfinite(job.history[-1]["loss"])
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["output"]["dtype"] == "float32"


def test_a_normalization_layer_that_states_no_statistics_is_fitted_to_the_training_rows(tmp_path):
    from tfcore.data import load_builtin

    model = keras.Sequential([keras.Input((10,)), keras.layers.Normalization(), keras.layers.Dense(1)])
    spec = keras_spec(model, loss="mse", epochs=1, dataset="diabetes")
    job = run_job(spec, load_builtin("diabetes"), workdir=tmp_path / "work")
    normalization = job.model.layers[0]
    assert not np.allclose(normalization.mean.numpy(), 0.0) and not np.allclose(
        normalization.variance.numpy(), 1.0
    )


def test_a_keras_job_resumes_from_its_checkpoint_and_reports_each_epoch_once(tmp_path):
    from tfcore.report import ListReporter

    dataset = images()
    first = keras_spec(cnn(), loss="sparse_categorical_crossentropy", epochs=4)
    stopped = iter(range(10**6))
    reporter = ListReporter()
    # Stops after the second epoch's checkpoint, as a worker handing the job back would.
    partial = run_job(
        first,
        dataset,
        workdir=tmp_path / "work",
        reporter=reporter,
        should_stop=lambda: (
            len([p for p in reporter.points if p.kind == "epoch"]) >= 2 and next(stopped) >= 0
        ),
    )
    assert partial.stop_reason == "cancelled" and len(partial.history) == 2
    resumed_reporter = ListReporter()
    resumed = run_job(
        first,
        dataset,
        workdir=tmp_path / "work",
        reporter=resumed_reporter,
        resume=True,
        already_reported_epoch=2,
    )
    assert [row["epoch"] for row in resumed.history] == [1.0, 2.0, 3.0, 4.0]
    assert [p.epoch for p in resumed_reporter.points if p.kind == "epoch"] == [3, 4]
