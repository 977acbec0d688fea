"""The custom training loop: the seed's GradientTape loop, compiled and fused.

Read top to bottom: the config, the pieces a job trains with, the compiled
step and evaluation, then :func:`fit`, whose loop goes through its phases in
order — take batches → forward and loss → gradients → apply → update metrics →
report → validate → checkpoint → stop conditions.

Speed comes from running ``steps_per_execution`` optimizer steps inside one
``tf.function`` call (one Python round trip and one host sync per call, not per
step) and from tracing each function exactly once per job.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

from tfcore.data import make_tf_dataset
from tfcore.errors import TrainingDiverged
from tfcore.losses import HuberLoss
from tfcore.report import NullReporter, Point, Reporter
from tfcore.spec import EarlyStopping, ExponentialDecay, JobSpec, PiecewiseConstant

__all__ = [
    "LoopConfig",
    "StopReason",
    "TrainResult",
    "Trainer",
    "build_loss",
    "build_optimizer",
    "fit",
    "lr_schedule",
]

StopReason = Literal["completed", "cancelled", "early_stopping"]

#: Steps fused into one compiled call when the spec does not say. Large enough that
#: Python and host-sync overhead vanish, small enough that cancel and step reports
#: stay prompt (a chunk of 100 small steps takes a few milliseconds here).
DEFAULT_STEPS_PER_EXECUTION = 100
EVAL_BATCH_SIZE = 4096  # validation needs no gradients: big batches, same streaming result


@dataclass(frozen=True)
class LoopConfig:
    """How :func:`fit` runs; everything that is not about the model itself."""

    epochs: int
    batch_size: int = 32
    steps_per_execution: int = DEFAULT_STEPS_PER_EXECUTION
    seed: int = 0
    early_stopping: EarlyStopping | None = None
    report_every_steps: int = 100
    report_every_seconds: float = 1.0
    checkpoint_dir: Path | None = None
    #: Where a resume reads the latest checkpoint (default: ``checkpoint_dir``). A gang's
    #: ranks other than the chief save to a folder of their own (saving takes every rank)
    #: but resume from the chief's.
    restore_dir: Path | None = None
    resume: bool = False
    #: On resume, epoch points up to this epoch reached the reporter in an earlier run;
    #: restored epochs after it are reported again (a crash can fall between a
    #: checkpoint and its point being stored), so every epoch is reported exactly once.
    already_reported_epoch: int = 0
    jit_compile: bool = False

    @classmethod
    def from_spec(cls, spec: JobSpec, **overrides: Any) -> LoopConfig:
        values: dict[str, Any] = {
            "epochs": spec.epochs,
            "batch_size": spec.batch_size,
            "steps_per_execution": spec.steps_per_execution or DEFAULT_STEPS_PER_EXECUTION,
            "seed": spec.seed,
            "early_stopping": spec.early_stopping,
        }
        return cls(**{**values, **overrides})


@dataclass
class TrainResult:
    """What :func:`fit` did: one history row per epoch and why it stopped."""

    history: list[dict[str, float]]
    stop_reason: StopReason
    steps: int
    trace_counts: dict[str, int] = field(default_factory=dict)

    @property
    def final_metrics(self) -> dict[str, float]:
        last = dict(self.history[-1]) if self.history else {}
        return {k: v for k, v in last.items() if k not in ("epoch", "step")}


# --- the pieces a spec names -------------------------------------------------------


def build_loss(spec: JobSpec) -> keras.losses.Loss:
    """The spec's loss as a Keras ``Loss`` object (mean over the batch)."""
    if spec.loss == "huber":
        return HuberLoss(spec.threshold)
    if spec.loss == "mse":
        return keras.losses.MeanSquaredError()
    if spec.loss == "mae":
        return keras.losses.MeanAbsoluteError()
    if spec.loss == "sparse_categorical_crossentropy":
        return keras.losses.SparseCategoricalCrossentropy()
    if spec.loss == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy()
    return keras.losses.BinaryCrossentropy()


def lr_schedule(spec: JobSpec) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A constant rate, or the spec's decay schedule (stepped per optimizer step)."""
    schedule = spec.lr_schedule
    if isinstance(schedule, ExponentialDecay):
        return keras.optimizers.schedules.ExponentialDecay(
            spec.learning_rate, decay_steps=schedule.decay_steps, decay_rate=schedule.decay_rate
        )
    if isinstance(schedule, PiecewiseConstant):
        return keras.optimizers.schedules.PiecewiseConstantDecay(schedule.boundaries, schedule.values)
    return spec.learning_rate


