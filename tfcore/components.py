"""Imports every module that registers Keras objects, so ``tfcore>...`` names resolve."""

from __future__ import annotations

from tfcore import activations, constraints, initializers, layers, losses, metrics, models, regularizers

__all__ = [
    "activations",
    "constraints",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "regularizers",
]
