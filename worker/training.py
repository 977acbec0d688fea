"""One training job, end to end, as a worker runs it (the Celery task is a thin wrapper).

claim → load data → train with tfcore (reporter, cancel hook) → pack TensorBoard →
export (verified) → record artifacts → final status. Every way out ends the job in
a final status with a reason: a job never stays ``running`` after its worker is done.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tarfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from app.core.config import Settings
from app.store import crud
from app.store.db import Store
from tfcore.data import BUILTIN_DATASETS, DataLimits, Dataset, load_builtin, load_file
from tfcore.errors import DataError, TfcoreError
from tfcore.runner import JobResult, export_job, run_job
from tfcore.spec import JobSpec
from worker.reporter import StoreReporter

__all__ = ["WorkerContext", "train_job"]

log = logging.getLogger(__name__)

TENSORBOARD_TAR = "tensorboard.tar.gz"


@dataclass
class WorkerContext:
    """What a worker process sets up once: settings, store, and where it runs."""

    settings: Settings
    store: Store
    hostname: str
    device: str

    @classmethod
    def create(cls, settings: Settings, *, device: str) -> WorkerContext:
        return cls(settings, Store(settings.sqlalchemy_url), socket.gethostname(), device)


class CancelWatcher:
    """Polls the store for a cancel request in its own thread; the loop only reads a flag."""

    def __init__(self, ctx: WorkerContext, job_id: str) -> None:
        self._ctx, self._job_id = ctx, job_id
        self.cancelled = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cancel-{job_id[:8]}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self._ctx.settings.cancel_poll_seconds):
            try:
                with self._ctx.store.session() as session:
                    if crud.is_cancel_requested(session, job_id=self._job_id):
                        self.cancelled.set()
                        return
            except Exception as err:  # a missed poll only delays a cancel
                log.warning("cancel poll for %s failed: %s", self._job_id, err)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def load_dataset(ctx: WorkerContext, spec: JobSpec) -> Dataset:
    name = spec.dataset_name
    if name in BUILTIN_DATASETS:
        return load_builtin(name, seed=spec.seed)
    with ctx.store.session() as session:
        record = crud.get_dataset(session, dataset_id=name)
    if record is None:
        raise DataError(f"dataset {name!r} no longer exists")
    limits = DataLimits(max_rows=ctx.settings.max_rows, max_features=ctx.settings.max_features)
    return load_file(ctx.settings.datasets_root / record.path,
                     target=record.target if record.format == "csv" else None,
                     name=record.name, limits=limits)


def _pack_tensorboard(folder: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="tensorboard")


def train_job(ctx: WorkerContext, job_id: str) -> str:
    """Runs the job if it is still queued; returns its final status (or why it was skipped)."""
    with ctx.store.session() as session:
        job = crud.claim_job(session, job_id=job_id, hostname=ctx.hostname, device=ctx.device)
        if job is None:
            current = crud.get_job(session, job_id=job_id)
            state = current.status if current else "missing"
            log.info("job %s is %s, not queued: not training it", job_id, state)
            return f"skipped:{state}"
        spec = JobSpec.model_validate(job.spec, context={"max_epochs": job.spec.get("epochs", 1)})
        attempt, last_seq, last_log_seq = job.attempts, job.last_seq, job.last_log_seq

    job_dir = ctx.settings.artifacts_root / job_id
    tensorboard_dir = job_dir / "work" / "tensorboard"
    reporter = StoreReporter(ctx.store, job_id, last_seq=last_seq, last_log_seq=last_log_seq,
                             tensorboard_dir=tensorboard_dir)
    watcher = CancelWatcher(ctx, job_id)
    status, summary, error, files = "failed", None, None, []
    try:
        reporter.log(f"attempt {attempt} on {ctx.hostname} ({ctx.device})")
        dataset = load_dataset(ctx, spec)
        reporter.log(f"dataset {dataset.name!r}: {dataset.rows} rows × {dataset.features} features")
        result: JobResult = run_job(
            spec, dataset, workdir=job_dir / "work", reporter=reporter,
            should_stop=watcher.cancelled.is_set, resume=attempt > 1,
            report_every_steps=ctx.settings.report_every_steps,
            report_every_seconds=ctx.settings.report_every_seconds)
        if result.stop_reason == "cancelled":
            status = "cancelled"
        else:
            reporter.close()  # all epoch scalars are on disk before the archive is packed
            reporter = None
            _pack_tensorboard(tensorboard_dir, job_dir / "work" / TENSORBOARD_TAR)
            export_dir = job_dir / f"artifacts-{attempt}"
            shutil.rmtree(export_dir, ignore_errors=True)  # a crashed earlier try of this attempt
            digests = export_job(result, export_dir,
                                 extra_files={TENSORBOARD_TAR: job_dir / "work" / TENSORBOARD_TAR})
            files = [{"name": name, "path": f"{job_id}/{export_dir.name}/{name}",
                      "size": (export_dir / name).stat().st_size, "sha256": digest}
                     for name, digest in digests.items()]
            summary = {**result.final_metrics, "epochs": float(len(result.history)),
                       "stop_reason_early_stopping": float(result.stop_reason == "early_stopping")}
            status = "succeeded"
    except TfcoreError as err:
        error = (err.type, str(err))
    except Exception as err:  # anything else still ends the job, with a reason
        log.exception("job %s failed", job_id)
        error = ("internal_error", f"{type(err).__name__}: {err}")
        if reporter is not None:
            reporter.log(traceback.format_exc(limit=5), level="error")
    finally:
        watcher.stop()
        if error is not None and reporter is not None:
            reporter.log(f"failed: {error[1]}", level="error")
        if reporter is not None:
            try:
                reporter.close()
            except Exception as err:
                error = error or ("internal_error", str(err))
                status = "failed"

    with ctx.store.session() as session:
        if status == "succeeded":
            crud.add_artifacts(session, job_id=job_id, files=files)
        crud.finish_job(session, job_id=job_id, status=status, summary=summary,
                        error_type=error[0] if error else None, error_message=error[1] if error else None)
    log.info("job %s %s", job_id, status)
    return status