def build_optimizer(spec: JobSpec) -> keras.optimizers.Optimizer:
    """The spec's optimizer; under mixed precision, wrapped for dynamic loss scaling."""
    classes = {
        "adam": keras.optimizers.Adam,
        "nadam": keras.optimizers.Nadam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    optimizer = classes[spec.optimizer](learning_rate=lr_schedule(spec))
    if spec.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


# --- compiled step and evaluation ---------------------------------------------------


class Trainer:
    """Owns a model, its optimizer, loss and streaming metrics, and their compiled functions.

    ``train_chunk(iterator, n)`` runs up to ``n`` optimizer steps in one call and
    stops early at a non-finite loss, returning how many steps it ran and the last
    loss. ``trace_counts`` counts Python traces, to prove each happens once.
    """

    def __init__(
        self,
        model: keras.Model,
        *,
        loss: keras.losses.Loss,
        optimizer: keras.optimizers.Optimizer,
        metrics: list[keras.metrics.Metric],
        jit_compile: bool = False,
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        # Under a MirroredStrategy, construct the Trainer (and the model) inside its scope.
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.model = model
        self.loss_fn = loss
        self.optimizer = optimizer
        self.metrics = metrics
        self.mean_loss = keras.metrics.Mean(name="loss")
        self.val_loss = keras.metrics.Mean(name="val_loss")
        self.val_metrics = [m.__class__.from_config(m.get_config()) for m in metrics]
        self.trace_counts = {"train_chunk": 0, "evaluate": 0}
        self.key = ""  # its architecture, when a TrainerCache may reuse it (tfcore/warm.py)
        self.optimizer.build(model.trainable_variables)
        self.train_chunk = tf.function(self._train_chunk)
        self.evaluate_dataset = tf.function(self._evaluate_dataset)
        self._step = tf.function(self._train_step, jit_compile=True) if jit_compile else self._train_step

    @property
    def internal_metrics(self) -> list[keras.metrics.Metric]:
        return list(getattr(self.model, "internal_metrics", []))

    def _forward_loss(
        self, x: tf.Tensor, y: tf.Tensor, training: bool, replicas: int = 1
    ) -> tuple[tf.Tensor, Any]:
        y_pred = self.model(x, training=training)
        loss = self.loss_fn(y, y_pred)
        extra = self.model.losses  # regularizers and add_loss terms, e.g. reconstruction
        if extra:
            # Inside a replica Keras' Loss already returns its share (mean / replicas);
            # the extra terms must be shared the same way before the replicas are summed.
            loss = loss + tf.add_n([tf.cast(t, loss.dtype) for t in extra]) / replicas
        return loss, y_pred

    def _apply_step(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Forward, loss, gradients, apply; returns the loss and the predictions."""
        with tf.GradientTape() as tape:
            loss, y_pred = self._forward_loss(x, y, training=True, replicas=self.replicas)
            # scale_loss is the identity unless the optimizer is loss-scaled (float16).
            # Under a MirroredStrategy each replica's loss is its share of the batch mean
            # and the optimizer sums the replicas' gradients: the full batch's gradient.
            scaled = self.optimizer.scale_loss(loss)
        # gradients → apply (constraints such as PositiveWeights run inside apply)
        gradients = tape.gradient(scaled, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables, strict=True))
        return loss, y_pred

    def _update_metrics(self, loss: tf.Tensor, y: tf.Tensor, y_pred: tf.Tensor) -> None:
        self.mean_loss.update_state(loss)
        for metric in self.metrics:
            metric.update_state(y, y_pred)

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        loss, y_pred = self._apply_step(x, y)
        self._update_metrics(loss, y, y_pred)
        return loss

    def _distributed_step(self, x: Any, y: Any) -> tf.Tensor:
        # Each replica steps on its slice of the batch; the streaming metrics are then
        # updated once, outside the replicas, with the whole batch gathered back.
        per_replica_loss, per_replica_pred = self.strategy.run(self._apply_step, args=(x, y))
        loss = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_loss, axis=None)  # shares
        self._update_metrics(
            loss, self.strategy.gather(y, axis=0), self.strategy.gather(per_replica_pred, axis=0)
        )
        return loss

    def _train_chunk(self, iterator: Any, n_steps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        self.trace_counts["train_chunk"] += 1
        steps = tf.constant(0)
        loss = tf.constant(0.0)
        step = self._distributed_step if self.replicas > 1 else self._step
        for _ in tf.range(n_steps):
            x, y = next(iterator)
            loss = tf.cast(step(x, y), tf.float32)
            steps += 1
            if not tf.math.is_finite(loss):
                break
        return steps, loss

    def _evaluate_dataset(self, dataset: tf.data.Dataset) -> None:
        self.trace_counts["evaluate"] += 1
        for x, y in dataset:
            loss, y_pred = self._forward_loss(x, y, training=False)
            self.val_loss.update_state(loss, sample_weight=tf.shape(x)[0])
            for metric in self.val_metrics:
                metric.update_state(y, y_pred)

    def train_values(self) -> dict[str, float]:
        metrics = [self.mean_loss, *self.metrics, *self.internal_metrics]
        return {m.name: float(m.result()) for m in metrics}

    def val_values(self) -> dict[str, float]:
        return {
            f"val_{m.name}" if m is not self.val_loss else "val_loss": float(m.result())
            for m in [self.val_loss, *self.val_metrics]
        }

    def reset_metrics(self) -> None:
        for metric in [
            self.mean_loss,
            self.val_loss,
            *self.metrics,
            *self.val_metrics,
            *self.internal_metrics,
        ]:
            metric.reset_state()

    def learning_rate(self) -> float:
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))


# --- checkpoints -------------------------------------------------------------------


class _LoopState:
    """What a checkpoint holds besides model and optimizer: where the loop was.

    The history lives in the checkpoint too (as a JSON string variable), so a
    resumed run carries exactly the epochs that were saved — never a repeated one.
    Files are written by ``tf.train.CheckpointManager``: data first, then the index
    file is replaced atomically, so a crash mid-write leaves the last good one.
    """

    def __init__(self, trainer: Trainer, directory: Path | None, restore_from: Path | None = None) -> None:
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_val_loss = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
        self.epochs_without_improvement = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.history_json = tf.Variable("[]", dtype=tf.string, trainable=False)
        self.manager: tf.train.CheckpointManager | None = None
        if directory is not None:
            checkpoint = tf.train.Checkpoint(
                model=trainer.model,
                optimizer=trainer.optimizer,
                epoch=self.epoch,
                best_val_loss=self.best_val_loss,
                epochs_without_improvement=self.epochs_without_improvement,
                history=self.history_json,
            )
            self.manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=2)
        self.restore_from = restore_from or directory

    def restore_latest(self) -> bool:
        if self.manager is None or self.restore_from is None:
            return False
        latest = tf.train.latest_checkpoint(str(self.restore_from))
        if latest is None:
            return False
        self.manager.checkpoint.restore(latest).assert_existing_objects_matched()
        return True

    def save(self, epoch: int, history: list[dict[str, float]]) -> None:
        if self.manager is None:
            return
        self.epoch.assign(epoch)
        self.history_json.assign(json.dumps(history))
        self.manager.save(checkpoint_number=epoch)

    @property
    def history(self) -> list[dict[str, float]]:
        return json.loads(self.history_json.numpy().decode())


# --- the loop ------------------------------------------------------------------------


def _never_stop() -> bool:
    return False


def fit(
    trainer: Trainer,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    config: LoopConfig,
    *,
    reporter: Reporter | None = None,
    should_stop: Callable[[], bool] = _never_stop,
) -> TrainResult:
    """Train for ``config.epochs`` epochs (or the rest of them, when resuming).

    Args:
        trainer: the model and its compiled functions.
        train, validation: ``(x, y)`` arrays.
        config: see :class:`LoopConfig`.
        reporter: receives step points (throttled) and epoch points. Defaults to none.
        should_stop: polled between compiled calls; when it returns True the loop
            ends cleanly with ``stop_reason="cancelled"``.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (names epoch and step).
    """
    reporter = reporter or NullReporter()
    x_train, y_train = train
    # Several replicas split every batch: keep batches whole (drop a ragged last one) so
    # no replica ever gets an empty slice.
    distributed = trainer.replicas > 1
    gang = isinstance(trainer.strategy, tf.distribute.MultiWorkerMirroredStrategy)
    steps_per_epoch = (
        len(x_train) // config.batch_size if distributed else math.ceil(len(x_train) / config.batch_size)
    )
    val_data = make_tf_dataset(*validation, batch_size=EVAL_BATCH_SIZE, shuffle=False)

    state = _LoopState(trainer, config.checkpoint_dir, config.restore_dir)
    history: list[dict[str, float]] = []
    if config.resume and state.restore_latest():
        history = state.history
        reporter.log(f"resumed from the checkpoint after epoch {int(state.epoch.numpy())}")
        for row in history:
            if row["epoch"] > config.already_reported_epoch:
                values = {k: v for k, v in row.items() if k not in ("epoch", "step")}
                reporter.report(Point("epoch", int(row["epoch"]), int(row["step"]), values))
    first_epoch = int(state.epoch.numpy()) + 1
    step = int(trainer.optimizer.iterations.numpy())
    stop_reason: StopReason = "completed"
    first_report = True  # a user watching a new job sees a point after the first call
    last_report_step, last_report_time = step, time.perf_counter()

    for epoch in range(first_epoch, config.epochs + 1):
        trainer.reset_metrics()
        epoch_start = time.perf_counter()
        reported_this_epoch = False
        # take batches: the same seed-per-epoch order whether or not the run was resumed
        batches = make_tf_dataset(
            x_train,
            y_train,
            batch_size=config.batch_size,
            seed=config.seed + epoch,
            drop_remainder=distributed,
        )
        if distributed:
            batches = trainer.strategy.experimental_distribute_dataset(batches)
        iterator = iter(batches)
        remaining = steps_per_epoch
        while remaining > 0:
            # forward, loss, gradients, apply, metrics: n steps in one compiled call
            n = min(config.steps_per_execution, remaining)
            ran, loss = trainer.train_chunk(iterator, tf.constant(n))
            ran, loss = int(ran), float(loss)  # the one host sync of this chunk
            step += ran
            remaining -= ran
            if not math.isfinite(loss):
                raise TrainingDiverged(epoch=epoch, step=step, loss=loss)
            # Every compiled call may report a step point (throttled), the epoch's last one
            # included: an epoch of one call (the default on small data) still draws a
            # step curve, one point per epoch at least. Steps count across epochs.
            now = time.perf_counter()
            # A step point reads the metrics, which is a collective across a gang's ranks:
            # every rank must read at the same steps, so a gang throttles by steps alone
            # (each rank's clock would pick different ones and the collectives mismatch).
            due = (
                step - last_report_step >= config.report_every_steps
                or (not gang and now - last_report_time >= config.report_every_seconds)
                or (remaining == 0 and not reported_this_epoch)
            )
            if first_report or due:
                reporter.report(Point("step", epoch, step, trainer.train_values()))
                last_report_step, last_report_time, first_report = step, now, False
                reported_this_epoch = True
            if should_stop():
                stop_reason = "cancelled"
                break
        if stop_reason == "cancelled":
            reporter.log(f"stopped during epoch {epoch} at step {step}")  # the caller says why
            break

        # validate, then one epoch point with everything
        train_seconds = time.perf_counter() - epoch_start
        trainer.evaluate_dataset(val_data)
        values = {
            **trainer.train_values(),
            **trainer.val_values(),
            "lr": trainer.learning_rate(),
            "epoch_seconds": time.perf_counter() - epoch_start,
            "samples_per_second": len(x_train) / max(train_seconds, 1e-9),
        }
        history.append({"epoch": float(epoch), "step": float(step), **values})

        # early-stopping bookkeeping, checkpoint, then report: a point is only ever
        # published for an epoch a resume will not train again
        improved = values["val_loss"] < float(state.best_val_loss.numpy()) - (
            config.early_stopping.min_delta if config.early_stopping else 0.0
        )
        if improved:
            state.best_val_loss.assign(values["val_loss"])
            state.epochs_without_improvement.assign(0)
        else:
            state.epochs_without_improvement.assign_add(1)
        state.save(epoch, history)
        reporter.report(Point("epoch", epoch, step, values))
        if config.early_stopping and (
            int(state.epochs_without_improvement.numpy()) >= config.early_stopping.patience
        ):
            stop_reason = "early_stopping"
            reporter.log(
                f"early stopping after epoch {epoch}: val_loss has not improved for "
                f"{config.early_stopping.patience} epochs"
            )
            break
        if should_stop():
            stop_reason = "cancelled"
            reporter.log(f"cancelled after epoch {epoch}")
            break

    return TrainResult(history, stop_reason, step, dict(trainer.trace_counts))
