"""The Celery app both sides share: the API sends with it, the worker consumes with it.

The API enqueues by task *name* (``TaskName.TRAIN``) so it never imports worker
code or TensorFlow. With no ``TFJOBS_BROKER_URL`` the broker is kombu's
filesystem transport: a folder under the data dir that every local process
shares, so ``tfjobs up`` needs no server. Redis is the same code with a URL.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from celery import Celery
from kombu import Connection

from app.core.config import Settings

__all__ = ["QUEUE", "TaskName", "broker_options", "make_celery", "ping_broker"]


class TaskName(StrEnum):
    TRAIN = "tfjobs.train"


QUEUE = "tfjobs"  # the default queue; jobs go to each worker's own (app/scheduler.py)


def broker_options(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The broker URL and transport options for these settings."""
    if settings.broker_url:
        # A job runs for a long time and is acked only when it ends (acks_late): the
        # visibility timeout must outlast any job or Redis would hand it out again.
        return settings.broker_url, {"visibility_timeout": 7 * 24 * 3600}
    folder = settings.broker_folder
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return "filesystem://", {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        # kombu's default is "control", relative to the current directory: every runtime
        # file belongs under the data dir instead.
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.1,  # the default second would dominate submit → start
    }


def make_celery(settings: Settings) -> Celery:
    url, transport_options = broker_options(settings)
    app = Celery("tfjobs", broker=url, set_as_current=False)
    app.conf.update(
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_ignore_result=True,  # the job store holds every outcome; no result backend
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,  # a lost worker must not lose the job
        # A pool process killed mid-job (OOM, SIGKILL): give the message back rather than
        # ack it. Its redelivery is then refused by the claim while the lease is live, and
        # the reconciler re-queues the job once the lease runs out.
        task_reject_on_worker_lost=True,
        # A broker blip must not abort hours of training: the store's lease, not the
        # broker connection, decides whether a running job is still ours.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_prefetch_multiplier=1,  # one job per slot: never hoard queued jobs
        # The filesystem transport has no broadcast: remote control needs one.
        worker_enable_remote_control=not settings.embedded_broker,
        worker_hijack_root_logger=False,
    )
    return app


def ping_broker(settings: Settings, *, timeout: float = 2.0) -> None:
    """Raises if the broker cannot be reached within ``timeout`` seconds."""
    url, transport_options = broker_options(settings)
    with Connection(url, transport_options=transport_options, connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)
