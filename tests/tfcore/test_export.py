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
    jobs = {t: {"model_type": t, "loss": "huber", "threshold": 2.0, "epochs": 2,
                "activation": "stable_softplus", "kernel_regularizer": {"l1": 0.001}}
            for t in MODEL_TYPES}
    jobs["binary"] = {"model_type": "wide_deep", "loss": "binary_crossentropy", "epochs": 2}
    folders = {}
    for name, fields in jobs.items():
        spec = JobSpec.model_validate(fields)
        run_job(spec, load_builtin(spec.dataset_name), workdir=root / name / "work",
                export_dir=root / name / "artifacts")
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
    assert manifest["input"] == {"shape": [None, 10], "dtype": "float32"}
    assert manifest["output"] == {"shape": [None, 1], "dtype": "float32"}
    assert len(manifest["examples"]["inputs"]) == len(manifest["examples"]["outputs"]) == 5
    assert manifest["examples"]["rtol"] == 1e-4 and manifest["examples"]["atol"] >= 1e-4
    assert "val_loss" in manifest["final_metrics"]
    with (folder / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "val_loss" in rows[0]
    with tarfile.open(folder / "saved_model.tar.gz") as tar:
        names = tar.getnames()
    assert "saved_model/saved_model.pb" in names and any(n.startswith("saved_model/variables/")
                                                         for n in names)
    assert not list(folder.parent.glob(".*staging*"))


# In a fresh interpreter: the .keras archive after `import tfcore` (safe mode, no
# custom_objects); the SavedModel with tfcore made unimportable.
RELOAD_KERAS = """
import json, sys, numpy as np, tfcore, keras
for folder in sys.argv[1:]:
    manifest = json.load(open(folder + "/manifest.json"))
    model = keras.models.load_model(folder + "/model.keras")
    out = model.predict(np.array(manifest["examples"]["inputs"], dtype="float32"), verbose=0)
    ex = manifest["examples"]
    np.testing.assert_allclose(out, ex["outputs"], rtol=ex["rtol"], atol=ex["atol"])
    print("ok", type(model).__name__, model.get_config()["name"])
"""

SERVE_SAVED_MODEL = """
import json, sys, tarfile, tempfile
sys.modules["tfcore"] = None  # any attempt to import our code now fails
import numpy as np, tensorflow as tf
for folder in sys.argv[1:]:
    manifest = json.load(open(folder + "/manifest.json"))
    target = tempfile.mkdtemp()
    with tarfile.open(folder + "/saved_model.tar.gz") as tar:
        tar.extractall(target, filter="data")
    serve = tf.saved_model.load(target + "/saved_model").signatures["serving_default"]
    (out,) = serve(tf.constant(manifest["examples"]["inputs"], dtype=tf.float32)).values()
    ex = manifest["examples"]
    np.testing.assert_allclose(out.numpy(), ex["outputs"], rtol=ex["rtol"], atol=ex["atol"])
    print("ok", "tfcore" in sys.modules and sys.modules["tfcore"] is not None)
"""


def _argv(code: str, folders) -> str:
    return "import sys; sys.argv = [''] + " + repr([str(f) for f in folders]) + "\n" + code


def test_keras_archives_reload_in_a_fresh_process(exported, fresh_python, tmp_path):
    out = fresh_python(_argv(RELOAD_KERAS, exported.values()), cwd=tmp_path)
    assert out.count("ok") == len(exported)
    assert "ReconstructingRegressor" in out and "ResidualRegressor" in out


def test_saved_models_serve_without_project_code(exported, fresh_python, tmp_path):
    out = fresh_python(_argv(SERVE_SAVED_MODEL, exported.values()), cwd=tmp_path)
    assert out.split() == ["ok", "False"] * len(exported)


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
            export_model(model, tmp_path / "out", spec={}, history=[], final_metrics={},
                         example_inputs=inputs)
    finally:
        keras.saving.get_custom_objects().pop("ForgetfulReconstructor")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_verification_mismatch_publishes_nothing(tmp_path, monkeypatch):
    spec = JobSpec(model_type="mlp", loss="mse", epochs=1)
    job = run_job(spec, load_builtin("diabetes"), workdir=tmp_path / "work")
    real_serve = export._serve
    monkeypatch.setattr(export, "_serve", lambda d, x: real_serve(d, x) + 1.0)
    with pytest.raises(ExportError, match=r"saved_model\.tar\.gz does not reproduce"):
        export_model(job.model, tmp_path / "out", spec={}, history=job.history,
                     final_metrics=job.final_metrics, example_inputs=np.zeros((2, 10), "float32"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_an_existing_target_is_never_overwritten(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError, match="already exists"):
        export_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]), tmp_path / "out",
                     spec={}, history=[], final_metrics={}, example_inputs=np.zeros((1, 1)))
