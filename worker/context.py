"""What a worker process holds for every job it runs, and its stop flag."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.config import Settings
from app.core.datadir import prepare_data_dir
from app.store.db import Store
from tfcore.warm import TrainerCache
from tfjobs import Device

__all__ = ["WorkerContext", "shutdown_requested"]


@dataclass
class WorkerContext:
    """What a worker process sets up once: settings, store, and where it runs."""

    settings: Settings
    store: Store
    hostname: str
    device: str
    queue: str | None = None  # this worker's own queue: where the scheduler sends its jobs
    kind: Device = Device.CPU  # what it runs jobs on
    dispatch: Callable[[], None] | None = None  # a scheduler pass (a slot is free now)
    advance_sweep: Callable[[str], None] | None = None  # moves a sweep on once a trial ends
    current_job: str | None = None  # the job this worker is training (its heartbeat says so)
    # Built trainers of recent architectures: a sweep's next trial or a resubmit skips
    # building and tracing its compiled functions again (tfcore/warm.py).
    trainers: TrainerCache = field(default_factory=TrainerCache)

    @classmethod
    def create(cls, settings: Settings, *, device: str, **hooks: Any) -> WorkerContext:
        """``hooks``: queue, kind, dispatch, advance_sweep (see the fields)."""
        prepare_data_dir(settings)  # private, and no debris of a killed process
        return cls(settings, Store(settings.sqlalchemy_url), socket.gethostname(), device, **hooks)


#: Set when the worker is asked to stop (SIGTERM): the running job checkpoints and is
#: handed back to the queue instead of finishing here.
shutdown_requested = threading.Event()
