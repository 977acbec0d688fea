"""A user's own architecture, as data: the gate every Keras config passes before anything
builds it.

A job with ``model_type: "keras"`` carries ``architecture``: what ``json.loads(model.to_json())``
gives for a Keras 3 ``Sequential`` or functional ``Model``. Keras' own deserializer could
build it, but a config names Python objects (``module`` + ``class_name``), and its safe
mode has had bypasses (CVE-2025-1550, CVE-2025-8747, CVE-2025-9906: configs that reach
``os``, ``builtins``, ``keras.config.enable_unsafe_deserialization``, file-loading layers).
So this walk is the gate, and it is an allowlist: every serialized object must be one of
the layers, initializers, regularizers and constraints named below (or one tfcore
registers), every string that names an activation must be a known one, and nothing may
be a function, a ``Lambda``, a file-loading layer or an object from any other module. The
worker deserializes with safe mode on as well, with tfcore's objects only.

Pure Python, no TensorFlow: the API checks a config at submit (a 422 naming the path,
e.g. ``architecture.config.layers[3]: Lambda is not allowed: it would run code``), and the
worker checks it again before building.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "ALLOWED_LAYERS",
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "TFCORE_OBJECTS",
    "ArchitectureRefused",
    "check_architecture",
    "declared_io",
    "estimate_params",
    "fit_problems",
]

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
MAX_DEPTH = 48  # nesting of the JSON; a Keras model's config is ~10 deep
MAX_JSON_BYTES = 512 << 10

MODELS = frozenset({"Sequential", "Functional"})
ALLOWED_LAYERS = frozenset(
    {
        "InputLayer", "Dense", "EinsumDense", "Identity", "Masking",
        "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
        "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
        "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
        "Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding1D", "ZeroPadding2D",
        "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
        "UpSampling3D",
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
        "GaussianDropout", "AlphaDropout",
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
        "Normalization", "Rescaling",
        "Embedding", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "TimeDistributed",
        "ConvLSTM1D", "ConvLSTM2D",
        "Attention", "AdditiveAttention", "MultiHeadAttention",
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
        "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
    }
)  # fmt: skip
INITIALIZERS = frozenset(
    {
        "Constant", "Zeros", "Ones", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
        "LecunNormal", "LecunUniform", "Orthogonal", "RandomNormal", "RandomUniform",
        "TruncatedNormal", "VarianceScaling", "Identity", "IdentityInitializer",
    }
)  # fmt: skip
REGULARIZERS = frozenset({"L1", "L2", "L1L2", "OrthogonalRegularizer"})
CONSTRAINTS = frozenset({"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"})
POLICIES = frozenset({"DTypePolicy", "FloatDTypePolicy"})
#: What tfcore registers (``tfcore>Name``) that may appear inside a user's model: the
#: seed's components. (Its whole models and losses are not layers of another model.)
TFCORE_OBJECTS = frozenset(
    {
        "ResidualBlock", "MyDense", "MyGaussianNoise", "MyMultiLayer", "GlorotNormalVariant",
        "MyL1Regularizer", "PositiveWeights", "stable_softplus",
    }
)  # fmt: skip
TFCORE_FUNCTIONS = frozenset({"stable_softplus"})
BY_MODULE = {
    "keras": MODELS | POLICIES,
    "keras.models": MODELS,
    "keras.src.models.functional": MODELS,
    "keras.src.models.sequential": MODELS,
    "keras.layers": ALLOWED_LAYERS,
    "keras.initializers": INITIALIZERS,
    "keras.regularizers": REGULARIZERS,
    "keras.constraints": CONSTRAINTS,
}
TFCORE_MODULES = frozenset(
    {
        "tfcore.layers",
        "tfcore.initializers",
        "tfcore.regularizers",
        "tfcore.constraints",
        "tfcore.activations",
    }
)
ACTIVATIONS = frozenset(
    {
        "relu", "relu6", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid", "hard_sigmoid",
        "hard_silu", "hard_swish", "softplus", "softsign", "softmax", "log_softmax", "linear",
        "exponential", "leaky_relu", "mish", "stable_softplus", None,
    }
)  # fmt: skip
ACTIVATION_KEYS = frozenset({"activation", "recurrent_activation"})
# Keras' markers for plain data inside a config (a functional model's tensors, tuples,
# constants): values, never code.
DATA_MARKERS = frozenset({"__keras_tensor__", "__tuple__", "__tensor__", "__numpy__", "__bytes__"})
# Reasons for the refusals people ask about, by class name.
NEVER = {
    "Lambda": "it would run code",
    "TFSMLayer": "it loads files",
    "TorchModuleWrapper": "it would run code",
    "JaxLayer": "it would run code",
    "FlaxLayer": "it would run code",
    "function": "a serialized function would run code",
    "__lambda__": "a serialized function would run code",
    "__function__": "a serialized function would run code",
}


class ArchitectureRefused(ValueError):
    """``path``: where in the architecture (``architecture.config.layers[3]``), and why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def check_architecture(config: Any, *, max_params: int | None = None) -> None:
    """Raises :class:`ArchitectureRefused` unless ``config`` is a Keras model config made
    only of allowed objects, within the size, depth and (estimated) parameter limits."""
    size = len(json.dumps(config))
    if size > MAX_JSON_BYTES:
        raise ArchitectureRefused(
            "architecture", f"the config is {size:,} bytes, more than the limit of {MAX_JSON_BYTES:,}"
        )
    if not isinstance(config, dict) or config.get("class_name") not in MODELS:
        raise ArchitectureRefused(
            "architecture",
            "must be a Keras Sequential or functional Model's config: json.loads(model.to_json())",
        )
    _walk(config, "architecture", 0)
    if max_params is not None:
        at_least = estimate_params(config)
        if at_least > max_params:
            raise ArchitectureRefused(
                "architecture",
                f"the model has at least {at_least:,} parameters, more than the limit of "
                f"{max_params:,} (TFJOBS_MAX_MODEL_PARAMS)",
            )


