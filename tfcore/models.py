"""The spec's model types as subclassed Keras 3 models that save and reload exactly.

Every model starts with a ``Normalization`` layer adapted on the training
features, so a saved model takes raw feature rows and answers in the target's
units. Each one creates its layers in ``__init__`` (or, for the seed's
ReconstructingRegressor, in ``build``) and builds every sublayer in ``build``:
Keras 3 reloads weights only into built layers, and an unbuilt one would come
back with fresh random weights and no error.
"""

from __future__ import annotations

import copy
from typing import Any

import keras
from keras import ops

from tfcore.architecture import check_architecture, fit_problems
from tfcore.constraints import PositiveWeights
from tfcore.errors import DataError
from tfcore.initializers import GlorotNormalVariant
from tfcore.layers import MyDense, MyGaussianNoise, ResidualBlock, resolve_activation
from tfcore.regularizers import MyL1Regularizer
from tfcore.spec import JobSpec

__all__ = [
    "MLPRegressor",
    "ReconstructingRegressor",
    "ResidualRegressor",
    "TabularModel",
    "WideDeepRegressor",
    "build_model",
    "build_keras_model",
    "check_fit",
]

Shape = tuple[int | None, ...]


def feature_width(shape: Shape) -> int:
    """The last (feature) dimension, which every tabular model needs to know when it builds."""
    width = shape[-1]
    if width is None:
        raise ValueError(f"expected a known number of features. Received: input_shape={shape}")
    return width


