"""A function run every few seconds in a daemon thread, until stopped: the API's
background loops (the reconciler, the dispatcher)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Periodic"]

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, interval: float, work: Callable[[], object]) -> None:
        self.name, self.interval, self.work = name, interval, work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.work()
            except Exception as err:  # a store or broker outage: the next pass retries
                log.warning("%s pass failed: %s", self.name, err)
