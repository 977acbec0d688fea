from __future__ import annotations

import pytest
from pydantic import ValidationError

from tfcore.spec import JobSpec

MINIMAL = {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 5}


def errors(data: dict, **context) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate(data, context=context or None)
    return info.value.errors()


def test_minimal_spec_fills_defaults():
    spec = JobSpec.model_validate(MINIMAL)
    assert (spec.model_type, spec.loss, spec.threshold, spec.epochs) == ("residual", "huber", 2.0, 5)
    assert spec.dataset_name == "diabetes"
    assert spec.task == "regression"
    assert spec.batch_size == 32 and spec.seed == 42
    assert spec.metric_names == ["mae", "rmse", "huber"]


def test_binary_defaults():
    spec = JobSpec.model_validate({"model_type": "mlp", "loss": "binary_crossentropy", "epochs": 1})
    assert spec.task == "binary"
    assert spec.dataset_name == "breast_cancer"
    assert spec.metric_names == ["accuracy", "precision", "recall"]


def test_unknown_field_is_rejected_by_name():
    (err,) = errors({**MINIMAL, "epoch": 3})
    assert err["type"] == "extra_forbidden" and err["loc"] == ("epoch",)


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("threshold", 0, "greater than 0"),
        ("threshold", -1.5, "greater than 0"),
        ("threshold", float("nan"), "finite"),
        ("epochs", 0, "greater than or equal to 1"),
        ("epochs", 1001, "at most 1000"),
        ("batch_size", 0, "greater than or equal to 1"),
        ("learning_rate", 0, "greater than 0"),
        ("validation_split", 0.9, "less than or equal to 0.5"),
        ("dropout", 1.0, "less than 1"),
        ("model_type", "transformer", "'mlp', 'residual', 'reconstructing', 'wide_deep' or 'keras'"),
        ("dataset", "../etc/passwd", "pattern"),
        ("hidden_units", 10**6, "less than or equal to 4096"),
    ],
)
def test_out_of_range_values_name_field_and_rule(field, value, rule):
    (err,) = errors({**MINIMAL, field: value})
    assert err["loc"][0] == field
    assert rule in err["msg"]


def test_max_epochs_comes_from_context():
    (err,) = errors({**MINIMAL, "epochs": 51}, max_epochs=50)
    assert err["loc"] == ("epochs",) and "at most 50" in err["msg"]
    assert JobSpec.model_validate({**MINIMAL, "epochs": 50}, context={"max_epochs": 50}).epochs == 50


def test_metrics_must_fit_the_task():
    (err,) = errors({**MINIMAL, "metrics": ["precision"]})
    assert "do not apply to a regression job" in err["msg"]


def test_nested_options_validate():
    spec = JobSpec.model_validate(
        {
            **MINIMAL,
            "lr_schedule": {"type": "piecewise", "boundaries": [100], "values": [0.01, 0.001]},
            "kernel_regularizer": {"l1": 0.01},
            "early_stopping": {"patience": 2},
        }
    )
    assert spec.kernel_regularizer.l1 == 0.01 and spec.early_stopping.patience == 2
    (err,) = errors(
        {**MINIMAL, "lr_schedule": {"type": "piecewise", "boundaries": [1, 2], "values": [0.1, 0.01]}}
    )
    assert "one more value than boundaries" in err["msg"]
    (err,) = errors({**MINIMAL, "kernel_regularizer": {"l1": 0.1, "l2": 0.1}})
    assert "exactly one" in err["msg"]
    (err,) = errors({**MINIMAL, "lr_schedule": {"type": "cosine"}})
    assert err["loc"][0] == "lr_schedule"


def test_spec_round_trips_through_json():
    spec = JobSpec.model_validate(
        {**MINIMAL, "lr_schedule": {"type": "exponential", "decay_steps": 10, "decay_rate": 0.9}}
    )
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


def test_every_field_declares_a_role_and_a_description():
    from tfcore.spec import SEARCHABLE_FIELDS, FieldRole, fields_with
    from tfcore.warm import NOT_IN_GRAPH

    schema = JobSpec.model_json_schema()["properties"]
    for name in JobSpec.model_fields:
        assert schema[name]["x-role"] in {r.value for r in FieldRole}, name
        assert len(schema[name]["description"]) > 10, name
    assert fields_with(*FieldRole) == set(JobSpec.model_fields)
    # what the warm cache ignores and what a sweep searches follow from the roles
    assert NOT_IN_GRAPH == {
        "epochs",
        "dataset",
        "validation_split",
        "early_stopping",
        "steps_per_execution",
        "name",
        "tags",
        "priority",
        "device",
        "replicas",  # the trainer's key adds the strategy's replica count itself
    }
    assert not SEARCHABLE_FIELDS & {"name", "tags", "priority", "device", "dataset", "architecture"}
    assert {"learning_rate", "epochs", "batch_size", "model_type", "dropout"} <= SEARCHABLE_FIELDS
