"""The worker's reporter: metric points and log lines go to the store from a background thread.

The training loop calls ``report``/``log``, which only number the item and put it
on a queue; a writer thread inserts them in batches (and writes TensorBoard
scalars for epoch points). ``close`` drains everything, so the job's final status
is written only after all its points and lines are stored.

A store outage does not lose what the loop reported: the writer retries the batch for
up to ``patience`` seconds (the job's lease) while new items wait in the queue behind it,
then writes them all in order. Past that it gives up (``store_lost``), and the attempt is
handed back to resume from its checkpoint (worker/outage.py).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store.db import Store
from app.store.errors import LeaseLost
from app.store.tables import utcnow
from tfcore.report import Point
from worker.outage import StoreUnavailable, patiently

__all__ = ["StoreReporter"]

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True)
class _Line:
    seq: int
    level: str
    message: str


class StoreReporter:
    """Implements ``tfcore.report.Reporter`` against the job store.

    Args:
        store: the job store.
        job_id: whose points these are.
        attempt: the attempt writing them; writes are fenced by it (None: unfenced).
        last_seq, last_log_seq: the job's highest stored seqs (a resumed job continues them).
        tensorboard_dir: where to write TensorBoard event files (``train``/``validation``), or None.
        batch_size: most items written in one transaction.
        patience: how long a batch is retried through a store outage before the
            reporter gives up (``store_lost``); the worker passes the job's lease.
    """

    def __init__(
        self,
        store: Store,
        job_id: str,
        *,
        attempt: int | None = None,
        last_seq: int = 0,
        last_log_seq: int = 0,
        tensorboard_dir: Path | None = None,
        batch_size: int = 1000,
        patience: float = 60.0,
    ) -> None:
        self.store, self.job_id, self.attempt = store, job_id, attempt
        self._seq, self._log_seq = last_seq, last_log_seq
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._batch_size = batch_size
        self._patience = patience
        #: Set when the store stayed out of reach for longer than ``patience``: the training
        #: loop stops and the attempt is handed back.
        self.store_lost = threading.Event()
        self._tensorboard_dir = tensorboard_dir
        self._tensorboard: _TensorBoardWriter | None = None  # opened by the writer thread
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"reporter-{job_id[:8]}", daemon=True)
        self._thread.start()

    # --- called from the training loop: never blocks -----------------------------

    def report(self, point: Point) -> None:
        self._seq += 1
        self._queue.put((self._seq, point, utcnow()))
        if point.kind == "epoch":
            shown = ", ".join(
                f"{k}={v:.4g}"
                for k, v in point.values.items()
                if k in ("loss", "val_loss") or k.endswith(("mae", "accuracy"))
            )
            self.log(f"epoch {point.epoch} (step {point.step}): {shown}")

    def log(self, message: str, level: str = "info") -> None:
        self._log_seq += 1
        self._queue.put((_Line(self._log_seq, level, message), utcnow()))

    @property
    def last_log_seq(self) -> int:
        """The seq of the last line handed to :meth:`log` (the next one is this + 1)."""
        return self._log_seq

    # --- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Writes everything still queued, then stops; re-raises a writer failure."""
        self._queue.put(_STOP)
        self._thread.join()
        if self._tensorboard:
            self._tensorboard.close()
        if isinstance(self._error, (LeaseLost, StoreUnavailable)):
            raise self._error
        if self._error is not None:
            raise RuntimeError(f"could not store metrics: {self._error}") from self._error

    # --- the writer thread -------------------------------------------------------

    def _run(self) -> None:
        # Block for the next item, then take whatever else is already queued and write it
        # all in one transaction: no added latency when points are rare, big batches
        # (and few commits) when they come fast or the store is slow.
        stopping = False
        while not stopping:
            items = [self._queue.get()]
            while len(items) < self._batch_size:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            points: list[dict[str, Any]] = []
            lines: list[dict[str, Any]] = []
            for item in items:
                if item is _STOP:
                    stopping = True
                else:
                    self._take(item, points, lines)
            if points or lines:
                self._write(points, lines)

    def _take(self, item: tuple[Any, ...], points: list[dict[str, Any]], lines: list[dict[str, Any]]) -> None:
        if isinstance(item[0], _Line):
            line, at = item
            lines.append({"seq": line.seq, "time": at, "level": line.level, "message": line.message})
            return
        seq, point, at = item
        values = {k: float(v) for k, v in point.values.items()}
        points.append(
            {
                "seq": seq,
                "kind": point.kind,
                "epoch": point.epoch,
                "step": point.step,
                "time": at,
                "values": values,  # the store writes a non-finite one as null
            }
        )
        if point.kind == "epoch" and self._tensorboard_dir is not None:
            if self._tensorboard is None:
                self._tensorboard = _TensorBoardWriter(self._tensorboard_dir)
            self._tensorboard.write(point.epoch, values)

    def _write(self, points: list[dict[str, Any]], lines: list[dict[str, Any]]) -> None:
        if self._error is not None:
            return  # fenced or given up: this attempt writes nothing more
        tries = 0

        def store_batch() -> None:
            nonlocal tries
            tries += 1
            with self.store.session() as session:
                # A retry after a commit whose answer was lost must not write the batch twice:
                # the job's stored seqs say whether it landed (they move in the same transaction).
                if tries > 1 and self._already_stored(session, points, lines):
                    return
                store_points.append_points(session, job_id=self.job_id, points=points, attempt=self.attempt)
                store_points.append_logs(session, job_id=self.job_id, lines=lines, attempt=self.attempt)

        try:
            patiently(f"storing {len(points)} points for {self.job_id}", store_batch, seconds=self._patience)
        except LeaseLost as err:  # a newer attempt owns the job now
            self._error = err
        except StoreUnavailable as err:
            self._error = err
            self.store_lost.set()

    def _already_stored(
        self, session: Any, points: list[dict[str, Any]], lines: list[dict[str, Any]]
    ) -> bool:
        job = store_jobs.get_job(session, job_id=self.job_id)
        if job is None:
            return False
        if points:
            return job.last_seq >= points[-1]["seq"]
        return job.last_log_seq >= lines[-1]["seq"]


class _TensorBoardWriter:
    """Train and validation scalars per epoch, in TensorBoard's usual two runs."""

    def __init__(self, directory: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._writers = {
            run: tf.summary.create_file_writer(str(directory / run)) for run in ("train", "validation")
        }

    def write(self, epoch: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            run, tag = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            with self._writers[run].as_default():
                self._tf.summary.scalar(tag, value, step=epoch)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.flush()
            writer.close()
