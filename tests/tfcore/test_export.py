"""Export: every model type round-trips in a fresh process; a broken artifact is never published."""

from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path

import keras
import numpy as np
import pytest

import tfcore.export as export
from tests.roundtrip import keras_reloads, saved_models_serve_without_tfcore
from tfcore.data import load_builtin
from tfcore.errors import ExportError
from tfcore.export import export_model, sha256_file
from tfcore.runner import run_job
from tfcore.spec import JobSpec

MODEL_TYPES = ["mlp", "residual", "reconstructing", "wide_deep"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """Each model type (and a binary job) trained briefly and exported once for this module."""
    root = tmp_path_factory.mktemp("exports")
    jobs = {
        t: {
            "model_type": t,
            "loss": "huber",
            "threshold": 2.0,
            "epochs": 2,
            "activation": "stable_softplus",
            "kernel_regularizer": {"l1": 0.001},
        }
        for t in MODEL_TYPES
    }
    jobs["binary"] = {"model_type": "wide_deep", "loss": "binary_crossentropy", "epochs": 2}
    # Mixed precision once always failed at export (its SavedModel asked for float16 rows).
    jobs |= {f"mixed-{t}": {**jobs[t], "mixed_precision": True} for t in MODEL_TYPES}
    folders = {}
    for name, fields in jobs.items():
        spec = JobSpec.model_validate(fields)
        run_job(
            spec,
            load_builtin(spec.dataset_name),
            workdir=root / name / "work",
            export_dir=root / name / "artifacts",
        )
        folders[name] = root / name / "artifacts"
    return folders


def test_artifacts_and_manifest(exported):
    folder = exported["residual"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model.keras", "saved_model.tar.gz", "history.csv"}
    for name, digest in manifest["files"].items():
        assert sha256_file(folder / name) == digest
    assert manifest["spec"]["model_type"] == "residual" and manifest["spec"]["threshold"] == 2.0
    assert set(manifest["versions"]) == {"tensorflow", "keras", "tfcore"}
    features = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]  # diabetes, in input order
    assert manifest["input"] == {"shape": [None, 10], "dtype": "float32", "features": features}
    dataset = manifest["dataset"]
    assert (dataset["name"], dataset["target"], dataset["task"], dataset["features"]) == (
        "diabetes",
        "target",
        "regression",
        features,
    )
    assert len(dataset["arrays_sha256"]) == 64 and dataset["rows"] == 442
    assert "import tfcore, keras" in manifest["load"]["keras"] and "tfjobs" in manifest["load"]["keras"]
    assert manifest["output"] == {"shape": [None, 1], "dtype": "float32"}
    assert len(manifest["examples"]["inputs"]) == len(manifest["examples"]["outputs"]) == 5
    assert manifest["examples"]["rtol"] == 1e-4 and manifest["examples"]["atol"] >= 1e-4
    assert "val_loss" in manifest["final_metrics"]
    with (folder / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "val_loss" in rows[0]
    with tarfile.open(folder / "saved_model.tar.gz") as tar:
        names = tar.getnames()
    assert "saved_model/saved_model.pb" in names and any(
        n.startswith("saved_model/variables/") for n in names
    )
    assert not list(folder.parent.glob(".*staging*"))


def test_keras_archives_reload_in_a_fresh_process(exported, tmp_path):
    names = keras_reloads(list(exported.values()), cwd=tmp_path)
    assert len(names) == len(exported)
    assert "ReconstructingRegressor" in names and "ResidualRegressor" in names


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_mixed_precision_models_export_and_serve_float32_rows(exported, model_type):
    mixed = json.loads((exported[f"mixed-{model_type}"] / "manifest.json").read_text())
    full = json.loads((exported[model_type] / "manifest.json").read_text())
    assert mixed["spec"]["mixed_precision"] is True
    assert mixed["input"]["dtype"] == mixed["output"]["dtype"] == "float32"
    # Same seed, same data: float16 compute (with dynamic loss scaling) ends near float32.
    difference = mixed["final_metrics"]["loss"] / full["final_metrics"]["loss"] - 1
    print(
        f"\n{model_type}: loss fp32 {full['final_metrics']['loss']:.4g}, mixed "
        f"{mixed['final_metrics']['loss']:.4g} ({difference:+.1%})"
    )
    assert abs(difference) < 0.3


def test_saved_models_serve_without_project_code(exported, tmp_path):
    assert saved_models_serve_without_tfcore(list(exported.values()), cwd=tmp_path)


def test_binary_model_answers_probabilities(exported):
    manifest = json.loads((exported["binary"] / "manifest.json").read_text())
    outputs = np.array(manifest["examples"]["outputs"])
    assert ((outputs >= 0) & (outputs <= 1)).all()


class ForgetfulReconstructor(keras.Model):
    """The Keras 3 trap: a layer created in build() but never built there."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(1)

    def build(self, input_shape):
        self.reconstruct = keras.layers.Dense(input_shape[-1])

    def call(self, inputs):
        z = self.hidden(inputs)
        self.add_loss(keras.ops.mean(keras.ops.square(self.reconstruct(z) - inputs)))
        return self.out(z)


def test_export_refuses_a_model_that_reloads_differently(tmp_path):
    # Keras 3.15 reloads this model with a freshly initialized `reconstruct`... and
    # no error; only comparing predictions catches it.
    keras.saving.get_custom_objects()["ForgetfulReconstructor"] = ForgetfulReconstructor
    try:
        model = ForgetfulReconstructor()
        inputs = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
        model(inputs)
        with pytest.raises(ExportError, match=r"model.keras does not reproduce"):
            export_model(
                model, tmp_path / "out", spec={}, history=[], final_metrics={}, example_inputs=inputs
            )
    finally:
        keras.saving.get_custom_objects().pop("ForgetfulReconstructor")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_verification_mismatch_publishes_nothing(tmp_path, monkeypatch):
    spec = JobSpec(model_type="mlp", loss="mse", epochs=1)
    job = run_job(spec, load_builtin("diabetes"), workdir=tmp_path / "work")
    real_serve = export._serve
    monkeypatch.setattr(export, "_serve", lambda d, x: real_serve(d, x) + 1.0)
    with pytest.raises(ExportError, match=r"saved_model\.tar\.gz does not reproduce"):
        export_model(
            job.model,
            tmp_path / "out",
            spec={},
            history=job.history,
            final_metrics=job.final_metrics,
            example_inputs=np.zeros((2, 10), "float32"),
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_an_existing_target_is_never_overwritten(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError, match="already exists"):
        export_model(
            keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]),
            tmp_path / "out",
            spec={},
            history=[],
            final_metrics={},
            example_inputs=np.zeros((1, 1)),
        )
