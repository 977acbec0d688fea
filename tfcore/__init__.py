"""tfcore: the seed's TensorFlow toolkit on Keras 3.

Two promises pull against each other here, and this module keeps both:

* ``import tfcore.spec`` must not import TensorFlow (the API validates specs with it);
* after ``import tfcore``, ``keras.models.load_model("model.keras")`` must find every
  ``tfcore>...`` object without ``custom_objects``.

So importing the package never imports TensorFlow itself. If TensorFlow and Keras
are already loaded, the components register at once; otherwise a one-shot import
hook registers them as soon as both have finished loading, whichever comes first
(TensorFlow imports Keras while it initializes, and the other way round).
Public names such as ``tfcore.HuberLoss`` resolve lazily.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

from tfjobs import __version__  # one version for the whole distribution

_HOOKED = ("tensorflow", "keras")

_LAZY = {
    "HuberLoss": "tfcore.losses",
    "create_huber": "tfcore.losses",
    "huber": "tfcore.losses",
    "stable_softplus": "tfcore.activations",
    "GlorotNormalVariant": "tfcore.initializers",
    "MyL1Regularizer": "tfcore.regularizers",
    "PositiveWeights": "tfcore.constraints",
    "HuberMetric": "tfcore.metrics",
    "MyDense": "tfcore.layers",
    "Exponential": "tfcore.layers",
    "MyMultiLayer": "tfcore.layers",
    "MyGaussianNoise": "tfcore.layers",
    "ResidualBlock": "tfcore.layers",
    "build_model": "tfcore.models",
    "JobSpec": "tfcore.spec",
    "TfcoreError": "tfcore.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfcore' has no attribute {name!r}")


def _fully_loaded(name: str) -> bool:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)


def _register_if_ready() -> bool:
    if all(_fully_loaded(name) for name in _HOOKED):
        importlib.import_module("tfcore.components")
        return True
    return False


class _RegisterAfterKerasLoads(importlib.abc.MetaPathFinder):
    """Wraps the loaders of ``tensorflow`` and ``keras`` to register tfcore after them."""

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> Any:
        if fullname not in _HOOKED:
            return None
        others = [finder for finder in sys.meta_path if finder is not self]
        for finder in others:
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        original_exec = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            # Mark this one loaded before asking whether both are.
            module.__spec__._initializing = False  # type: ignore[union-attr]
            if _register_if_ready() and self in sys.meta_path:
                sys.meta_path.remove(self)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if not _register_if_ready() and not any(isinstance(f, _RegisterAfterKerasLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKerasLoads())
