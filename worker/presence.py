"""A worker's heartbeat in the store: the API answers "is anyone going to run my job?"
from it (``GET /workers``, ``/readyz``, a queued job's notice, Prometheus)."""

from __future__ import annotations

import logging
import os
import threading

from app.store import workers as store_workers
from worker.context import WorkerContext

__all__ = ["Presence"]

log = logging.getLogger(__name__)


class Presence:
    """Beats every ``worker_heartbeat_seconds`` in a daemon thread (with the job it is
    training, if any) until ``stop``, which removes the worker's row."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.name = f"{ctx.hostname}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)

    def start(self) -> Presence:
        self.beat()  # at once: a job submitted right after start-up sees this worker
        self._thread.start()
        return self

    def beat(self) -> None:
        with self.ctx.store.session() as session:
            store_workers.beat(
                session,
                name=self.name,
                hostname=self.ctx.hostname,
                pid=os.getpid(),
                device=self.ctx.device,
                current_job=self.ctx.current_job,
                queue=self.ctx.queue,
                kind=self.ctx.kind,
            )

    def _run(self) -> None:
        while not self._stop.wait(self.ctx.settings.worker_heartbeat_seconds):
            try:
                self.beat()
            except Exception as err:  # the store blinked: the next beat retries
                log.warning("worker heartbeat failed: %s", err)

    def stop(self) -> None:
        self._stop.set()
        try:
            with self.ctx.store.session() as session:
                store_workers.forget_worker(session, name=self.name)
        except Exception as err:
            log.warning("could not remove this worker's heartbeat: %s", err)
