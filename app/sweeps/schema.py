"""What ``POST /sweeps`` accepts, checked completely before anything is stored.

The search space is checked with the job spec's own rules: every ``choice`` value and
both ends of every range are put into the base spec and validated as a job would be, so
a learning rate of −1 is refused here, naming ``space.learning_rate`` and the rule,
rather than failing a trial later.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.core.config import Settings
from app.errors import InvalidInput, field_errors
from tfcore.spec import SEARCHABLE_FIELDS, JobSpec

__all__ = ["Dimension", "SweepRequest", "grid_size", "validate_sweep"]

Primitive = str | int | float | bool | None
METRIC_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
DEFAULT_TRIALS = 10  # random and TPE searches that name no max_trials


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Choice(_Strict):
    choice: list[Primitive] = Field(min_length=1, max_length=100)


class Uniform(_Strict):
    uniform: tuple[float, float]


class LogUniform(_Strict):
    log_uniform: tuple[float, float]


class IntUniform(_Strict):
    int_uniform: tuple[int, int]


Dimension = Choice | Uniform | LogUniform | IntUniform


class AshaPruner(_Strict):
    """Asynchronous successive halving: at epochs min_epochs·rf^k, only the best 1/rf of
    the trials that got there go on."""

    type: Literal["asha"]
    min_epochs: int = Field(default=1, ge=1, le=10_000)
    reduction_factor: int = Field(default=3, ge=2, le=10)


class MedianPruner(_Strict):
    """Stops a trial whose metric is worse than the median of earlier trials at the same epoch."""

    type: Literal["median"]
    warmup_epochs: int = Field(default=0, ge=0, le=10_000)


Pruner = Annotated[AshaPruner | MedianPruner, Field(discriminator="type")]


class SweepRequest(_Strict):
    """A hyperparameter search: a base job spec, the fields to vary, how to search, what to optimise."""

    spec: dict[str, Any]  # a JobSpec: validate_sweep checks it, and /openapi.json says so
    space: dict[str, Dimension] = Field(min_length=1, max_length=20)
    method: Literal["grid", "random", "tpe"] = "tpe"
    metric: str = Field(default="val_loss", pattern=METRIC_PATTERN)
    mode: Literal["min", "max"] = "min"
    max_trials: int | None = Field(default=None, ge=1)
    max_concurrent: int = Field(default=2, ge=1)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    pruner: Pruner | None = None

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> SweepRequest:
        for field, dimension in self.space.items():
            bounds = _bounds(dimension)
            if bounds is not None and not bounds[0] < bounds[1]:
                raise ValueError(f"space.{field}: the range's low end must be below its high end")
            if isinstance(dimension, LogUniform) and dimension.log_uniform[0] <= 0:
                raise ValueError(f"space.{field}: a log_uniform range must be above 0")
            if isinstance(dimension, Uniform | LogUniform) and not all(map(math.isfinite, bounds or ())):
                raise ValueError(f"space.{field}: the range's ends must be finite")
        return self


def _bounds(dimension: Dimension) -> tuple[float, float] | None:
    if isinstance(dimension, Uniform):
        return dimension.uniform
    if isinstance(dimension, LogUniform):
        return dimension.log_uniform
    if isinstance(dimension, IntUniform):
        return dimension.int_uniform
    return None


def _candidates(dimension: Dimension) -> list[tuple[str, int, Primitive]]:
    """Each value to check with the spec's rules, with where it sits in the request."""
    if isinstance(dimension, Choice):
        return [("choice", i, v) for i, v in enumerate(dimension.choice)]
    kind = next(iter(type(dimension).model_fields))
    low, high = _bounds(dimension) or (0, 0)
    return [(kind, 0, low), (kind, 1, high)]


def grid_size(space: dict[str, Any]) -> int:
    return math.prod(len(d["choice"]) for d in space.values())


def validate_sweep(body: Any, settings: Settings) -> tuple[SweepRequest, JobSpec]:
    """The request and its base spec, or :class:`InvalidInput` (422) listing every field
    and rule broken; ``max_trials`` comes back filled in."""
    if not isinstance(body, dict):
        raise InvalidInput([{"loc": ["body"], "msg": "the sweep must be a JSON object", "type": "dict_type"}])
    try:
        request = SweepRequest.model_validate(body)
    except ValidationError as err:
        raise InvalidInput(field_errors(err, known=SweepRequest.model_fields)) from None
    context = settings.spec_context()
    try:
        base = JobSpec.model_validate(request.spec, context=context)
    except ValidationError as err:
        raise InvalidInput(field_errors(err, "spec", known=JobSpec.model_fields)) from None

    problems: list[dict[str, Any]] = []
    metric_sources: list[tuple[str, JobSpec]] = [("the base spec", base)]
    for field, dimension in request.space.items():
        where = ["body", "space", field]
        if field not in SEARCHABLE_FIELDS:  # labels, placement, a dataset, an architecture
            why = "is not searchable" if field in JobSpec.model_fields else "is not a job spec field"
            problems.append({"loc": where, "msg": f"{field!r} {why}", "type": "value_error"})
            continue
        for kind, index, value in _candidates(dimension):
            try:
                trial = JobSpec.model_validate({**request.spec, field: value}, context=context)
            except ValidationError as err:
                # Named where the value sits: space.<field>.<kind>.<index>, and the rule.
                problems += [
                    {**e, "loc": [*where, kind, index, *e["loc"][3:]]}
                    for e in field_errors(err, "spec", known=JobSpec.model_fields)
                ]
                continue
            if kind == "choice":
                metric_sources.append((f"trials with {field}={value!r}", trial))
    for source, spec in metric_sources:
        if request.metric not in spec.epoch_metric_names:
            problems.append(
                {
                    "loc": ["body", "metric"],
                    "msg": f"{request.metric!r} is not an epoch metric of {source}; "
                    f"they report {spec.epoch_metric_names}",
                    "type": "value_error",
                }
            )
            break

    if request.method == "grid":
        ranges = [f for f, d in request.space.items() if not isinstance(d, Choice)]
        if ranges:
            problems.append(
                {
                    "loc": ["body", "space", ranges[0]],
                    "msg": "a grid sweep takes only `choice` dimensions",
                    "type": "value_error",
                }
            )
    if request.method == "grid" and not problems:
        size = grid_size(body["space"])  # a grid has no more points than this to try
        max_trials = min(request.max_trials or size, size)
    else:
        max_trials = request.max_trials or DEFAULT_TRIALS
    if max_trials > settings.max_sweep_trials:
        problems.append(
            {
                "loc": ["body", "max_trials"],
                "msg": f"{max_trials} trials is over the limit of {settings.max_sweep_trials} "
                "(TFJOBS_MAX_SWEEP_TRIALS); ask for fewer",
                "type": "less_than_equal",
            }
        )
    if request.max_concurrent > settings.max_sweep_concurrent:
        problems.append(
            {
                "loc": ["body", "max_concurrent"],
                "msg": f"must be at most {settings.max_sweep_concurrent} (TFJOBS_MAX_SWEEP_CONCURRENT)",
                "type": "less_than_equal",
            }
        )
    if problems:
        raise InvalidInput(problems)
    return request.model_copy(update={"max_trials": max_trials}), base
