"""The worker's Celery app and task. TensorFlow loads once per worker process, at start.

Run with ``tfjobs worker [--concurrency N]``: one job per slot (prefetch 1,
acks late); with one slot the job runs in the worker's own process (solo pool).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from celery.signals import worker_process_init, worker_shutting_down

from app.core.broker import TaskName, make_celery
from app.core.config import get_settings
from tfjobs import Device

__all__ = ["QUEUE_VARIABLE", "celery_app", "train", "worker_queue"]

log = logging.getLogger(__name__)

celery_app = make_celery(get_settings())
QUEUE_VARIABLE = "TFJOBS_WORKER_QUEUE"  # set by `python -m worker`, inherited by its processes


def worker_queue() -> str:
    """This worker node's own queue: the scheduler sends it only jobs it has a slot for."""
    queue = os.environ.get(QUEUE_VARIABLE)
    if not queue:
        raise RuntimeError(f"{QUEUE_VARIABLE} is not set: start workers with `tfjobs worker`")
    return queue


_context = None
_presence = None


def warm_up() -> None:
    """Imports TensorFlow and tfcore, pins GPUs, and traces a tiny job once, so the first
    real job does not pay for imports and one-off kernel set-up."""
    global _context
    if _context is not None:
        return
    import tempfile

    import tensorflow as tf

    import tfcore.components  # noqa: F401 - registers the Keras objects
    from tfcore.data import BUILTIN_DATASETS, load_builtin, synthetic_regression
    from tfcore.runner import run_job
    from tfcore.spec import JobSpec
    from worker.context import WorkerContext

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:  # share a GPU politely: allocate as needed, not all at once
        tf.config.experimental.set_memory_growth(gpu, True)
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "") if gpus else ""
    # several GPUs: the job trains under a MirroredStrategy over all of them
    device = f"{len(gpus)}×GPU {name}" if len(gpus) > 1 else f"GPU:0 {name}" if gpus else "CPU"
    with tempfile.TemporaryDirectory() as tmp:
        run_job(
            JobSpec(model_type="mlp", loss="mse", epochs=1, batch_size=64),
            synthetic_regression(rows=256, features=4),
            workdir=Path(tmp),
        )
    for name in BUILTIN_DATASETS:  # imports scikit-learn and caches the built-ins now
        load_builtin(name)

    def dispatch() -> None:
        from app.scheduler import dispatch as scheduler_pass

        assert _context is not None
        scheduler_pass(_context.store, celery_app, _context.settings)

    def advance_sweep(sweep_id: str) -> None:
        from app.sweeps.driver import advance

        assert _context is not None
        advance(_context.store, celery_app, _context.settings, sweep_id)

    _context = WorkerContext.create(
        get_settings(),
        device=device.strip(),
        queue=worker_queue(),
        kind=Device.GPU if gpus else Device.CPU,
        dispatch=dispatch,
        advance_sweep=advance_sweep,
    )
    global _presence
    from worker.presence import Presence

    _presence = Presence(_context).start()  # the API can now tell users a worker is there
    try:
        dispatch()  # a free slot now: queued jobs need not wait for the dispatcher's pass
    except Exception as err:
        log.warning("first scheduler pass failed (%s); the dispatcher will do it", err)
    log.info("worker %s ready on %s", os.getpid(), _context.device)


@worker_process_init.connect
def _warm_up_pool_process(**_kwargs: object) -> None:
    warm_up()


@worker_shutting_down.connect
def _hand_back_running_jobs(**_kwargs: object) -> None:
    # SIGTERM (a redeploy, `tfjobs up` stopping): the running job stops between compiled
    # calls, keeps its last epoch checkpoint and goes back to the queue for any worker,
    # instead of holding the shutdown for as long as it has left to train.
    from worker.context import shutdown_requested

    shutdown_requested.set()
    if _presence is not None:
        _presence.stop()  # no new job should count on this worker


@celery_app.task(name=TaskName.TRAIN)
def train(job_id: str, rank: int = 0) -> str:
    """``rank``: this worker's rank of a gang job (its chief, rank 0, claims the job)."""
    from worker.training import train_job

    warm_up()
    assert _context is not None
    return train_job(_context, job_id, rank)
