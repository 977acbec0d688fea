"""One attempt at a claimed job, as small steps: set up its reporter and heartbeat,
train with tfcore, say how the run ended, export and publish a success, and record the
ending, fenced by the attempt number (a replaced attempt writes nothing).

Every way out either ends the job in a final status with a reason, or — when the worker
is stopping or the store stays out of reach — hands it back to the queue.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.store import artifacts as store_artifacts
from app.store import datasets as store_datasets
from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store.errors import LeaseLost
from app.store.tables import utcnow
from tfcore.data import BUILTIN_DATASETS, Dataset, load_builtin, load_file
from tfcore.errors import DataError, TfcoreError
from tfcore.export import pack_folder
from tfcore.report import Reporter
from tfcore.runner import JobResult, export_job, run_job
from tfcore.spec import JobSpec
from tfjobs import AttemptOutcome, JobStatus
from worker.context import WorkerContext, shutdown_requested
from worker.files import CheckpointUploads, JobFiles, dataset_file
from worker.outage import StoreUnavailable, patiently
from worker.pruning import PruningReporter, TrialPruning
from worker.reporter import StoreReporter

__all__ = ["TENSORBOARD_TAR", "Attempt", "Claimed", "JobWatcher", "dataset_record", "load_dataset"]

log = logging.getLogger(__name__)

TENSORBOARD_TAR = "tensorboard.tar.gz"
Ending = JobStatus | AttemptOutcome  # LEASE_LOST: a newer attempt owns the job, write nothing


@dataclass(frozen=True)
class Claimed:
    """What the worker reads about a job in the transaction that claims it."""

    job_id: str
    spec: JobSpec
    attempt: int
    last_seq: int
    last_log_seq: int
    reported_epoch: int
    sweep: Any  # the job's sweep (detached), if it is a trial
    trial_number: int | None

    @classmethod
    def of(cls, session: Any, job: Any, *, spec: JobSpec | None = None, sweep: Any = None) -> Claimed:
        """The claimed job as its attempt reads it (a gang's other ranks read the chief's)."""
        return cls(
            job_id=job.id,
            spec=spec or JobSpec.model_validate(job.spec, context={"max_epochs": job.spec.get("epochs", 1)}),
            attempt=job.attempts,
            last_seq=job.last_seq,
            last_log_seq=job.last_log_seq,
            reported_epoch=store_points.last_epoch_point(session, job_id=job.id),
            sweep=sweep,
            trial_number=job.trial_number,
        )


class JobWatcher:
    """The attempt's heartbeat, in its own thread: renews the lease and watches for a
    cancel request, so the training loop only ever reads flags and never waits on I/O."""

    def __init__(self, ctx: WorkerContext, job_id: str, attempt: int) -> None:
        self._ctx, self._job_id, self._attempt = ctx, job_id, attempt
        self.cancelled = threading.Event()
        self.lease_lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{job_id[:8]}", daemon=True)
        self._thread.start()

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.lease_lost.is_set() or shutdown_requested.is_set()

    def _run(self) -> None:
        settings = self._ctx.settings
        renew_every = settings.lease_seconds / 3
        last_renewal = time.monotonic()
        while not self._done.wait(min(settings.cancel_poll_seconds, renew_every)):
            try:
                with self._ctx.store.session() as session:
                    if store_jobs.is_cancel_requested(session, job_id=self._job_id):
                        self.cancelled.set()
                    if time.monotonic() - last_renewal >= renew_every:
                        if not store_jobs.renew_lease(
                            session,
                            job_id=self._job_id,
                            attempt=self._attempt,
                            lease_seconds=settings.lease_seconds,
                        ):
                            log.warning(
                                "job %s: attempt %d lost its lease; stopping without writing",
                                self._job_id,
                                self._attempt,
                            )
                            self.lease_lost.set()
                            return
                        last_renewal = time.monotonic()
            except Exception as err:  # a missed beat is retried; the lease has slack for it
                log.warning("heartbeat for %s failed: %s", self._job_id, err)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def dataset_record(ctx: WorkerContext, spec: JobSpec) -> dict[str, object]:
    """The service's side of the training data for the manifest: its id, and for an
    upload the name and sha256 of the file as uploaded."""
    name = spec.dataset_name
    if name in BUILTIN_DATASETS:
        return {"id": name, "builtin": True}
    with ctx.store.session() as session:
        record = store_datasets.get_dataset(session, dataset_id=name)
    if record is None:
        return {"id": name}
    return {"id": record.id, "builtin": False, "name": record.name, "file_sha256": record.sha256}


def load_dataset(ctx: WorkerContext, spec: JobSpec) -> Dataset:
    name = spec.dataset_name
    if name in BUILTIN_DATASETS:
        return load_builtin(name, seed=spec.seed)
    with ctx.store.session() as session:
        record = store_datasets.get_dataset(session, dataset_id=name)
    if record is None:
        raise DataError(f"dataset {name!r} no longer exists")
    limits = ctx.settings.data_limits()
    return load_file(
        dataset_file(ctx.settings, record.path, record.sha256),
        target=record.target if record.format == "csv" else None,
        name=record.name,
        limits=limits,
    )


class Attempt:
    """Runs one claimed attempt: :meth:`run` trains, exports and records how it ended."""

    def __init__(self, ctx: WorkerContext, claimed: Claimed, pruning: TrialPruning | None = None) -> None:
        self.ctx, self.claimed, self.pruning = ctx, claimed, pruning
        self.job_id, self.spec, self.number = claimed.job_id, claimed.spec, claimed.attempt
        self.job_dir = ctx.settings.artifacts_root / self.job_id
        self.work = self.job_dir / "work"
        self.reporter = StoreReporter(
            ctx.store,
            self.job_id,
            attempt=self.number,
            last_seq=claimed.last_seq,
            last_log_seq=claimed.last_log_seq,
            tensorboard_dir=self.work / "tensorboard",
            patience=ctx.settings.lease_seconds,
        )
        self.log_open = True  # the reporter is closed early on the way to a success
        self.files = JobFiles(ctx.settings, self.job_id)
        self.watcher = JobWatcher(ctx, self.job_id, self.number)
        # How it ended: FAILED unless a step says otherwise.
        self.status: Ending = JobStatus.FAILED
        self.summary: dict[str, float] | None = None
        self.error: tuple[str, str] | None = None
        self.published: list[dict[str, Any]] = []
        self.hand_back_reason: str | None = None  # why, when not the usual two

    def run(self) -> str:
        """Trains and records the ending; returns the status recorded (or an outcome)."""
        result: JobResult | None = None
        try:
            result = self._train()
            self.status = self._stopped_as(result) or self._export(result)
        except TfcoreError as err:
            self.error = (err.type, str(err))
        except StoreUnavailable as err:  # an outage longer than the lease: resume elsewhere, later
            log.warning("job %s: %s; handing it back", self.job_id, err)
            self.status = AttemptOutcome.HANDED_BACK
        except Exception as err:  # anything else still ends the job, with a reason
            # The whole traceback goes to the worker's log, for operators; the user's error
            # and the job's log get the kind of failure only: an exception's text can carry
            # server paths, endpoints and bucket names (a 1.5 KB S3 debug dump was seen).
            log.exception("job %s failed", self.job_id)
            self.error = (
                "internal_error",
                f"the worker failed unexpectedly ({type(err).__name__}); "
                f"its log has the details (job {self.job_id}, {self.ctx.hostname})",
            )
        finally:
            if result is not None:
                result.release()  # exported or not needed: the next job of its architecture may take it
            self.watcher.stop()
            self._close_log()
        return self._record()

    def _should_stop(self) -> bool:
        pruned = self.pruning is not None and self.pruning.pruned.is_set()
        return self.watcher.should_stop() or pruned or self.reporter.store_lost.is_set()

    def _train(self) -> JobResult:
        ctx, spec, reporter = self.ctx, self.spec, self.reporter
        reporter.log(f"attempt {self.number} on {ctx.hostname} ({ctx.device})")
        dataset = load_dataset(ctx, spec)
        reporter.log(f"dataset {dataset.name!r}: {dataset.rows} rows × {dataset.features} features")
        checkpoints = self.files.checkpoints_for(self.number)
        out: Reporter = reporter
        if self.files.remote:
            out = CheckpointUploads(out, self.files, checkpoints)
        if self.pruning is not None:
            out = PruningReporter(out, self.pruning)
        return run_job(
            spec,
            dataset,
            workdir=self.work,
            reporter=out,
            should_stop=self._should_stop,
            resume=self.number > 1,
            checkpoint_dir=checkpoints,
            already_reported_epoch=self.claimed.reported_epoch,
            report_every_steps=ctx.settings.report_every_steps,
            report_every_seconds=ctx.settings.report_every_seconds,
            cache=ctx.trainers,
            max_params=ctx.settings.max_model_params,
        )

    def _stopped_as(self, result: JobResult) -> Ending | None:
        """How a run that stopped before its end ended; None if it trained to the end."""
        pruned = self.pruning is not None and self.pruning.pruned.is_set()
        if self.watcher.lease_lost.is_set():
            return AttemptOutcome.LEASE_LOST
        if result.stop_reason != "cancelled":
            return None
        if pruned and not self.watcher.should_stop():
            at = self.pruning.at_epoch if self.pruning else "?"
            self.reporter.log(f"pruned after epoch {at}: the sweep's pruner stopped it")
            return JobStatus.PRUNED
        if not self.watcher.cancelled.is_set():
            return AttemptOutcome.HANDED_BACK  # the worker is stopping: the next attempt resumes
        self.reporter.log("cancelled (a cancel was requested)")
        return JobStatus.CANCELLED

    def _export(self, result: JobResult) -> Ending:
        """Packs TensorBoard, exports (each format verified by reloading it), publishes every
        file, then lists them: a success."""
        export_dir = self._prepare_export()
        digests = export_job(
            result,
            export_dir,
            extra_files={TENSORBOARD_TAR: self.work / TENSORBOARD_TAR},
            dataset=dataset_record(self.ctx, self.spec),
        )
        return self._publish(export_dir, digests, result)

    def _prepare_export(self) -> Path:
        """Ends the log's training part, packs TensorBoard; the attempt's export folder."""
        job_id, work = self.job_id, self.work
        self.reporter.log("trained: exporting model.keras and a SavedModel, each verified by reloading it")
        self.reporter.close()  # all epoch scalars are on disk before the archive is packed
        self.log_open = False
        # Under the job's id: several jobs' archives unpack side by side into one logdir
        # (tensorboard/<id>/train, …/validation) instead of overwriting each other.
        pack_folder(work / "tensorboard", work / TENSORBOARD_TAR, arcname=f"tensorboard/{job_id}")
        export_dir = self.job_dir / f"artifacts-{self.number}"  # per attempt: never shared, never overwritten
        shutil.rmtree(export_dir, ignore_errors=True)
        return export_dir

    def _publish(self, export_dir: Path, digests: dict[str, str], result: Any) -> Ending:
        """Every exported file in storage, then listed, and the run's summary: a success.
        ``result``: what trained (its history, stop reason and final metrics)."""
        self.files.publish(export_dir, list(digests))  # every file in storage, then listed
        self.published = [
            {
                "name": name,
                "path": f"{self.job_id}/{export_dir.name}/{name}",
                "size": (export_dir / name).stat().st_size,
                "sha256": digest,
            }
            for name, digest in digests.items()
        ]
        self.summary = {
            **result.final_metrics,
            "epochs": float(len(result.history)),
            "stopped_early": float(result.stop_reason == "early_stopping"),
        }
        return JobStatus.SUCCEEDED

    def _close_log(self) -> None:
        """The job log's last lines for an attempt that did not succeed, then the reporter's
        final flush (which can still find the lease lost or the store gone)."""
        if not self.log_open:
            return
        reporter = self.reporter
        if self.error is not None:
            reporter.log(f"failed: {self.error[1]}", level="error")
        if self.status == AttemptOutcome.HANDED_BACK and not reporter.store_lost.is_set():
            why = self.hand_back_reason or (
                "worker stopping" if shutdown_requested.is_set() else "the store was out of reach"
            )
            reporter.log(f"handed back ({why}): the next attempt resumes from the last checkpoint")
        try:
            reporter.close()
        except LeaseLost:
            self.status = AttemptOutcome.LEASE_LOST
        except StoreUnavailable:
            self.status = AttemptOutcome.HANDED_BACK
        except Exception as err:
            self.error = self.error or ("internal_error", str(err))
            self.status = JobStatus.FAILED

    def _record(self) -> str:
        """Writes the attempt's ending, fenced: a stale attempt changes nothing. A success
        also ends the job's log with what was published, in the same transaction."""
        job_id, attempt, status = self.job_id, self.number, self.status
        if status == AttemptOutcome.LEASE_LOST:
            log.warning("job %s: attempt %d was replaced; its results are discarded", job_id, attempt)
            return status
        try:
            # Fenced by the attempt, so a retry after a lost answer finds LeaseLost, never a double write.
            patiently(
                f"recording job {job_id} {status}",
                self._write_ending,
                seconds=self.ctx.settings.lease_seconds,
            )
        except LeaseLost:
            log.warning("job %s: attempt %d was replaced before it finished", job_id, attempt)
            return AttemptOutcome.LEASE_LOST
        except StoreUnavailable as err:
            # Still unrecorded: the lease expires and the reconciler puts the job back in the queue.
            log.warning("job %s: attempt %d ended %s but %s", job_id, attempt, status, err)
            return AttemptOutcome.HANDED_BACK
        log.info("job %s %s", job_id, status)
        return status

    def _write_ending(self) -> None:
        job_id, attempt, status, error = self.job_id, self.number, self.status, self.error
        with self.ctx.store.session() as session:
            if status == AttemptOutcome.HANDED_BACK:
                if not store_jobs.release_job(session, job_id=job_id, attempt=attempt, outcome=status):
                    raise LeaseLost(job_id)
                return
            if status == JobStatus.SUCCEEDED:
                store_artifacts.add_artifacts(session, job_id=job_id, files=self.published)
                names = ", ".join(sorted(f["name"] for f in self.published))
                line = {"seq": self.reporter.last_log_seq + 1, "time": utcnow(), "level": "info"}
                message = f"succeeded: exported {len(self.published)} files ({names})"
                store_points.append_logs(
                    session, job_id=job_id, lines=[{**line, "message": message}], attempt=attempt
                )
            store_jobs.finish_job(
                session,
                job_id=job_id,
                status=status,
                summary=self.summary,
                attempt=attempt,
                error_type=error[0] if error else None,
                error_message=error[1] if error else None,
            )
