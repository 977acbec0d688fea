"""The architecture gate (tfcore/architecture.py): real Keras configs pass; the published
safe-mode bypass shapes and everything that could run code are refused, naming where."""

from __future__ import annotations

import copy
import json

import keras
import pytest

import tfcore
from tfcore.activations import stable_softplus
from tfcore.architecture import TFCORE_OBJECTS, ArchitectureRefused, check_architecture, estimate_params
from tfcore.layers import ResidualBlock


def config_of(model: keras.Model) -> dict:
    return json.loads(model.to_json())


def cnn() -> dict:
    return config_of(
        keras.Sequential(
            [
                keras.Input((16, 16, 1)),
                keras.layers.Rescaling(1 / 255),
                keras.layers.Conv2D(8, 3, activation="relu", kernel_regularizer="l2"),
                keras.layers.MaxPooling2D(),
                keras.layers.BatchNormalization(),
                keras.layers.Flatten(),
                keras.layers.Dropout(0.2),
                keras.layers.Dense(4, activation="softmax"),
            ]
        )
    )


def gru() -> dict:
    inputs = keras.Input((20, 3))
    x = keras.layers.Bidirectional(keras.layers.GRU(8, return_sequences=True))(inputs)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = keras.layers.Concatenate()([x, attended])
    x = keras.layers.GlobalAveragePooling1D()(x)
    return config_of(keras.Model(inputs, keras.layers.Dense(1)(x)))


def with_tfcore_parts() -> dict:
    inputs = keras.Input((5,))
    x = keras.layers.Dense(8, activation=stable_softplus)(inputs)
    x = ResidualBlock(2, 8)(x)
    return config_of(keras.Model(inputs, keras.layers.Dense(1)(x)))


@pytest.mark.parametrize("make", [cnn, gru, with_tfcore_parts], ids=["cnn", "gru-attention", "tfcore"])
def test_real_keras_models_pass(make):
    check_architecture(make(), max_params=10_000_000)


def test_the_allowed_tfcore_names_are_registered_by_tfcore():
    from keras.src.saving import object_registration

    assert tfcore  # imported for its registrations
    registered = {
        k.removeprefix("tfcore>")
        for k in object_registration.GLOBAL_CUSTOM_OBJECTS
        if k.startswith("tfcore>")
    }
    assert TFCORE_OBJECTS <= registered


def refused(config: dict) -> str:
    with pytest.raises(ArchitectureRefused) as caught:
        check_architecture(config, max_params=10_000_000)
    return str(caught.value)


def layer(config: dict, i: int) -> dict:
    return config["config"]["layers"][i]


def test_lambda_is_refused_with_its_path():
    config = cnn()
    lam = config_of(keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2)]))
    config["config"]["layers"].insert(3, layer(lam, 1))
    assert refused(config) == "architecture.config.layers[3]: Lambda is not allowed: it would run code"


@pytest.mark.parametrize(
    ("hostile", "says"),
    [
        (
            {"module": "os", "class_name": "system", "config": {"command": "id"}, "registered_name": None},
            "module 'os'",
        ),
        (
            {"module": "builtins", "class_name": "eval", "config": {}, "registered_name": None},
            "module 'builtins'",
        ),
        (
            {
                "module": "keras.config",
                "class_name": "enable_unsafe_deserialization",
                "config": {},
                "registered_name": None,
            },
            "module 'keras.config'",
        ),
        (
            {"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/etc"}},
            "TFSMLayer is not allowed: it loads files",
        ),
        (
            {"module": "keras.utils", "class_name": "get_file", "config": {"origin": "http://x"}},
            "module 'keras.utils'",
        ),
        (
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"units": 2},
                "registered_name": "os>system",
            },
            "registered_name",
        ),
        (
            {
                "module": "tfcore.layers",
                "class_name": "Exponential",
                "config": {},
                "registered_name": "tfcore>Exponential",
            },
            "not one of tfcore's",
        ),
        ({"class_name": "function", "config": "os.system", "module": "builtins"}, "serialized function"),
        (
            {
                "class_name": "function",
                "config": "tfcore>Exponential",
                "module": "builtins",
                "registered_name": "function",
            },
            "serialized function",
        ),
        (
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"units": 2, "activation": "os.system"},
            },
            "not a known activation",
        ),
    ],
)
def test_published_bypass_shapes_are_refused(hostile, says):
    config = cnn()
    config["config"]["layers"].insert(2, hostile)
    message = refused(config)
    assert message.startswith("architecture.config.layers[2]") and says in message, message


def test_a_hostile_object_nested_inside_an_allowed_one_is_found():
    config = cnn()
    conv = layer(config, 2)
    conv["config"]["kernel_initializer"] = {
        "module": "subprocess",
        "class_name": "Popen",
        "config": {"args": "id"},
    }
    assert refused(config).startswith(
        "architecture.config.layers[2].config.kernel_initializer: module 'subprocess'"
    )


def test_deep_nesting_and_huge_configs_and_giant_models_are_refused():
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    config = cnn()
    config["config"]["layers"][1]["config"]["deep"] = deep
    assert "nested more than" in refused(config)
    big = cnn()
    big["config"]["name"] = "n" * (600 << 10)
    assert "more than the limit" in refused(big)
    giant = config_of(keras.Sequential([keras.Input((10,)), keras.layers.Dense(10)]))  # then made huge
    layer(giant, 0)["config"]["batch_shape"] = [None, 100_000]
    layer(giant, 1)["config"]["units"] = 100_000
    assert estimate_params(giant) >= 10**10
    assert "at least 10,000,100,000 parameters" in refused(giant)
    assert "must be a Keras Sequential" in refused({"class_name": "Dense", "config": {}})


def test_the_walk_never_changes_the_config():
    config = gru()
    before = copy.deepcopy(config)
    check_architecture(config)
    assert config == before
