"""The job spec: what a script sends to train a model.

Pure pydantic and no TensorFlow, so the API can validate specs without loading
TensorFlow (a test holds ``import tfcore.spec`` to that). Every field is bounded,
unknown fields are refused, and the error messages name the field and the rule.

>>> spec = JobSpec.model_validate(
...     {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 5})
>>> spec.dataset_name, spec.task
('diabetes', 'regression')

The largest ``epochs`` is configurable per call through pydantic's validation
context: ``JobSpec.model_validate(data, context={"max_epochs": 50})``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from tfcore.architecture import ArchitectureRefused, check_architecture
from tfjobs import Device

__all__ = [
    "DEFAULT_MAX_EPOCHS",
    "DEFAULT_MAX_MODEL_PARAMS",
    "DEFAULT_MAX_REPLICAS",
    "BINARY_LOSSES",
    "BINARY_METRICS",
    "BUILTIN_SHAPE_FIELDS",
    "MULTICLASS_LOSSES",
    "MULTICLASS_METRICS",
    "EarlyStopping",
    "ExponentialDecay",
    "FieldRole",
    "JobSpec",
    "KernelRegularizer",
    "PiecewiseConstant",
    "REGRESSION_METRICS",
    "SEARCHABLE_FIELDS",
    "Task",
    "fields_with",
    "spec_field",
]


def _integral(value: Any) -> Any:
    """7.0 is the integer 7 in JSON Schema (and in JSON parsers that read every number as a
    float); strict mode still refuses 7.5, "7" and true."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_integral)]

DEFAULT_MAX_EPOCHS = 1000
DEFAULT_MAX_MODEL_PARAMS = 20_000_000
DEFAULT_MAX_REPLICAS = 8

Task = Literal["regression", "binary", "multiclass"]
ModelType = Literal["mlp", "residual", "reconstructing", "wide_deep", "keras"]
LossName = Literal[
    "huber",
    "mse",
    "mae",
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
]
BINARY_LOSSES = frozenset({"binary_crossentropy"})
#: Integer labels 0..K-1 (sparse) or one-hot rows; the model ends in K softmax outputs.
MULTICLASS_LOSSES = frozenset({"sparse_categorical_crossentropy", "categorical_crossentropy"})

REGRESSION_METRICS = ("mae", "mse", "rmse", "huber")
BINARY_METRICS = ("accuracy", "precision", "recall", "auc")
MULTICLASS_METRICS = ("accuracy", "top_k_accuracy")
#: The built-in models' shape fields: a "keras" job's architecture says all of this itself.
BUILTIN_SHAPE_FIELDS = (
    "hidden_units",
    "n_hidden",
    "activation",
    "kernel_initializer",
    "kernel_regularizer",
    "kernel_constraint",
    "gaussian_noise",
    "dropout",
)
MetricName = Literal[
    "mae", "mse", "rmse", "huber", "accuracy", "precision", "recall", "auc", "top_k_accuracy"
]

#: Keras activation names plus the project's numerically stable softplus.
Activation = Literal[
    "relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid", "softplus", "linear", "stable_softplus"
]
Initializer = Literal[
    "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "glorot_normal_variant"
]
Optimizer = Literal["adam", "nadam", "sgd", "rmsprop"]

# strict: no silent coercion ("5" or true for an integer is an error, not 5 or 1)
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class ExponentialDecay(BaseModel):
    """``lr = learning_rate * decay_rate ** (step / decay_steps)``."""

    model_config = _STRICT
    type: Literal["exponential"]
    decay_steps: Integer = Field(ge=1, le=10_000_000)
    decay_rate: float = Field(gt=0, le=1)


class PiecewiseConstant(BaseModel):
    """``values[i]`` while the step is below ``boundaries[i]``; the last value after."""

    model_config = _STRICT
    type: Literal["piecewise"]
    boundaries: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=100)
    values: list[Annotated[float, Field(gt=0, le=10)]] = Field(min_length=2, max_length=101)

    @model_validator(mode="after")
    def _one_more_value_than_boundaries(self) -> PiecewiseConstant:
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"needs one more value than boundaries; got {len(self.boundaries)} "
                f"boundaries and {len(self.values)} values"
            )
        if self.boundaries != sorted(set(self.boundaries)):
            raise ValueError("boundaries must be strictly increasing")
        return self


