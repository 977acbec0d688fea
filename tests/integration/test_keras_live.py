"""A user's own CNN, end to end on a real stack (API and worker processes): upload an
image dataset, submit the model's own config, watch it train, download a model that
reloads in safe mode; an architecture that does not fit the dataset is refused at submit."""

from __future__ import annotations

import copy

import keras
import numpy as np

from harness.stack import running_stack
from tests.hostile import npz_bytes
from tests.tfcore.shapes import cnn_config
from tfcore.data import quadrant_images


def test_a_users_cnn_trains_on_uploaded_images_and_reloads(tmp_path):
    x, y = quadrant_images()
    with running_stack(tmp_path, {}, workers=1) as stack, stack.client() as client:
        dataset = client.post("/datasets", files={"file": ("quadrants.npz", npz_bytes(x=x, y=y))}).json()
        assert (dataset["task"], dataset["shape"], dataset["classes"]) == ("multiclass", [8, 8, 1], 4)
        spec = {
            "model_type": "keras",
            "architecture": cnn_config(),
            "loss": "sparse_categorical_crossentropy",
            "epochs": 6,
            "dataset": dataset["id"],
        }

        wrong = copy.deepcopy(spec)
        wrong["architecture"]["config"]["layers"][0]["config"]["batch_shape"] = [None, 6, 6, 1]
        refused = client.post("/jobs", json=wrong)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["msg"] == (
            "the architecture takes inputs of shape [6, 6, 1] but dataset "
            f"{dataset['id']!r} has rows of shape [8, 8, 1]"
        )

        job = client.post("/jobs", json=spec).json()
        done = stack.wait_for_job(job["id"])
        assert done["status"] == "succeeded", (done["error"], stack.tail_logs())
        assert done["summary"]["val_accuracy"] > 0.9
        points = client.get(f"/jobs/{job['id']}/metrics").json()["points"]
        assert [p["epoch"] for p in points if p["kind"] == "epoch"] == list(range(1, 7))
        lines = [x["message"] for x in client.get(f"/jobs/{job['id']}/logs").json()["lines"]]
        assert lines[-2].startswith("trained: exporting model.keras and a SavedModel")
        assert lines[-1].startswith("succeeded: exported 5 files (history.csv, manifest.json, model.keras")
        model_bytes = client.get(f"/jobs/{job['id']}/artifacts/model.keras").content
        manifest = client.get(f"/jobs/{job['id']}/artifacts/manifest.json").json()
    # Keras fit on the same architecture, split and epochs, as the reference for the worker's run.
    from tfcore.data import load_npz, split
    from tfcore.spec import JobSpec

    job_spec = JobSpec.model_validate(spec)
    data = load_npz(npz_bytes(x=x, y=y))
    train, validation = split(data, validation_split=job_spec.validation_split, seed=job_spec.seed)
    keras.utils.set_random_seed(job_spec.seed)
    reference = keras.Sequential.from_config(cnn_config()["config"])
    reference.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    fitted = reference.fit(
        train.x, train.y, epochs=6, batch_size=32, verbose=0, validation_data=(validation.x, validation.y)
    )
    assert done["summary"]["val_accuracy"] >= fitted.history["val_accuracy"][-1] - 0.05

    (tmp_path / "model.keras").write_bytes(model_bytes)
    reloaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    inputs = np.asarray(manifest["examples"]["inputs"], dtype="float32")
    assert inputs.shape[1:] == (8, 8, 1)
    np.testing.assert_allclose(
        reloaded.predict(inputs, verbose=0), manifest["examples"]["outputs"], rtol=1e-4, atol=1e-5
    )
