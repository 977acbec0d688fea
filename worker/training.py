"""One training job, end to end, as a worker runs it (the Celery task is a thin wrapper).

claim (with a lease) → load data → train with tfcore (reporter, heartbeat and cancel
watcher) → pack TensorBoard → export (verified) → record artifacts → final status.
Every way out either ends the job in a final status with a reason, or — when the worker
is stopping — hands it back to the queue; a job never stays ``running`` after its
worker is done, and a replaced (stale) attempt writes nothing.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.core.config import Settings
from app.core.datadir import prepare_data_dir
from app.store import artifacts as store_artifacts
from app.store import datasets as store_datasets
from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store import scheduling
from app.store import sweeps as store_sweeps
from app.store.db import Store
from app.store.errors import LeaseLost
from app.store.tables import utcnow
from tfcore.data import BUILTIN_DATASETS, Dataset, load_builtin, load_file
from tfcore.errors import DataError, TfcoreError
from tfcore.export import pack_folder
from tfcore.report import Reporter
from tfcore.runner import JobResult, export_job, run_job
from tfcore.spec import JobSpec
from tfcore.warm import TrainerCache
from tfjobs import FINAL_STATUSES, AttemptOutcome, Device, JobStatus
from worker.files import CheckpointUploads, JobFiles, dataset_file
from worker.outage import StoreUnavailable, patiently
from worker.pruning import PruningReporter, TrialPruning
from worker.reporter import StoreReporter

__all__ = ["WorkerContext", "train_job"]

log = logging.getLogger(__name__)

TENSORBOARD_TAR = "tensorboard.tar.gz"


Ending = JobStatus | AttemptOutcome  # LEASE_LOST: a newer attempt owns the job, write nothing


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


def _pass_on(ctx: WorkerContext, job_id: str | None = None) -> None:
    """A scheduler pass now (a slot is free, or a job is back in the queue); ``job_id``: a
    job sent here that this worker will not run, taken back first. Else the dispatcher's
    next pass does it."""
    try:
        if job_id is not None:
            with ctx.store.session() as session:
                scheduling.take_back(session, job_ids=[job_id], queue=ctx.queue)
        if ctx.dispatch is not None:
            ctx.dispatch()
    except Exception as err:
        log.warning("scheduler pass after job %s failed (%s); the dispatcher will do it", job_id, err)


@dataclass(frozen=True)
class _Claimed:
    """What the worker reads about a job in the transaction that claims it."""

    spec: JobSpec
    attempt: int
    last_seq: int
    last_log_seq: int
    reported_epoch: int
    sweep: Any  # the job's sweep (detached), if it is a trial
    trial_number: int | None


def _claim(ctx: WorkerContext, job_id: str) -> _Claimed | str:
    """Claims the job in one transaction; or why not: its status, or "needs_gpu"."""
    with ctx.store.session() as session:
        job = store_jobs.claim_job(
            session,
            job_id=job_id,
            hostname=ctx.hostname,
            device=ctx.device,
            lease_seconds=ctx.settings.lease_seconds,
            queue=ctx.queue,
            kind=ctx.kind,
        )
        if job is None:
            current = store_jobs.get_job(session, job_id=job_id)
            if (
                current is not None
                and current.status == JobStatus.QUEUED
                and current.device_request == Device.GPU
            ):
                return "needs_gpu"
            return str(current.status) if current else "missing"
        sweep = store_sweeps.get_sweep(session, sweep_id=job.sweep_id) if job.sweep_id else None
        if sweep is not None:
            session.expunge(sweep)
        try:
            # Checked at submit against the limits of then; here against this worker's, and
            # an architecture passes the allowlist walk once more before anything builds it.
            spec = JobSpec.model_validate(
                job.spec, context={**ctx.settings.spec_context(), "max_epochs": job.spec.get("epochs", 1)}
            )
        except ValidationError as err:  # not trainable here: fail it, saying why, and move on
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in err.errors())
            store_jobs.finish_job(
                session,
                job_id=job_id,
                status=JobStatus.FAILED,
                attempt=job.attempts,
                error_type="invalid_spec",
                error_message=f"this worker refuses the job's spec: {problems}",
            )
            return "invalid_spec"
        return _Claimed(
            spec=spec,
            attempt=job.attempts,
            last_seq=job.last_seq,
            last_log_seq=job.last_log_seq,
            reported_epoch=store_points.last_epoch_point(session, job_id=job_id),
            sweep=sweep,
            trial_number=job.trial_number,
        )


def train_job(ctx: WorkerContext, job_id: str) -> str:
    """Runs the job if it is still queued; returns its final status (or why it was skipped)."""
    if shutdown_requested.is_set():
        # A stopping worker starts nothing: claiming would cost the job an attempt only to
        # hand it back at once (often its own hand-back's message, delivered during shutdown).
        log.info("job %s: this worker is stopping; leaving the job to another worker", job_id)
        _pass_on(ctx, job_id)
        return "skipped:worker_stopping"
    try:
        claimed = patiently(
            f"claiming job {job_id}", lambda: _claim(ctx, job_id), seconds=ctx.settings.lease_seconds
        )
    except StoreUnavailable as err:  # still queued: the dispatcher sends it again later
        log.warning("job %s: not claimed: %s", job_id, err)
        return "skipped:store_unavailable"
    if isinstance(claimed, str):
        if claimed == "needs_gpu":  # sent here by mistake (a stale message): a GPU worker must run it
            log.warning("job %s asks for a GPU and this worker has none: passing it on", job_id)
            _pass_on(ctx, job_id)
        else:
            log.info("job %s is %s, not queued: not training it (duplicate delivery)", job_id, claimed)
        return f"skipped:{claimed}"
    spec, attempt, sweep, trial_number = claimed.spec, claimed.attempt, claimed.sweep, claimed.trial_number
    sweep_id = sweep.id if sweep is not None else None

    ctx.current_job = job_id
    try:
        pruning = (
            TrialPruning(ctx.settings.sqlalchemy_url, sweep, trial_number, spec.epochs)
            if sweep is not None and sweep.pruner and trial_number is not None
            else None
        )
        outcome = _train_claimed(
            ctx,
            job_id,
            spec,
            attempt,
            claimed.last_seq,
            claimed.last_log_seq,
            claimed.reported_epoch,
            pruning,
        )
    finally:
        ctx.current_job = None
    _pass_on(ctx)  # this slot is free (or the job is back in the queue): the next job now
    if sweep_id and ctx.advance_sweep is not None and outcome in FINAL_STATUSES:
        try:  # the next trials start now, not at the reconciler's next pass
            ctx.advance_sweep(sweep_id)
        except Exception as err:
            log.warning("sweep %s: could not advance after job %s: %s", sweep_id, job_id, err)
    if outcome in (JobStatus.SUCCEEDED, JobStatus.PRUNED) and not ctx.settings.keep_checkpoints:
        # Recorded as succeeded by this attempt, so no other attempt resumes from these:
        # the model is exported; the checkpoints only took disk (TFJOBS_KEEP_CHECKPOINTS=1 keeps them).
        JobFiles(ctx.settings, job_id).drop_checkpoints()
    return outcome


def _train_claimed(
    ctx: WorkerContext,
    job_id: str,
    spec: JobSpec,
    attempt: int,
    last_seq: int,
    last_log_seq: int,
    reported_epoch: int,
    pruning: TrialPruning | None = None,
) -> str:
    """Trains a job this attempt has claimed, and records how the attempt ended."""
    job_dir = ctx.settings.artifacts_root / job_id
    work = job_dir / "work"
    tensorboard_dir = work / "tensorboard"
    reporter = StoreReporter(
        ctx.store,
        job_id,
        attempt=attempt,
        last_seq=last_seq,
        last_log_seq=last_log_seq,
        tensorboard_dir=tensorboard_dir,
        patience=ctx.settings.lease_seconds,
    )
    open_reporter: StoreReporter | None = reporter  # None once closed on the way to success
    files_here = JobFiles(ctx.settings, job_id)
    reporter_out: Reporter = reporter
    watcher = JobWatcher(ctx, job_id, attempt)
    status: Ending = JobStatus.FAILED
    summary, error, files = None, None, []
    result: JobResult | None = None
    try:
        reporter.log(f"attempt {attempt} on {ctx.hostname} ({ctx.device})")
        dataset = load_dataset(ctx, spec)
        reporter.log(f"dataset {dataset.name!r}: {dataset.rows} rows × {dataset.features} features")
        checkpoints = files_here.checkpoints_for(attempt)
        if files_here.remote:
            reporter_out = CheckpointUploads(reporter_out, files_here, checkpoints)
        pruned = pruning.pruned.is_set if pruning is not None else (lambda: False)
        result = run_job(
            spec,
            dataset,
            workdir=work,
            reporter=PruningReporter(reporter_out, pruning) if pruning is not None else reporter_out,
            should_stop=lambda: watcher.should_stop() or pruned() or reporter.store_lost.is_set(),
            resume=attempt > 1,
            checkpoint_dir=checkpoints,
            already_reported_epoch=reported_epoch,
            report_every_steps=ctx.settings.report_every_steps,
            report_every_seconds=ctx.settings.report_every_seconds,
            cache=ctx.trainers,
            max_params=ctx.settings.max_model_params,
        )
        if watcher.lease_lost.is_set():
            status = AttemptOutcome.LEASE_LOST
        elif result.stop_reason == "cancelled" and pruned() and not watcher.should_stop():
            status = JobStatus.PRUNED
            reporter.log(
                f"pruned after epoch {pruning.at_epoch if pruning else '?'}: the sweep's pruner stopped it"
            )
        elif result.stop_reason == "cancelled" and not watcher.cancelled.is_set():
            status = AttemptOutcome.HANDED_BACK  # the worker is stopping: the next attempt resumes
        elif result.stop_reason == "cancelled":
            status = JobStatus.CANCELLED
            reporter.log("cancelled (a cancel was requested)")
        else:
            reporter.log("trained: exporting model.keras and a SavedModel, each verified by reloading it")
            reporter.close()  # all epoch scalars are on disk before the archive is packed
            open_reporter = None
            # Under the job's id: several jobs' archives unpack side by side into one logdir
            # (tensorboard/<id>/train, …/validation) instead of overwriting each other.
            pack_folder(tensorboard_dir, work / TENSORBOARD_TAR, arcname=f"tensorboard/{job_id}")
            export_dir = job_dir / f"artifacts-{attempt}"  # per attempt: never shared, never overwritten
            shutil.rmtree(export_dir, ignore_errors=True)
            digests = export_job(
                result,
                export_dir,
                extra_files={TENSORBOARD_TAR: work / TENSORBOARD_TAR},
                dataset=dataset_record(ctx, spec),
            )
            files_here.publish(export_dir, list(digests))  # every file in storage, then listed
            files = [
                {
                    "name": name,
                    "path": f"{job_id}/{export_dir.name}/{name}",
                    "size": (export_dir / name).stat().st_size,
                    "sha256": digest,
                }
                for name, digest in digests.items()
            ]
            summary = {
                **result.final_metrics,
                "epochs": float(len(result.history)),
                "stopped_early": float(result.stop_reason == "early_stopping"),
            }
            status = JobStatus.SUCCEEDED
    except TfcoreError as err:
        error = (err.type, str(err))
    except StoreUnavailable as err:  # an outage longer than the lease: resume elsewhere, later
        log.warning("job %s: %s; handing it back", job_id, err)
        status = AttemptOutcome.HANDED_BACK
    except Exception as err:  # anything else still ends the job, with a reason
        # The whole traceback goes to the worker's log, for operators; the user's error and
        # the job's log get the kind of failure only: an exception's text can carry server
        # paths, endpoints and bucket names (a 1.5 KB S3 debug dump was seen).
        log.exception("job %s failed", job_id)
        error = (
            "internal_error",
            f"the worker failed unexpectedly ({type(err).__name__}); "
            f"its log has the details (job {job_id}, {ctx.hostname})",
        )
    finally:
        if result is not None:
            result.release()  # exported or not needed: the next job of its architecture may take it
        watcher.stop()
        if error is not None and open_reporter is not None:
            open_reporter.log(f"failed: {error[1]}", level="error")
        if (
            status == AttemptOutcome.HANDED_BACK
            and open_reporter is not None
            and not reporter.store_lost.is_set()
        ):
            why = "worker stopping" if shutdown_requested.is_set() else "the store was out of reach"
            open_reporter.log(f"handed back ({why}): the next attempt resumes from the last checkpoint")
        if open_reporter is not None:
            try:
                open_reporter.close()
            except LeaseLost:
                status = AttemptOutcome.LEASE_LOST
            except StoreUnavailable:
                status = AttemptOutcome.HANDED_BACK
            except Exception as err:
                error = error or ("internal_error", str(err))
                status = JobStatus.FAILED

    return _record_outcome(ctx, job_id, attempt, status, summary, error, files, reporter.last_log_seq)


def _record_outcome(
    ctx: WorkerContext,
    job_id: str,
    attempt: int,
    status: Ending,
    summary: dict | None,
    error: tuple[str, str] | None,
    files: list[dict],
    last_log_seq: int = 0,
) -> str:
    """Writes the attempt's ending, fenced: a stale attempt changes nothing. A success also
    ends the job's log with what was published, in the same transaction as its status."""
    if status == AttemptOutcome.LEASE_LOST:
        log.warning("job %s: attempt %d was replaced; its results are discarded", job_id, attempt)
        return status

    def record() -> None:
        with ctx.store.session() as session:
            if status == AttemptOutcome.HANDED_BACK:
                if not store_jobs.release_job(
                    session, job_id=job_id, attempt=attempt, outcome=AttemptOutcome.HANDED_BACK
                ):
                    raise LeaseLost(job_id)
            else:
                if status == JobStatus.SUCCEEDED:
                    store_artifacts.add_artifacts(session, job_id=job_id, files=files)
                    names = ", ".join(sorted(f["name"] for f in files))
                    line = {"seq": last_log_seq + 1, "time": utcnow(), "level": "info"}
                    store_points.append_logs(
                        session,
                        job_id=job_id,
                        lines=[{**line, "message": f"succeeded: exported {len(files)} files ({names})"}],
                        attempt=attempt,
                    )
                store_jobs.finish_job(
                    session,
                    job_id=job_id,
                    status=status,
                    summary=summary,
                    attempt=attempt,
                    error_type=error[0] if error else None,
                    error_message=error[1] if error else None,
                )

    try:
        # Fenced by the attempt, so a retry after a lost answer finds LeaseLost, never a double write.
        patiently(f"recording job {job_id} {status}", record, seconds=ctx.settings.lease_seconds)
    except LeaseLost:
        log.warning("job %s: attempt %d was replaced before it finished", job_id, attempt)
        return AttemptOutcome.LEASE_LOST
    except StoreUnavailable as err:
        # Still unrecorded: the lease expires and the reconciler puts the job back in the queue.
        log.warning("job %s: attempt %d ended %s but %s", job_id, attempt, status, err)
        return AttemptOutcome.HANDED_BACK
    log.info("job %s %s", job_id, status)
    return status