class EarlyStopping(BaseModel):
    """Stop when ``val_loss`` has not improved by ``min_delta`` for ``patience`` epochs."""

    model_config = _STRICT
    patience: Integer = Field(default=5, ge=1, le=1000)
    min_delta: float = Field(default=0.0, ge=0, le=1e6)


class KernelRegularizer(BaseModel):
    """Exactly one of ``l1`` (the seed's L1 regularizer) or ``l2``."""

    model_config = _STRICT
    l1: float | None = Field(default=None, gt=0, le=10)
    l2: float | None = Field(default=None, gt=0, le=10)

    @model_validator(mode="after")
    def _exactly_one(self) -> KernelRegularizer:
        if (self.l1 is None) == (self.l2 is None):
            raise ValueError('give exactly one of "l1" or "l2", e.g. {"l1": 0.01}')
        return self


MINIMAL_SPEC = {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 5}

# What each field means, for the OpenAPI schema (and /docs); the bounds come from the fields.


class FieldRole(StrEnum):
    """What a spec field is for, declared once on the field (``x-role`` in the schema);
    the lists that depend on it are derived: the warm trainers' cache key takes the
    ``model`` fields, a sweep searches ``model`` and ``run`` fields, the store copies the
    ``labels`` and ``placement`` fields into columns it filters and schedules by."""

    MODEL = "model"  # shapes the network or its optimization: part of the compiled graph
    RUN = "run"  # what data, and how long: changes training, not the graph
    LABELS = "labels"  # how people find the run again: never changes training
    PLACEMENT = "placement"  # where and when the scheduler starts it


def spec_field(
    default: Any = PydanticUndefined, *, role: FieldRole, doc: str, searchable: bool = True, **rules: Any
) -> Any:
    """A JobSpec field: its bounds (``rules``, as pydantic's ``Field`` takes them), what it
    means (``doc``: the OpenAPI description) and its role. ``searchable=False``: a sweep may
    not search it although its role would allow it (a dataset or an architecture is not a
    number or a choice to sample)."""
    extra: dict[str, Any] = {"x-role": role.value}
    if not searchable:
        extra["x-searchable"] = False
    return Field(default, description=doc, json_schema_extra=extra, **rules)


def fields_with(*roles: FieldRole) -> frozenset[str]:
    """The names of JobSpec's fields with one of ``roles``."""
    return frozenset(name for name, role in _ROLES.items() if role in roles)


def _role_of(info: FieldInfo) -> FieldRole:
    extra = info.json_schema_extra
    assert isinstance(extra, dict), "every JobSpec field is declared with spec_field()"
    return FieldRole(str(extra["x-role"]))


def _document_fields(schema: dict[str, Any]) -> None:
    schema["examples"] = [MINIMAL_SPEC]
    # The cross-field rules the validators enforce, stated where JSON Schema can state them
    # (generated clients and schemathesis read these). What it cannot state: whether a
    # dataset exists, the architecture allowlist, the configured limits beyond epochs.
    keras = {"properties": {"model_type": {"const": "keras"}}, "required": ["model_type"]}
    multiclass = {"properties": {"loss": {"enum": sorted(MULTICLASS_LOSSES)}}, "required": ["loss"]}
    binary = {"properties": {"loss": {"const": "binary_crossentropy"}}, "required": ["loss"]}

    def metrics_of(names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "properties": {
                "metrics": {"anyOf": [{"type": "array", "items": {"enum": list(names)}}, {"type": "null"}]}
            }
        }

    schema["allOf"] = [
        {
            "if": keras,
            "then": {
                "required": ["architecture"],
                "properties": {"architecture": {"type": "object"}}
                | {name: {"const": JobSpec.model_fields[name].default} for name in BUILTIN_SHAPE_FIELDS},
            },
            "else": {"properties": {"architecture": {"type": "null"}}},
        },
        {"if": multiclass, "then": {**keras, "required": ["model_type", "dataset"]}},
        {
            "if": binary,
            "then": metrics_of(BINARY_METRICS),
            "else": {
                "if": multiclass,
                "then": metrics_of(MULTICLASS_METRICS),
                "else": metrics_of(REGRESSION_METRICS),
            },
        },
    ]