def _walk(node: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ArchitectureRefused(path, f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, f"{path}[{i}]", depth + 1)
        return
    if not isinstance(node, dict):
        return
    if "class_name" in node:
        _check_object(node, path)
    for key, value in node.items():
        if not isinstance(key, str):
            raise ArchitectureRefused(path, "keys must be strings")
        if key in ACTIVATION_KEYS and not isinstance(value, dict) and value not in ACTIVATIONS:
            raise ArchitectureRefused(
                f"{path}.{key}", f"{value!r} is not a known activation (allowed: Keras' built-ins by name)"
            )
        if key == "function" or key == "function_type":  # Lambda's payload, wherever it hides
            raise ArchitectureRefused(f"{path}.{key}", "a serialized function would run code")
        if key == "name" and not (isinstance(value, str) and NAME.fullmatch(value)):
            raise ArchitectureRefused(
                f"{path}.{key}",
                f"{value!r} is not a usable name: letters, digits, _ . - (up to 128; TensorFlow names "
                "the model's variables after its layers)",
            )
        _walk(value, f"{path}.{key}", depth + 1)


def _check_object(node: dict[str, Any], path: str) -> None:
    class_name, module = node.get("class_name"), node.get("module")
    registered = node.get("registered_name")
    if not isinstance(class_name, str):
        raise ArchitectureRefused(path, "class_name must be a string")
    if class_name == "function" and _tfcore_function(node):
        return  # a function tfcore registers, by its registered name (stable_softplus)
    if class_name in NEVER:
        raise ArchitectureRefused(path, f"{class_name} is not allowed: {NEVER[class_name]}")
    if class_name in DATA_MARKERS and module is None and registered is None:
        return
    if isinstance(registered, str) and registered.startswith("tfcore>"):
        if registered.removeprefix("tfcore>") in TFCORE_OBJECTS and class_name in TFCORE_OBJECTS:
            if module is None or module in TFCORE_MODULES:
                return
        raise ArchitectureRefused(path, f"{registered} is not one of tfcore's allowed components")
    if registered not in (None, class_name, "Functional", "Sequential"):
        raise ArchitectureRefused(path, f"registered_name {registered!r} is not allowed")
    if module is None:
        raise ArchitectureRefused(path, f"{class_name}: a serialized object must name its module")
    allowed = BY_MODULE.get(module)
    if allowed is None:
        raise ArchitectureRefused(
            path, f"module {module!r} is not allowed (only keras' layers and tfcore's components)"
        )
    if class_name not in allowed:
        raise ArchitectureRefused(path, f"{class_name} from {module} is not on the allowlist")


def _tfcore_function(node: dict[str, Any]) -> bool:
    """How Keras writes a registered function: ``{"module": "builtins", "class_name":
    "function", "config": "tfcore>stable_softplus", "registered_name": "function"}`` — only
    the name is looked up, in tfcore's registry; any other name is refused."""
    name = node.get("config")
    return (
        node.get("module") == "builtins"
        and node.get("registered_name") == "function"
        and isinstance(name, str)
        and name.startswith("tfcore>")
        and name.removeprefix("tfcore>") in TFCORE_FUNCTIONS
    )


def estimate_params(config: dict[str, Any]) -> int:
    """A lower bound on the model's parameter count, read from the config alone: every
    Embedding (input_dim × output_dim) and every Dense (units × the width before it, where
    the layers before it in a Sequential say what that is). Enough to refuse a model of
    10^10 parameters at submit; the worker counts exactly once it has built the model."""
    total, width = 0, None
    for layer in _layers(config):
        kind, conf = layer.get("class_name"), layer.get("config") or {}
        if kind == "InputLayer":
            shape = conf.get("batch_shape") or conf.get("batch_input_shape") or []
            width = shape[-1] if shape and isinstance(shape[-1], int) else None
        elif kind == "Embedding":
            total += _int(conf.get("input_dim")) * _int(conf.get("output_dim"))
            width = _int(conf.get("output_dim")) or None
        elif kind == "Dense":
            units = _int(conf.get("units"))
            total += units * (width or 1) + units
            width = units or None
        elif kind in ("Flatten", "Reshape", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Concatenate"):
            width = None  # the width after it depends on shapes this walk does not follow
    return total


def _layers(config: dict[str, Any]) -> list[dict[str, Any]]:
    layers = (config.get("config") or {}).get("layers") or []
    return [layer for layer in layers if isinstance(layer, dict)]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def declared_io(config: dict[str, Any]) -> tuple[list[int | None] | None, int | None]:
    """What the config says about its first input's row shape and its output's width,
    where it says it plainly (an InputLayer's ``batch_shape``; a last layer with ``units``):
    the API checks a job against its dataset with these, before any worker builds it."""
    layers = _layers(config)
    by_name = {(layer.get("config") or {}).get("name"): layer for layer in layers}
    conf = config.get("config") or {}
    if config.get("class_name") == "Functional":
        first = _first_name(conf.get("input_layers"))
        last = _first_name(conf.get("output_layers"))
        inputs, outputs = by_name.get(first), by_name.get(last)
    else:
        inputs = layers[0] if layers else None
        outputs = next((layer for layer in reversed(layers) if "units" in (layer.get("config") or {})), None)
    shape = None
    if inputs is not None and inputs.get("class_name") == "InputLayer":
        batch = (inputs.get("config") or {}).get("batch_shape")
        if isinstance(batch, list) and len(batch) >= 2:
            shape = [n if isinstance(n, int) else None for n in batch[1:]]
    width = (outputs.get("config") or {}).get("units") if outputs is not None else None
    return shape, width if isinstance(width, int) else None


def _first_name(spec: Any) -> Any:
    """A functional config's ``input_layers``/``output_layers``: ``[name, 0, 0]``, or a list
    of those; the first one's layer name."""
    while isinstance(spec, list) and spec and isinstance(spec[0], list):
        spec = spec[0]
    return spec[0] if isinstance(spec, list) and spec else None


def fit_problems(
    wanted: list[int | None] | None,
    width: int | None,
    feature_shape: list[int],
    task: str,
    classes: int | None,
    *,
    dataset: str | None = None,
) -> list[str]:
    """How an architecture's input shape (``None`` dims: any) and output width disagree
    with a dataset's row shape and labels, both named; ``[]`` when they fit. The API asks
    with what the config declares, the worker with the built model. ``dataset``: its name."""
    rows = f"dataset {dataset!r} has rows of shape" if dataset else "the dataset's rows have shape"
    owner = f"dataset {dataset!r}" if dataset else "the dataset"
    problems = []
    if wanted is not None and (
        len(wanted) != len(feature_shape)
        or any(w is not None and w != g for w, g in zip(wanted, feature_shape, strict=False))
    ):
        problems.append(f"the architecture takes inputs of shape {wanted} but {rows} {feature_shape}")
    expected = classes if task == "multiclass" else 1
    if width is not None and expected is not None and width != expected:
        needs = f"{classes} classes" if task == "multiclass" else f"one value per row ({task})"
        problems.append(f"the architecture outputs {width} values per row but {owner} needs {needs}")
    return problems
