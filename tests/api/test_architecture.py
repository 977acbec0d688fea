"""A user's own architecture at submit: checked by the API without TensorFlow (a walk over
the JSON), refused with a 422 that names the path and the rule, and nothing stored."""

from __future__ import annotations

import copy

import pytest


# A Sequential CNN's config in the shape json.loads(model.to_json()) gives (Keras 3.15),
# written out so these tests, like the API, never import TensorFlow.
def obj(module: str, class_name: str, **config: object) -> dict:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


CNN = obj(
    "keras",
    "Sequential",
    name="cnn",
    trainable=True,
    layers=[
        obj("keras.layers", "InputLayer", batch_shape=[None, 8, 8, 1], dtype="float32", name="in"),
        obj(
            "keras.layers",
            "Conv2D",
            name="c",
            filters=4,
            kernel_size=[3, 3],
            activation="relu",
            kernel_initializer=obj("keras.initializers", "GlorotUniform", seed=None),
        ),
        obj("keras.layers", "Flatten", name="f"),
        obj("keras.layers", "Dense", name="d", units=4, activation="softmax"),
    ],
)
KERAS_JOB = {
    "model_type": "keras",
    "architecture": CNN,
    "loss": "sparse_categorical_crossentropy",
    "epochs": 2,
    "dataset": "images",
}


def jobs_stored(client) -> int:
    return len(client.get("/jobs").json()["items"])


def refusal(client, spec) -> list[dict]:
    response = client.post("/jobs", json=spec)
    assert response.status_code == 422, response.text
    assert jobs_stored(client) == 0
    return response.json()["detail"]


def test_a_lambda_is_refused_naming_where_it_is(client):
    spec = copy.deepcopy(KERAS_JOB)
    lam = obj("keras.layers", "Lambda", function={"class_name": "__lambda__", "config": "x * 2"})
    spec["architecture"]["config"]["layers"].insert(3, lam)
    (error,) = refusal(client, spec)
    assert error["loc"] == ["body", "architecture"]
    assert error["msg"] == "architecture.config.layers[3]: Lambda is not allowed: it would run code"


@pytest.mark.parametrize(
    ("module", "class_name"),
    [
        ("os", "system"),
        ("builtins", "exec"),
        ("keras.config", "enable_unsafe_deserialization"),
        ("keras.layers", "TFSMLayer"),
    ],
)
def test_objects_that_reach_code_or_files_are_refused(client, module, class_name):
    spec = copy.deepcopy(KERAS_JOB)
    spec["architecture"]["config"]["layers"][1]["config"]["kernel_initializer"] = obj(module, class_name)
    (error,) = refusal(client, spec)
    assert error["msg"].startswith("architecture.config.layers[1].config.kernel_initializer: ")


def test_architecture_goes_with_keras_only_and_keras_refuses_builtin_shape_fields(client):
    (error,) = refusal(client, {**KERAS_JOB, "hidden_units": 64, "dropout": 0.1})
    assert "hidden_units, dropout do not apply to model_type 'keras'" in error["msg"]
    (error,) = refusal(client, {**KERAS_JOB, "model_type": "mlp", "loss": "mse"})
    assert "`architecture` is only for model_type 'keras'" in error["msg"]
    spec = {k: v for k, v in KERAS_JOB.items() if k != "architecture"}
    (error,) = refusal(client, spec)
    assert "model_type 'keras' needs `architecture`" in error["msg"]
    (error,) = refusal(
        client, {"model_type": "mlp", "loss": "sparse_categorical_crossentropy", "epochs": 1, "dataset": "x"}
    )
    assert "needs model_type 'keras'" in error["msg"]


def test_a_giant_model_is_refused_at_submit(client):
    spec = copy.deepcopy(KERAS_JOB)
    spec["architecture"]["config"]["layers"] = [
        obj("keras.layers", "InputLayer", batch_shape=[None, 100000]),
        obj("keras.layers", "Dense", units=100000),
    ]
    (error,) = refusal(client, spec)
    assert "at least 10,000,100,000 parameters" in error["msg"] and "TFJOBS_MAX_MODEL_PARAMS" in error["msg"]


def test_layer_names_that_tensorflow_cannot_use_are_refused(client):
    spec = copy.deepcopy(KERAS_JOB)
    spec["architecture"]["config"]["layers"][3]["config"]["name"] = "<img src=x onerror=alert(1)>"
    (error,) = refusal(client, spec)
    assert error["msg"].startswith(
        "architecture.config.layers[3].config.name: '<img src=x onerror=alert(1)>' is not"
    )


def test_a_sweep_searches_the_other_fields_of_a_keras_job(client):
    images = client.post("/datasets", files={"file": ("images.npz", images_npz())}).json()
    sweep = client.post(
        "/sweeps",
        json={
            "spec": {**KERAS_JOB, "dataset": images["id"]},
            "space": {"learning_rate": {"choice": [0.001, 0.01]}},
            "method": "grid",
        },
    )
    assert sweep.status_code == 201, sweep.text
    trials = client.get(f"/sweeps/{sweep.json()['id']}/trials").json()["items"]
    specs = [client.get(f"/jobs/{t['job_id']}").json()["spec"] for t in trials]
    assert sorted(s["learning_rate"] for s in specs) == [0.001, 0.01]
    assert all(s["architecture"] == CNN for s in specs)
    refused = client.post(
        "/sweeps", json={"spec": KERAS_JOB, "space": {"architecture": {"choice": [CNN]}}, "method": "grid"}
    )
    assert refused.status_code == 422  # a search chooses among values, not architectures
    assert all(e["loc"][:3] == ["body", "space", "architecture"] for e in refused.json()["detail"])


def images_npz() -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((40, 8, 8, 1), np.uint8), y=np.arange(40) % 4)
    return buffer.getvalue()