class JobSpec(BaseModel):
    """A training job: which model, loss, data and how long to train.

    Args:
        model_type: ``mlp``, ``residual``, ``reconstructing`` or ``wide_deep``.
        loss: ``huber``, ``mse``, ``mae`` or ``binary_crossentropy``.
        threshold: Huber threshold (> 0), also used by the ``huber`` metric. Defaults to 1.0.
        epochs: 1 to the configured maximum (1000 unless the caller says otherwise).
        dataset: a built-in name or an uploaded dataset id. Defaults to ``diabetes``
            for regression losses and ``breast_cancer`` for ``binary_crossentropy``.
        name, tags: optional, for finding the run again (a name up to 64 characters; up to
            10 tags of letters, digits and ``_.:-``); they do not change training.
        Everything else has a default chosen to train well on the built-in data.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        protected_namespaces=(),
        json_schema_extra=lambda schema, _cls: _document_fields(schema),
    )

    model_type: ModelType = spec_field(
        role=FieldRole.MODEL,
        doc="The network: `mlp` (dense layers), `residual` (dense blocks with skip connections), "
        "`reconstructing` (adds a reconstruction loss), `wide_deep` (wide and deep paths), or `keras`: "
        "your own architecture, sent in `architecture`.",
    )
    architecture: dict[str, Any] | None = spec_field(
        None,
        role=FieldRole.MODEL,
        doc="With `model_type: keras` (and only then): your Keras 3 `Sequential` or functional "
        "model's config, as `json.loads(model.to_json())` gives it (no weights). Only allowlisted layers, "
        "Keras' built-in activations, initializers, regularizers and constraints, and tfcore's registered "
        "components; nothing that runs code or loads files.",
        searchable=False,
    )
    loss: LossName = spec_field(
        role=FieldRole.MODEL,
        doc="What training minimizes: `huber`, `mse`, `mae` (regression), `binary_crossentropy`, or "
        "`sparse_categorical_crossentropy` (labels 0..K−1) / `categorical_crossentropy` (one-hot) for "
        "a `keras` model ending in K softmax outputs.",
    )
    threshold: float = spec_field(
        default=1.0,
        gt=0,
        le=1e6,
        allow_inf_nan=False,
        role=FieldRole.MODEL,
        doc="The Huber loss's threshold, where it turns from squared to linear (also the `huber` metric's).",
    )
    epochs: Integer = spec_field(
        ge=1,
        role=FieldRole.RUN,
        doc="Passes over the training data: at least 1, at most the server's limit "
        "(1000 unless the operator changes it).",
    )
    dataset: str | None = spec_field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        role=FieldRole.RUN,
        doc="A built-in (`diabetes`, `breast_cancer`, `synthetic`), or one of your uploads by id, "
        "unique id prefix, or unique name. Default: `diabetes`, or `breast_cancer` for binary_crossentropy.",
        searchable=False,
    )
    batch_size: Integer = spec_field(
        default=32, ge=1, le=65_536, role=FieldRole.MODEL, doc="Rows per optimizer step."
    )
    optimizer: Optimizer = spec_field(
        "adam", role=FieldRole.MODEL, doc="`adam`, `sgd`, `rmsprop` or `nadam`."
    )
    learning_rate: float = spec_field(
        default=1e-3,
        gt=0,
        le=10,
        allow_inf_nan=False,
        role=FieldRole.MODEL,
        doc="The optimizer's step size (or the schedule's start).",
    )
    lr_schedule: ExponentialDecay | PiecewiseConstant | None = spec_field(
        default=None,
        discriminator="type",
        role=FieldRole.MODEL,
        doc="Optional learning-rate schedule: exponential decay or piecewise constant.",
    )
    metrics: list[MetricName] | None = spec_field(
        default=None,
        max_length=8,
        role=FieldRole.MODEL,
        doc="Metrics reported each epoch besides the loss (default: those suited to the task).",
    )
    validation_split: float = spec_field(
        default=0.2,
        ge=0.05,
        le=0.5,
        role=FieldRole.RUN,
        doc="Share of the rows held out (after a seeded shuffle) for validation.",
    )
    seed: Integer = spec_field(
        default=42,
        ge=0,
        le=2**31 - 1,
        role=FieldRole.MODEL,
        doc="Seeds the shuffle, the split, the initial weights and noise: same seed, same run.",
    )
    hidden_units: Integer = spec_field(
        default=30, ge=1, le=4096, role=FieldRole.MODEL, doc="Units in each hidden layer."
    )
    n_hidden: Integer | None = spec_field(
        default=None, ge=1, le=32, role=FieldRole.MODEL, doc="Hidden layers (default: the model type's own)."
    )
    activation: Activation = spec_field(
        "relu",
        role=FieldRole.MODEL,
        doc="Hidden layers' activation: a Keras name, or `stable_softplus` "
        "(softplus that stays finite for large inputs).",
    )
    kernel_initializer: Initializer = spec_field(
        "he_normal",
        role=FieldRole.MODEL,
        doc="Initial weights: a Keras name, or `glorot_normal_variant` (Glorot normal, untruncated).",
    )
    kernel_regularizer: KernelRegularizer | None = spec_field(
        None, role=FieldRole.MODEL, doc='Optional weight penalty: `{"l1": f}` or `{"l2": f}`.'
    )
    kernel_constraint: Literal["positive"] | None = spec_field(
        None,
        role=FieldRole.MODEL,
        doc="`positive` keeps the hidden layers' weights non-negative.",
    )
    gaussian_noise: float = spec_field(
        default=0.0,
        ge=0,
        le=10,
        allow_inf_nan=False,
        role=FieldRole.MODEL,
        doc="Standard deviation of noise added to the inputs while training (0: none).",
    )
    dropout: float = spec_field(
        default=0.0,
        ge=0,
        lt=1,
        role=FieldRole.MODEL,
        doc="Dropout rate after each hidden layer while training (0: none).",
    )
    early_stopping: EarlyStopping | None = spec_field(
        None,
        role=FieldRole.RUN,
        doc="Optional: stop when val_loss has not improved by `min_delta` for `patience` epochs.",
    )
    steps_per_execution: Integer | None = spec_field(
        default=None,
        ge=1,
        le=100_000,
        role=FieldRole.RUN,
        doc="Optimizer steps per compiled call (default 100): fewer Python round trips.",
    )
    mixed_precision: bool = spec_field(
        False,
        role=FieldRole.MODEL,
        doc="Compute in float16 with float32 weights (for GPUs); the model still takes and returns float32.",
    )
    top_k: Integer = spec_field(
        default=5,
        ge=1,
        le=1000,
        role=FieldRole.MODEL,
        doc="For the `top_k_accuracy` metric of a multiclass job: a row counts as right when its "
        "label is among the model's `top_k` most likely classes.",
    )
    name: str | None = spec_field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[\w .:+/-]+$",
        role=FieldRole.LABELS,
        doc="Optional: a name to find the run by (search `name ~ 'part'`); up to 64 characters.",
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")]] = (
        spec_field(
            default_factory=list,
            max_length=10,
            role=FieldRole.LABELS,
            doc="Optional: up to 10 tags to find the run by (search `tag = 'baseline'`).",
        )
    )
    priority: Integer = spec_field(
        default=0,
        ge=0,
        le=9,
        role=FieldRole.PLACEMENT,
        doc="0–9: among your own queued jobs, higher starts first (equal: first come). "
        "Between owners, fair share decides: the owner with the fewest running jobs goes next.",
    )
    device: Device = spec_field(
        default=Device.AUTO,
        strict=False,
        role=FieldRole.PLACEMENT,
        doc="`auto` (any worker, a GPU one preferred), `cpu` or `gpu` (waits for a GPU worker; "
        "never runs on a CPU one).",
    )
    replicas: Integer = spec_field(
        default=1,
        ge=1,
        role=FieldRole.PLACEMENT,
        doc="Worker processes that train the job together, one per node (MultiWorkerMirroredStrategy): "
        "it starts once that many workers are free. `batch_size` stays the global batch; each "
        "replica takes `batch_size / replicas` of it (so it must divide). "
        "The operator sets the most (8 unless changed).",
    )

    @field_validator("tags")
    @classmethod
    def _tags_once_each(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))

    @field_validator("replicas")
    @classmethod
    def _replicas_within_configured_maximum(cls, replicas: int, info: ValidationInfo) -> int:
        context: dict[str, Any] = info.context or {}
        maximum = int(context.get("max_replicas", DEFAULT_MAX_REPLICAS))
        if replicas > maximum:
            raise ValueError(f"must be at most {maximum} (the configured maximum, TFJOBS_MAX_REPLICAS)")
        return replicas

    @model_validator(mode="after")
    def _batch_splits_over_replicas(self) -> JobSpec:
        if self.batch_size % self.replicas:
            raise ValueError(
                f"batch_size {self.batch_size} does not divide over replicas {self.replicas}: the "
                "global batch is split evenly, so it must be a multiple of replicas"
            )
        return self

    @field_validator("epochs")
    @classmethod
    def _epochs_within_configured_maximum(cls, epochs: int, info: ValidationInfo) -> int:
        context: dict[str, Any] = info.context or {}
        maximum = int(context.get("max_epochs", DEFAULT_MAX_EPOCHS))
        if epochs > maximum:
            raise ValueError(f"must be at most {maximum} (the configured maximum)")
        return epochs

    @field_validator("architecture")
    @classmethod
    def _architecture_is_allowed(cls, architecture: dict[str, Any] | None, info: ValidationInfo) -> Any:
        if architecture is None:
            return None
        context: dict[str, Any] = info.context or {}
        try:
            check_architecture(
                architecture, max_params=int(context.get("max_model_params", DEFAULT_MAX_MODEL_PARAMS))
            )
        except ArchitectureRefused as err:
            raise ValueError(str(err)) from None
        return architecture

    @model_validator(mode="after")
    def _architecture_goes_with_keras(self) -> JobSpec:
        if self.model_type == "keras":
            if self.architecture is None:
                raise ValueError(
                    "model_type 'keras' needs `architecture`: your model's json.loads(model.to_json())"
                )
            # Set to anything but their defaults (a stored spec carries every field).
            given = [
                f for f in BUILTIN_SHAPE_FIELDS if getattr(self, f) != type(self).model_fields[f].default
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} do not apply to model_type 'keras': your architecture "
                    "defines the layers, their activations and regularizers itself"
                )
        elif self.architecture is not None:
            raise ValueError(
                f"`architecture` is only for model_type 'keras' (this job's is {self.model_type!r})"
            )
        if self.task == "multiclass" and self.model_type != "keras":
            raise ValueError(
                f"loss {self.loss!r} needs model_type 'keras' ending in K softmax outputs "
                "(the built-in models predict one value)"
            )
        if self.task == "multiclass" and self.dataset is None:
            raise ValueError("a multiclass job needs `dataset`: upload an NPZ with x and integer labels y")
        return self

    @field_validator("metrics")
    @classmethod
    def _metrics_unique(cls, metrics: list[str] | None) -> list[str] | None:
        if metrics is not None and len(set(metrics)) != len(metrics):
            raise ValueError("must not name a metric twice")
        return metrics

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> JobSpec:
        allowed = {"binary": BINARY_METRICS, "multiclass": MULTICLASS_METRICS}.get(
            self.task, REGRESSION_METRICS
        )
        wrong = [m for m in self.metrics or () if m not in allowed]
        if wrong:
            raise ValueError(
                f"metrics {wrong} do not apply to a {self.task} job (loss={self.loss!r}); "
                f"choose from {list(allowed)}"
            )
        return self

    @property
    def task(self) -> Task:
        """``binary`` or ``multiclass`` for classification losses, else ``regression``."""
        if self.loss in MULTICLASS_LOSSES:
            return "multiclass"
        return "binary" if self.loss in BINARY_LOSSES else "regression"

    @property
    def dataset_name(self) -> str:
        """The dataset to train on, with the task's default filled in."""
        if self.dataset:
            return self.dataset
        return "breast_cancer" if self.task == "binary" else "diabetes"

    @property
    def epoch_metric_names(self) -> list[str]:
        """Every value an epoch point of this job carries (what a sweep may optimise):
        the loss and metrics, their ``val_`` twins, and the loop's own figures."""
        train = ["loss", *self.metric_names]
        extra = ["reconstruction_error"] if self.model_type == "reconstructing" else []
        return [
            *train,
            *extra,
            *(f"val_{name}" for name in train),
            "lr",
            "epoch_seconds",
            "samples_per_second",
        ]

    @property
    def metric_names(self) -> list[str]:
        """The streaming metrics to report, with the task's default filled in."""
        if self.metrics is not None:
            return list(self.metrics)
        if self.task == "binary":
            return ["accuracy", "precision", "recall"]
        if self.task == "multiclass":
            return ["accuracy"]
        return ["mae", "rmse"] + (["huber"] if self.loss == "huber" else [])


_ROLES = {name: _role_of(info) for name, info in JobSpec.model_fields.items()}
#: What a sweep may search: the fields that change training, less those marked unsearchable.
SEARCHABLE_FIELDS = frozenset(
    name
    for name in fields_with(FieldRole.MODEL, FieldRole.RUN)
    if (JobSpec.model_fields[name].json_schema_extra or {}).get("x-searchable", True)  # type: ignore[union-attr]
)