class TabularModel(keras.Model):
    """Shared frame: normalize → (noise) → body → (dropout) → dense head.

    Subclasses create their body in ``__init__`` and implement ``build_body`` (build
    the body's layers, return its output width) and ``call_body``.

    Args:
        output_dim: width of the head. Defaults to 1.
        output_activation: head activation (``"sigmoid"`` for binary jobs). Defaults to None.
        hidden_units: width of hidden layers. Defaults to 30 (the seed's).
        n_hidden: hidden layers (per residual block for ``ResidualRegressor``);
            None means the model's own default.
        activation, kernel_initializer, kernel_regularizer, kernel_constraint:
            applied to every hidden layer.
        gaussian_noise: stddev of training-only input noise. Defaults to 0 (off).
        dropout: rate of dropout before the head. Defaults to 0 (off).
        seed: seed for noise and dropout. Defaults to None.
        target_mean, target_std: the head's output is ``raw * target_std + target_mean``,
            so a regression model starts out answering in the target's own units
            (set from the training targets; 0 and 1 leave outputs untouched).
    """

    default_n_hidden = 2

    def __init__(
        self,
        *,
        output_dim: int = 1,
        output_activation: Any = None,
        hidden_units: int = 30,
        n_hidden: int | None = None,
        activation: Any = "relu",
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        kernel_constraint: Any = None,
        gaussian_noise: float = 0.0,
        dropout: float = 0.0,
        seed: int | None = None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.hidden_units = hidden_units
        self.n_hidden = n_hidden or self.default_n_hidden
        self.gaussian_noise = float(gaussian_noise)
        self.dropout_rate = float(dropout)
        self.seed = seed
        self.target_mean = float(target_mean)
        self.target_std = float(target_std)
        self.activation = resolve_activation(activation)
        self.output_activation = resolve_activation(output_activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

        # Sublayers take the model's dtype policy (mixed_float16 under mixed precision),
        # so a model rebuilt from its config computes exactly as the trained one did.
        policy = self.dtype_policy
        # Raw features may exceed float16's range (65504): normalize in float32 first.
        self.normalization = keras.layers.Normalization(name="normalization", dtype="float32")
        self.noise = MyGaussianNoise(self.gaussian_noise, seed=seed, name="noise", dtype=policy)
        self.dropout = keras.layers.Dropout(self.dropout_rate, seed=seed, name="dropout", dtype=policy)
        # The head stays float32 under mixed precision so outputs and loss are float32.
        # Its kernel starts at zero: a fresh regression model answers the training mean
        # (a binary one 0.5) instead of a large random value scaled by target_std.
        self.out = MyDense(
            output_dim, self.output_activation, kernel_initializer="zeros", name="head", dtype="float32"
        )

    def hidden_dense(self, units: int | None = None, **kwargs: Any) -> MyDense:
        """A hidden layer with the model's activation, initializer, regularizer, constraint."""
        return MyDense(
            units or self.hidden_units,
            self.activation,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            kernel_constraint=self.kernel_constraint,
            dtype=self.dtype_policy,
            **kwargs,
        )

    def build(self, input_shape: Shape) -> None:
        self.normalization.build(input_shape)
        width = self.build_body(input_shape)
        self.out.build((input_shape[0], width))

    def build_body(self, input_shape: Shape) -> int:
        raise NotImplementedError

    def call_body(self, x: Any, training: bool) -> Any:
        raise NotImplementedError

    def call(self, inputs: Any, training: bool = False) -> Any:
        x = self.normalization(inputs)
        x = self.noise(x, training=training)
        z = self.call_body(x, training)
        z = self.dropout(z, training=training)
        y = self.out(ops.cast(z, "float32"))
        if self.target_mean == 0.0 and self.target_std == 1.0:
            return y
        return y * self.target_std + self.target_mean

    @property
    def internal_metrics(self) -> list[keras.metrics.Metric]:
        """Metrics the model updates itself while training (reported each epoch)."""
        return []

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "output_dim": self.output_dim,
            "output_activation": keras.activations.serialize(self.output_activation),
            "hidden_units": self.hidden_units,
            "n_hidden": self.n_hidden,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "gaussian_noise": self.gaussian_noise,
            "dropout": self.dropout_rate,
            "seed": self.seed,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }


@keras.saving.register_keras_serializable(package="tfcore")
class MLPRegressor(TabularModel):
    """A plain stack of ``n_hidden`` dense layers (the seed's custom-loop model)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden = [self.hidden_dense() for _ in range(self.n_hidden)]

    def build_body(self, input_shape: Shape) -> int:
        shape = input_shape
        for layer in self.hidden:
            layer.build(shape)
            shape = (shape[0], layer.units)
        return self.hidden_units

    def call_body(self, x: Any, training: bool) -> Any:
        for layer in self.hidden:
            x = layer(x)
        return x


@keras.saving.register_keras_serializable(package="tfcore")
class ResidualRegressor(TabularModel):
    """The seed's ResidualRegressor: Dense(30) → block1 ×(1+3) → block2 → Dense(out).

    Each ``ResidualBlock`` has ``n_hidden`` dense layers (2 in the seed) of
    ``hidden_units`` (30 in the seed); block1 is applied four times, sharing weights.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        options = {
            "activation": self.activation,
            "kernel_initializer": self.kernel_initializer,
            "kernel_regularizer": self.kernel_regularizer,
            "kernel_constraint": self.kernel_constraint,
        }
        self.hidden1 = self.hidden_dense(name="hidden1")
        self.block1 = ResidualBlock(
            self.n_hidden, self.hidden_units, name="block1", dtype=self.dtype_policy, **options
        )
        self.block2 = ResidualBlock(
            self.n_hidden, self.hidden_units, name="block2", dtype=self.dtype_policy, **options
        )

    def build_body(self, input_shape: Shape) -> int:
        self.hidden1.build(input_shape)
        width_shape = (input_shape[0], self.hidden_units)
        self.block1.build(width_shape)
        self.block2.build(width_shape)
        return self.hidden_units

    def call_body(self, x: Any, training: bool) -> Any:
        z = self.hidden1(x)
        for _ in range(1 + 3):
            z = self.block1(z)
        return self.block2(z)


@keras.saving.register_keras_serializable(package="tfcore")
class ReconstructingRegressor(TabularModel):
    """The seed's ReconstructingRegressor: a dense stack whose top hidden layer must
    also reconstruct the (normalized) inputs.

    ``0.05 * mean((reconstruction - inputs)**2)`` is added with ``add_loss``; while
    training, its running mean is the ``reconstruction_error`` metric (Keras 3 has
    no ``add_metric``, so the model owns a ``Mean`` metric and updates it in ``call``).
    """

    default_n_hidden = 5
    reconstruction_weight = 0.05

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden = [self.hidden_dense() for _ in range(self.n_hidden)]
        self.reconstruction_mean = keras.metrics.Mean(name="reconstruction_error")

    def build_body(self, input_shape: Shape) -> int:
        # As in the seed, the reconstruction layer is created here, once the input
        # width is known — and then built, which is what makes it reload correctly.
        n_inputs = feature_width(input_shape)
        self.reconstruct = MyDense(n_inputs, name="reconstruct", dtype=self.dtype_policy)
        shape = input_shape
        for layer in self.hidden:
            layer.build(shape)
            shape = (shape[0], layer.units)
        self.reconstruct.build(shape)
        return self.hidden_units

    def call_body(self, x: Any, training: bool) -> Any:
        z = x
        for layer in self.hidden:
            z = layer(z)
        reconstruction = self.reconstruct(z)
        recon_loss = ops.mean(ops.square(ops.cast(reconstruction - x, "float32")))
        self.add_loss(self.reconstruction_weight * recon_loss)
        if training:
            self.reconstruction_mean.update_state(recon_loss)
        return z

    @property
    def internal_metrics(self) -> list[keras.metrics.Metric]:
        return [self.reconstruction_mean]


@keras.saving.register_keras_serializable(package="tfcore")
class WideDeepRegressor(TabularModel):
    """Wide & deep: the normalized inputs (wide) joined to a dense stack (deep) before the head."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden = [self.hidden_dense() for _ in range(self.n_hidden)]
        self.concat = keras.layers.Concatenate(name="wide_and_deep", dtype=self.dtype_policy)

    def build_body(self, input_shape: Shape) -> int:
        shape = input_shape
        for layer in self.hidden:
            layer.build(shape)
            shape = (shape[0], layer.units)
        return feature_width(input_shape) + self.hidden_units

    def call_body(self, x: Any, training: bool) -> Any:
        z = x
        for layer in self.hidden:
            z = layer(z)
        return self.concat([x, z])


MODEL_CLASSES: dict[str, type[TabularModel]] = {
    "mlp": MLPRegressor,
    "residual": ResidualRegressor,
    "reconstructing": ReconstructingRegressor,
    "wide_deep": WideDeepRegressor,
}


def _regularizer(spec: JobSpec) -> keras.regularizers.Regularizer | None:
    if spec.kernel_regularizer is None:
        return None
    if spec.kernel_regularizer.l1 is not None:
        return MyL1Regularizer(spec.kernel_regularizer.l1)
    return keras.regularizers.L2(spec.kernel_regularizer.l2)


def build_model(
    spec: JobSpec, n_features: int, *, target_mean: float = 0.0, target_std: float = 1.0
) -> TabularModel:
    """The spec's model, built for ``n_features`` inputs (its Normalization not yet adapted).

    For regression, pass the training targets' mean and standard deviation so the
    head starts in the target's units; binary heads ignore them (sigmoid outputs).
    """
    if spec.task == "binary":
        target_mean, target_std = 0.0, 1.0
    initializer: Any = spec.kernel_initializer
    if initializer == "glorot_normal_variant":
        initializer = GlorotNormalVariant(seed=spec.seed)
    model = MODEL_CLASSES[spec.model_type](
        output_dim=1,
        output_activation="sigmoid" if spec.task == "binary" else None,
        hidden_units=spec.hidden_units,
        n_hidden=spec.n_hidden,
        activation=spec.activation,
        kernel_initializer=initializer,
        kernel_regularizer=_regularizer(spec),
        kernel_constraint=PositiveWeights() if spec.kernel_constraint == "positive" else None,
        gaussian_noise=spec.gaussian_noise,
        dropout=spec.dropout,
        seed=spec.seed,
        target_mean=target_mean,
        target_std=target_std,
        dtype="mixed_float16" if spec.mixed_precision else None,
        name=spec.model_type,
    )
    model.build((None, n_features))
    return model


def build_keras_model(spec: JobSpec) -> keras.Model:
    """A ``keras`` job's own architecture, built from its config — after the allowlist walk
    (tfcore/architecture.py) passes it again here, and with Keras' safe mode on as well:
    only allowlisted Keras objects and tfcore's registered components can be named, and
    nothing that runs code or loads files. Seeded, so the same spec starts from the same
    weights."""
    assert spec.architecture is not None
    check_architecture(spec.architecture)
    keras.utils.set_random_seed(spec.seed)
    config = copy.deepcopy(spec.architecture)
    if spec.mixed_precision:
        _mixed_precision(config)
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    if not isinstance(model, keras.Model):
        raise DataError("the architecture did not build a Keras model")
    return model


def _mixed_precision(config: dict[str, Any]) -> None:
    """Every layer computes in float16 with float32 weights, except the last, which
    answers in float32 (the loss and the exported model see float32, as Keras advises)."""
    layers = (config.get("config") or {}).get("layers") or []
    for i, layer in enumerate(layers):
        settings = layer.get("config") or {}
        if layer.get("class_name") == "InputLayer" or i == len(layers) - 1:
            continue
        settings["dtype"] = {
            "module": "keras",
            "class_name": "DTypePolicy",
            "config": {"name": "mixed_float16"},
            "registered_name": None,
        }


def check_fit(
    model: keras.Model,
    feature_shape: tuple[int, ...],
    task: str,
    classes: int | None,
    *,
    max_params: int | None = None,
) -> None:
    """That a built architecture fits the job: it takes the dataset's rows, predicts what
    its labels need (both shapes named when not), and is within the parameter limit (the
    exact count, which only a built model knows)."""
    wanted = list(model.inputs[0].shape[1:]) if model.inputs else None
    width = model.outputs[0].shape[-1] if model.outputs else None
    problems = fit_problems(wanted, width, list(feature_shape), task, classes)
    if problems:
        raise DataError(problems[0])
    count = model.count_params()
    if max_params is not None and count > max_params:
        raise DataError(
            f"the architecture has {count:,} parameters, more than the limit of {max_params:,} "
            "(TFJOBS_MAX_MODEL_PARAMS)"
        )
