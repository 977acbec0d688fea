"""Which ``tf.distribute`` strategy a job trains under, chosen from the devices it sees.

One GPU or none: the default strategy (no wrapping, no cost). Several GPUs: a
``MirroredStrategy`` — every replica takes a slice of each batch and gradients are
summed across replicas before the update. Tests exercise that path on the CPU by
splitting it into logical devices (``split_cpu``).
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["choose_strategy", "split_cpu"]


def choose_strategy(devices: list[str] | None = None) -> tf.distribute.Strategy:
    """A MirroredStrategy over ``devices`` (or over all GPUs when there are several);
    otherwise the default strategy."""
    if devices is not None and len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([g.name for g in gpus])
    return tf.distribute.get_strategy()


def split_cpu(n: int) -> list[str]:
    """Splits the CPU into ``n`` logical devices (before TensorFlow initializes them)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    return [d.name for d in tf.config.list_logical_devices("CPU")]
