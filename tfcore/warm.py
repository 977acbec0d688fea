"""Reusing a built trainer for the next job of the same architecture.

Most of a small job's start is tracing its compiled functions (~1.2 s here, against
~0.2 s to build the model). Sweeps and resubmits run the same architecture again and
again, so a worker keeps the last few :class:`~tfcore.train.Trainer`\\ s, keyed by
everything that shapes their graphs, and hands one back re-initialised: every
variable — weights, the Normalization's statistics, dropout and noise seed states,
the optimizer's step count, learning rate and slots — takes the value a fresh build
with the new job's seed has, so the job trains exactly as it would have cold (a test
compares final weights). The traced functions stay.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from tfcore.spec import FieldRole, JobSpec, fields_with

__all__ = ["TrainerCache", "architecture_key", "copy_state"]

#: Spec fields that shape neither the compiled functions nor the saved model's config
#: (every field whose role is not ``model``): a job that differs from a cached one only
#: in these reuses it. A field added later is part of the key unless its role says
#: otherwise (a miss costs a trace; a wrong hit would train the wrong model). A constant
#: learning rate is a variable the optimizer reads, so a learning-rate sweep hits; a
#: schedule's values are constants in the graph.
NOT_IN_GRAPH = fields_with(FieldRole.RUN, FieldRole.LABELS, FieldRole.PLACEMENT)


def architecture_key(
    spec: JobSpec, n_features: int | list[int], target_mean: float, target_std: float, replicas: int
) -> str:
    """What a trainer's graphs depend on, as one string: the spec's model-shaping fields,
    the input width, the head's target scale (constants in the graph) and the replicas."""
    fields = {k: v for k, v in spec.model_dump(mode="json").items() if k not in NOT_IN_GRAPH}
    if spec.lr_schedule is None:
        fields.pop("learning_rate")
    return json.dumps(
        {"spec": fields, "features": n_features, "target": [target_mean, target_std], "replicas": replicas},
        sort_keys=True,
    )


def copy_state(source: list[Any], target: list[Any]) -> bool:
    """Assigns each of ``source``'s variables to its twin in ``target``; False (and
    nothing assigned) unless the two lists match one to one in shape and dtype. (Not by
    path: Keras numbers unnamed layers per process, so twins' paths differ; the same
    architecture built the same way lists its variables in the same order.)"""
    if len(source) != len(target):
        return False
    for s, t in zip(source, target, strict=True):
        if tuple(s.shape) != tuple(t.shape) or s.dtype != t.dtype:
            return False
    for s, t in zip(source, target, strict=True):
        t.assign(s.value)
    return True


class TrainerCache:
    """The last ``size`` trainers by architecture key, least recently used out first.

    A trainer is *taken* for a job (so two jobs never share one) and *given* back once
    the job no longer needs its model (after export)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._trainers: OrderedDict[str, Any] = OrderedDict()
        self.hits = self.misses = 0

    def take(self, key: str) -> Any | None:
        trainer = self._trainers.pop(key, None)
        if trainer is None:
            self.misses += 1
        else:
            self.hits += 1
        return trainer

    def give(self, key: str, trainer: Any) -> None:
        self._trainers[key] = trainer
        self._trainers.move_to_end(key)
        while len(self._trainers) > self.size:
            self._trainers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._trainers)
