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

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tfcore.architecture import ArchitectureRefused, check_architecture

__all__ = [
    "DEFAULT_MAX_EPOCHS",
    "DEFAULT_MAX_MODEL_PARAMS",
    "BINARY_LOSSES",
    "BINARY_METRICS",
    "BUILTIN_SHAPE_FIELDS",
    "MULTICLASS_LOSSES",
    "MULTICLASS_METRICS",
    "EarlyStopping",
    "ExponentialDecay",
    "JobSpec",
    "KernelRegularizer",
    "PiecewiseConstant",
    "REGRESSION_METRICS",
    "Task",
]

DEFAULT_MAX_EPOCHS = 1000
DEFAULT_MAX_MODEL_PARAMS = 20_000_000

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
    decay_steps: int = Field(ge=1, le=10_000_000)
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
    patience: int = Field(default=5, ge=1, le=1000)
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
FIELD_DOCS = {
    "model_type": "The network: `mlp` (dense layers), `residual` (the seed's residual blocks), "
    "`reconstructing` (adds a reconstruction loss), `wide_deep` (wide and deep paths), or `keras`: "
    "your own architecture, sent in `architecture`.",
    "architecture": "With `model_type: keras` (and only then): your Keras 3 `Sequential` or functional "
    "model's config, as `json.loads(model.to_json())` gives it (no weights). Only allowlisted layers, "
    "Keras' built-in activations, initializers, regularizers and constraints, and tfcore's registered "
    "components; nothing that runs code or loads files.",
    "loss": "What training minimizes: `huber`, `mse`, `mae` (regression), `binary_crossentropy`, or "
    "`sparse_categorical_crossentropy` (labels 0..K−1) / `categorical_crossentropy` (one-hot) for "
    "a `keras` model ending in K softmax outputs.",
    "threshold": "The Huber loss's threshold, where it turns from squared to linear "
    "(also the `huber` metric's).",
    "epochs": "Passes over the training data: 1 to TFJOBS_MAX_EPOCHS (1000 by default).",
    "dataset": "A built-in (`diabetes`, `breast_cancer`, `synthetic`), or one of your uploads by id, "
    "unique id prefix, or unique name. Default: `diabetes`, or `breast_cancer` for binary_crossentropy.",
    "batch_size": "Rows per optimizer step.",
    "optimizer": "`adam`, `sgd`, `rmsprop` or `nadam`.",
    "learning_rate": "The optimizer's step size (or the schedule's start).",
    "lr_schedule": "Optional learning-rate schedule: exponential decay or piecewise constant.",
    "metrics": "Metrics reported each epoch besides the loss (default: those suited to the task).",
    "validation_split": "Share of the rows held out (after a seeded shuffle) for validation.",
    "seed": "Seeds the shuffle, the split, the initial weights and noise: same seed, same run.",
    "hidden_units": "Units in each hidden layer.",
    "n_hidden": "Hidden layers (default: the model type's own).",
    "activation": "Hidden layers' activation: a Keras name or the seed's `stable_softplus`.",
    "kernel_initializer": "Initial weights: a Keras name or the seed's `glorot_normal_variant`.",
    "kernel_regularizer": 'Optional weight penalty: `{"l1": f}` or `{"l2": f}`.',
    "kernel_constraint": "`positive` keeps the hidden layers' weights non-negative (the seed's constraint).",
    "gaussian_noise": "Standard deviation of noise added to the inputs while training (0: none).",
    "dropout": "Dropout rate after each hidden layer while training (0: none).",
    "early_stopping": "Optional: stop when val_loss has not improved by `min_delta` for `patience` epochs.",
    "steps_per_execution": "Optimizer steps per compiled call (default 100): fewer Python round trips.",
    "top_k": "For the `top_k_accuracy` metric of a multiclass job: a row counts as right when its "
    "label is among the model's `top_k` most likely classes.",
    "mixed_precision": "Compute in float16 with float32 weights (for GPUs); the model still takes "
    "and returns float32.",
    "name": "Optional name to find the run again (`GET /jobs?q=`); up to 64 characters.",
    "tags": "Optional tags to find the run again (`GET /jobs?tag=`); up to 10.",
    "priority": "0–9: among your own queued jobs, higher starts first (equal: first come). "
    "Between owners, fair share decides: the owner with the fewest running jobs goes next.",
    "device": "`auto` (any worker, a GPU one preferred), `cpu` or `gpu` (waits for a GPU worker; "
    "never runs on a CPU one).",
}


def _document_fields(schema: dict[str, Any]) -> None:
    for name, text in FIELD_DOCS.items():
        schema["properties"][name]["description"] = text
    schema["examples"] = [MINIMAL_SPEC]


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

    model_type: ModelType
    architecture: dict[str, Any] | None = None
    loss: LossName
    threshold: float = Field(default=1.0, gt=0, le=1e6, allow_inf_nan=False)
    epochs: int = Field(ge=1)
    dataset: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    batch_size: int = Field(default=32, ge=1, le=65_536)
    optimizer: Optimizer = "adam"
    learning_rate: float = Field(default=1e-3, gt=0, le=10, allow_inf_nan=False)
    lr_schedule: ExponentialDecay | PiecewiseConstant | None = Field(default=None, discriminator="type")
    metrics: list[MetricName] | None = Field(default=None, max_length=8)
    validation_split: float = Field(default=0.2, ge=0.05, le=0.5)
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    hidden_units: int = Field(default=30, ge=1, le=4096)
    n_hidden: int | None = Field(default=None, ge=1, le=32)
    activation: Activation = "relu"
    kernel_initializer: Initializer = "he_normal"
    kernel_regularizer: KernelRegularizer | None = None
    kernel_constraint: Literal["positive"] | None = None
    gaussian_noise: float = Field(default=0.0, ge=0, le=10, allow_inf_nan=False)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    early_stopping: EarlyStopping | None = None
    steps_per_execution: int | None = Field(default=None, ge=1, le=100_000)
    mixed_precision: bool = False
    top_k: int = Field(default=5, ge=1, le=1000)
    # Not training settings: how people find the run again (GET /jobs?q=…&tag=…).
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[\w .:+/-]+$")
    tags: list[Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")]] = Field(
        default_factory=list, max_length=10
    )

    # Not training settings either: where and when the scheduler starts it (app/scheduler.py).
    priority: int = Field(default=0, ge=0, le=9)
    device: Literal["auto", "cpu", "gpu"] = "auto"

    @field_validator("tags")
    @classmethod
    def _tags_once_each(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))

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
