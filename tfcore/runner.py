"""One training job from spec to verified artifacts: what the worker calls.

``run_job`` loads nothing itself — the caller passes the dataset — so the worker
decides where data comes from, and tests can hand in small arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfcore.data import Dataset, split
from tfcore.distribute import choose_strategy
from tfcore.errors import DataError
from tfcore.export import export_model
from tfcore.metrics import build_metrics
from tfcore.models import build_keras_model, build_model, check_fit
from tfcore.report import Reporter
from tfcore.spec import JobSpec
from tfcore.train import LoopConfig, StopReason, Trainer, build_loss, build_optimizer, fit
from tfcore.warm import TrainerCache, architecture_key, copy_state

__all__ = ["JobResult", "N_EXAMPLES", "export_job", "prepare_trainer", "run_job"]

N_EXAMPLES = 5  # raw rows whose predictions the manifest records


@dataclass
class JobResult:
    """A finished run: its history, why it stopped and, if exported, the files."""

    history: list[dict[str, float]]
    stop_reason: StopReason
    steps: int
    files: dict[str, str]
    model: keras.Model
    example_inputs: np.ndarray
    spec: JobSpec
    dataset: dict[str, object] = field(default_factory=dict)  # Dataset.describe(), for the manifest
    trainer: Trainer | None = None
    cache: TrainerCache | None = None

    def release(self) -> None:
        """Hands the trainer back to its cache, for the next job of its architecture:
        call once the model is exported (or not needed). Safe to call twice."""
        if self.cache is not None and self.trainer is not None:
            self.cache.give(self.trainer.key, self.trainer)
        self.trainer = self.cache = None

    @property
    def final_metrics(self) -> dict[str, float]:
        last = dict(self.history[-1]) if self.history else {}
        return {k: v for k, v in last.items() if k not in ("epoch", "step")}


def _check_task(spec: JobSpec, dataset: Dataset) -> None:
    if spec.task != dataset.task:
        hint = {
            "binary": "use loss 'binary_crossentropy'",
            "multiclass": "use loss 'sparse_categorical_crossentropy' (or 'categorical_crossentropy' "
            "for one-hot labels) with model_type 'keras'",
        }.get(dataset.task, "use a regression loss (huber, mse, mae)")
        raise DataError(
            f"dataset {dataset.name!r} is a {dataset.task} dataset but loss "
            f"{spec.loss!r} is for {spec.task}; {hint}"
        )


def prepare_trainer(
    spec: JobSpec,
    train_x: np.ndarray,
    train_y: np.ndarray,
    *,
    jit_compile: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    cache: TrainerCache | None = None,
    classes: int | None = None,
    max_params: int | None = None,
) -> Trainer:
    """Seeds everything and builds the spec's model, fitted to the training data's scale:
    Normalization adapted on ``train_x``, the head scaled to ``train_y``. Everything is
    created under the distribution strategy (``choose_strategy()`` unless given).

    With a ``cache``, a trainer of the same architecture is reused when there is one: the
    fresh model's and a fresh optimizer's values are copied into it (tfcore/warm.py), so
    it starts exactly where the fresh one would, with its functions already traced. Give
    it back with ``cache.give(trainer.key, trainer)`` when the job is done with it."""
    keras.utils.set_random_seed(spec.seed)
    strategy = strategy or choose_strategy()
    with strategy.scope():
        if spec.model_type == "keras":  # the user's own architecture: its inputs as given
            model: keras.Model = build_keras_model(spec)
            check_fit(model, tuple(train_x.shape[1:]), spec.task, classes, max_params=max_params)
            # Inputs as given; a Normalization layer that states no mean and variance is
            # fitted to the training rows, as the built-in models' own is.
            for layer in model.layers:
                if isinstance(layer, keras.layers.Normalization) and layer.input_mean is None:
                    layer.adapt(train_x)
            scale = (0.0, 1.0)
        else:
            target_mean = float(np.mean(train_y, dtype=np.float64))
            target_std = float(np.std(train_y, dtype=np.float64)) or 1.0
            model = build_model(spec, train_x.shape[1], target_mean=target_mean, target_std=target_std)
            model.normalization.adapt(train_x)
            scale = (model.target_mean, model.target_std)
        optimizer = build_optimizer(spec)
        key = architecture_key(spec, list(train_x.shape[1:]), *scale, strategy.num_replicas_in_sync)
        warm = cache.take(key) if cache is not None and not jit_compile else None
        if warm is not None:
            optimizer.build(model.trainable_variables)
            if copy_state(model.variables, warm.model.variables) and copy_state(
                optimizer.variables, warm.optimizer.variables
            ):
                warm.reset_metrics()
                return warm
        trainer = Trainer(
            model,
            loss=build_loss(spec),
            optimizer=optimizer,
            metrics=build_metrics(
                spec.metric_names, threshold=spec.threshold, loss=spec.loss, top_k=spec.top_k
            ),
            jit_compile=jit_compile,
            strategy=strategy,
        )
        trainer.key = key
        return trainer


def run_job(
    spec: JobSpec,
    dataset: Dataset,
    *,
    workdir: Path,
    reporter: Reporter | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = False,
    export_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    cache: TrainerCache | None = None,
    max_params: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    **loop_overrides: Any,
) -> JobResult:
    """Train ``spec`` on ``dataset``; if it was not cancelled, export into ``export_dir``.

    Checkpoints go to ``checkpoint_dir`` (default ``workdir/checkpoints``); with
    ``resume=True`` training continues from the latest one there and runs only the
    remaining epochs. With no
    ``export_dir`` nothing is exported; call :func:`export_job` later.

    ``strategy``: one rank of a gang (``tfcore.distribute.multi_worker_strategy``); every
    rank calls this with the same spec and data, and each trains on its share of every
    global batch. Give a rank other than the chief a ``checkpoint_dir`` of its own and
    the chief's as ``restore_dir``.

    With a ``cache`` the trainer may be a reused one (see :func:`prepare_trainer`); the
    result holds it until :meth:`JobResult.release` (called here after an export into
    ``export_dir``).
    """
    _check_task(spec, dataset)
    train, validation = split(dataset, validation_split=spec.validation_split, seed=spec.seed)
    trainer = prepare_trainer(
        spec, train.x, train.y, cache=cache, classes=dataset.classes, max_params=max_params, strategy=strategy
    )
    config = LoopConfig.from_spec(
        spec, checkpoint_dir=checkpoint_dir or Path(workdir) / "checkpoints", resume=resume, **loop_overrides
    )
    kwargs: dict[str, Any] = {"reporter": reporter}
    if should_stop is not None:
        kwargs["should_stop"] = should_stop
    try:
        result = fit(trainer, (train.x, train.y), (validation.x, validation.y), config, **kwargs)
    except BaseException:
        if cache is not None:  # its variables are re-initialised when it is next taken
            cache.give(trainer.key, trainer)
        raise

    job = JobResult(
        result.history,
        result.stop_reason,
        result.steps,
        {},
        trainer.model,
        validation.x[:N_EXAMPLES],
        spec,
        dataset.describe(),
        trainer,
        cache,
    )
    if export_dir is not None:
        if result.stop_reason != "cancelled":
            export_job(job, Path(export_dir))
        job.release()
    return job


def export_job(
    job: JobResult,
    export_dir: Path,
    *,
    extra_files: dict[str, Path] | None = None,
    dataset: dict[str, object] | None = None,
) -> dict[str, str]:
    """Exports a finished run's model (verified; see ``tfcore.export``) and records the files.
    ``dataset``: more about the training data for the manifest (e.g. the service's id)."""
    job.files = export_model(
        job.model,
        Path(export_dir),
        spec=job.spec.model_dump(mode="json"),
        history=job.history,
        final_metrics=job.final_metrics,
        example_inputs=job.example_inputs,
        extra_files=extra_files,
        dataset={**job.dataset, **(dataset or {})},
    )
    return job.files
