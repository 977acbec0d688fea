"""The seed's custom layers, on Keras 3, each serializable through ``get_config``.

Layers that own sublayers build them explicitly in ``build``: Keras 3 restores
weights into layers that exist and are built when loading, and a sublayer left
unbuilt would silently get fresh random weights on reload.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from tfcore.activations import stable_softplus

__all__ = [
    "Exponential",
    "MyDense",
    "MyGaussianNoise",
    "MyMultiLayer",
    "ResidualBlock",
    "resolve_activation",
]


def resolve_activation(activation: Any) -> Any:
    """``keras.activations.get`` that also knows the project's ``stable_softplus``."""
    if activation == "stable_softplus":
        return stable_softplus
    return keras.activations.get(activation)


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"expected a positive integer. Received: {name}={value!r}")
    return value


@keras.saving.register_keras_serializable(package="tfcore")
class MyDense(keras.layers.Layer):
    """The seed's dense layer: ``activation(x @ kernel + bias)``.

    Args:
        units: output width (positive integer).
        activation: a Keras activation name or function, or ``"stable_softplus"``.
            Defaults to None (linear).
        kernel_initializer: Defaults to ``"glorot_normal"``, the seed's choice.
        kernel_regularizer: Defaults to None.
        kernel_constraint: Defaults to None.

    >>> MyDense(3, activation="relu")(keras.ops.ones((2, 4))).shape
    (2, 3)
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        *,
        kernel_initializer: Any = "glorot_normal",
        kernel_regularizer: Any = None,
        kernel_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = _positive_int("units", units)
        self.activation = resolve_activation(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        return self.activation(ops.matmul(inputs, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
        }


@keras.saving.register_keras_serializable(package="tfcore")
class Exponential(keras.layers.Layer):
    """``exp(x)``: the seed's ``Lambda(lambda x: tf.exp(x))`` as a real layer.

    Lambda layers carry Python bytecode, which safe-mode loading refuses (it is a
    code-injection vector); a named layer carries none.

    >>> float(Exponential()(keras.ops.zeros((1,)))[0])
    1.0
    """

    def call(self, inputs: Any) -> Any:
        return ops.exp(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


@keras.saving.register_keras_serializable(package="tfcore")
class MyMultiLayer(keras.layers.Layer):
    """Two inputs in, three outputs out: ``(a + b, a * b, a / b)``, the seed's multi-IO layer."""

    def call(self, inputs: Any) -> tuple[Any, Any, Any]:
        a, b = inputs
        return a + b, a * b, a / b

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, Any, Any]:
        shape_a, _ = input_shape
        return shape_a, shape_a, shape_a


@keras.saving.register_keras_serializable(package="tfcore")
class MyGaussianNoise(keras.layers.Layer):
    """Adds ``N(0, stddev**2)`` noise while training; passes inputs through otherwise.

    Args:
        stddev: the noise's standard deviation (>= 0).
        seed: optional seed for repeatable noise. Defaults to None.
    """

    def __init__(self, stddev: float, *, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if stddev < 0:
            raise ValueError(f"expected a non-negative stddev. Received: stddev={stddev}")
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool = False) -> Any:
        if training and self.stddev > 0:
            noise = keras.random.normal(
                ops.shape(inputs), stddev=self.stddev, dtype=inputs.dtype, seed=self.seed_generator
            )
            return inputs + noise
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfcore")
class ResidualBlock(keras.layers.Layer):
    """``inputs + dense_n(...dense_1(inputs))``: the seed's residual block.

    The output width equals the input width, so ``n_neurons`` must match it.

    Args:
        n_layers: how many dense layers in the branch (positive integer).
        n_neurons: width of each dense layer.
        activation: Defaults to ``"relu"`` (the seed's).
        kernel_initializer: Defaults to ``"he_normal"`` (the seed's).
        kernel_regularizer, kernel_constraint: Default to None.
    """

    def __init__(
        self,
        n_layers: int,
        n_neurons: int,
        *,
        activation: Any = "relu",
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        kernel_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_layers = _positive_int("n_layers", n_layers)
        self.n_neurons = _positive_int("n_neurons", n_neurons)
        self.hidden = [
            MyDense(
                n_neurons,
                activation,
                kernel_initializer=kernel_initializer,
                kernel_regularizer=kernel_regularizer,
                kernel_constraint=kernel_constraint,
                dtype=self.dtype_policy,
            )
            for _ in range(n_layers)
        ]

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if input_shape[-1] != self.n_neurons:
            raise ValueError(
                f"the input width must equal n_neurons for the skip connection. "
                f"Received: input width={input_shape[-1]}, n_neurons={self.n_neurons}"
            )
        for layer in self.hidden:
            layer.build(input_shape)

    def call(self, inputs: Any) -> Any:
        z = inputs
        for layer in self.hidden:
            z = layer(z)
        return inputs + z

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        first = self.hidden[0]
        return {
            **super().get_config(),
            "n_layers": self.n_layers,
            "n_neurons": self.n_neurons,
            "activation": keras.activations.serialize(first.activation),
            "kernel_initializer": keras.initializers.serialize(first.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(first.kernel_regularizer),
            "kernel_constraint": keras.constraints.serialize(first.kernel_constraint),
        }
