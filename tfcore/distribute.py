"""Which ``tf.distribute`` strategy a job trains under, chosen from the devices it sees.

One GPU or none: the default strategy (no wrapping, no cost). Several GPUs: a
``MirroredStrategy`` — every replica takes a slice of each batch and gradients are
summed across replicas before the update. Tests exercise that path on the CPU by
splitting it into logical devices (``split_cpu``).

Several worker processes, each on its own node, train one job together under a
``MultiWorkerMirroredStrategy``: TensorFlow's collective all-reduce over gRPC (no
home-made exchange). Each process is one rank of the gang; rank 0 is the chief. The
cluster is fixed when the strategy is made and a process can make one only once, so a
rank runs in a fresh process (``multi_worker_strategy`` first, before any other use of
TensorFlow's runtime).
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf

__all__ = ["choose_strategy", "is_chief", "multi_worker_strategy", "split_cpu", "tf_config"]


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


def tf_config(addresses: list[str], rank: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of rank ``rank`` in a gang whose ranks listen on ``addresses``
    (``host:port``, in rank order): the same cluster for all, each its own task index."""
    if not 0 <= rank < len(addresses):
        raise ValueError(f"rank {rank} is not in a gang of {len(addresses)}")
    return {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": rank}}


def multi_worker_strategy(config: dict[str, Any]) -> tf.distribute.Strategy:
    """This process's rank of a gang (``config`` from :func:`tf_config`). Blocks until
    every rank has started its server and they have agreed on the cluster. Collectives
    go over gRPC in a ring: the implementation that works on CPUs as on GPUs (NCCL is
    faster between GPUs; TensorFlow picks it under ``AUTO`` where it applies)."""
    os.environ["TF_CONFIG"] = json.dumps(config)
    gpus = tf.config.list_physical_devices("GPU")
    implementation = (
        tf.distribute.experimental.CommunicationImplementation.AUTO
        if gpus
        else tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(implementation=implementation)
    )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Rank 0 of a gang, or the only process of any other strategy: the one that reports,
    checkpoints where the next attempt resumes from, and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in (None, "chief") or (resolver.task_type == "worker" and resolver.task_id == 0)
