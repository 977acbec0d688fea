"""A job trained by a gang: ``replicas`` worker processes, one rank each, under
TensorFlow's MultiWorkerMirroredStrategy (tfcore.distribute). The scheduler sent each
rank's message to a worker of its own (app/scheduler.py); here a worker plays its rank:

1. rank 0, the chief, claims the job (the attempt, its lease, fencing: as any job); the
   others wait for it to run and join that attempt;
2. each rank says where its collective server will listen, and every rank waits until
   all have (the rendezvous, through the store): all build the same ``TF_CONFIG``;
3. each rank trains in a fresh child process (worker/rank.py: a process can make its
   collective context only once), watched by its worker, which beats for its rank;
4. the chief's worker stores the points and logs its child reports, checkpoints where
   the next attempt resumes, and exports; the other ranks only train.

Whole-gang failure: a rank's worker that sees the gang broken — a rank silent for
``SILENT_SECONDS`` (its node died), the attempt replaced, its own child gone — kills its
child at once; the chief hands the job back to the queue as one unit (every rank's slot
with it), counted as a lost attempt, and the next attempt resumes from the chief's last
checkpoint on any N free workers. A rank that dies takes its child with it (the child
watches its parent). Cancel stops every rank the same way.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.store import gangs as store_gangs
from app.store import jobs as store_jobs
from app.store import scheduling
from app.store.tables import utcnow
from tfcore.data import BUILTIN_DATASETS
from tfcore.errors import TfcoreError
from tfcore.report import Point
from tfjobs import AttemptOutcome, JobStatus
from worker.attempt import TENSORBOARD_TAR, Attempt, Claimed, Ending, dataset_record
from worker.context import WorkerContext, shutdown_requested
from worker.files import CheckpointUploads, JobFiles, dataset_file

__all__ = ["GangAttempt", "GangBroken", "play_rank"]

log = logging.getLogger(__name__)

RENDEZVOUS_SECONDS = 60.0  # for every rank to join; then the attempt is handed back
BEAT_SECONDS = 2.0
SILENT_SECONDS = 15.0  # a rank not heard from for this long has left the gang
EXPORT_SECONDS = 600.0


class GangBroken(Exception):
    """A rank left the gang (or never joined): the attempt ends for every rank.
    ``formed``: the gang had trained together (a lost attempt); one that never formed —
    a rank's message went to a worker that is gone — is handed back uncounted."""

    def __init__(self, message: str, *, formed: bool = True) -> None:
        super().__init__(message)
        self.formed = formed


class RankFailed(TfcoreError):
    """The training itself failed in a rank (TensorFlow's side, as in one process)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.type = kind


def advertised_address(ctx: WorkerContext) -> str:
    """``host:port`` the other ranks reach this rank's collective server at."""
    host = ctx.settings.worker_address or socket.gethostbyname(socket.gethostname())
    port = ctx.settings.collective_port
    if not port:  # any free port of that interface (the child binds it a moment later)
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    return f"{host}:{port}"


def dataset_source(ctx: WorkerContext, spec: Any) -> dict[str, Any]:
    """What the rank's child loads: a built-in by name, or this node's copy of an upload."""
    name = spec.dataset_name
    if name in BUILTIN_DATASETS:
        return {"builtin": name}
    from app.store import datasets as store_datasets

    with ctx.store.session() as session:
        record = store_datasets.get_dataset(session, dataset_id=name)
    if record is None:
        raise RankFailed("data_error", f"dataset {name!r} no longer exists")
    path = dataset_file(ctx.settings, record.path, record.sha256)
    return {
        "path": str(path),
        "target": record.target if record.format == "csv" else None,
        "name": record.name,
    }


@dataclass
class RankChild:
    """A rank's training process; its JSON lines arrive on ``messages`` (a reader thread)."""

    process: subprocess.Popen[str]
    messages: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)

    @classmethod
    def start(cls, task: dict[str, Any], log_path: Path) -> RankChild:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker.rank"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        child = cls(process)
        threading.Thread(target=child._read, daemon=True, name="rank-output").start()
        child.send(task)
        return child

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.messages.put(json.loads(line))
            except ValueError:
                log.warning("rank child: %s", line.rstrip())
        self.messages.put(None)  # the end of its output

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def drain(self, timeout: float) -> Iterator[dict[str, Any] | None]:
        """Messages for up to ``timeout`` seconds (``None``: the output ended)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                message = (
                    self.messages.get(timeout=max(left, 0.0)) if left > 0 else self.messages.get_nowait()
                )
            except queue.Empty:
                return
            yield message
            if message is None:
                return


@dataclass
class Rank:
    """This worker's rank of the gang for one attempt: joins, beats, watches the others."""

    ctx: WorkerContext
    job_id: str
    rank: int
    attempt: int
    replicas: int
    last_beat: float = 0.0

    def join(self) -> str:
        address = advertised_address(self.ctx)
        with self.ctx.store.session() as session:
            if not store_gangs.join(
                session,
                job_id=self.job_id,
                rank=self.rank,
                attempt=self.attempt,
                hostname=self.ctx.hostname,
                device=self.ctx.device,
                address=address,
            ):
                raise GangBroken(f"rank {self.rank} is no longer in the gang (sent again elsewhere)")
        self.last_beat = time.monotonic()
        return address

    def beat(self) -> None:
        """Only says this rank is alive (while it waits for the others, or exports)."""
        if time.monotonic() - self.last_beat < BEAT_SECONDS:
            return
        self.last_beat = time.monotonic()
        with self.ctx.store.session() as session:
            store_gangs.beat(session, job_id=self.job_id, rank=self.rank, attempt=self.attempt)

    def rendezvous(self, stop: Callable[[], bool]) -> list[dict[str, Any]]:
        """Waits for every rank to join this attempt; its members, in rank order."""
        deadline = time.monotonic() + RENDEZVOUS_SECONDS
        while True:
            self.beat()
            with self.ctx.store.session() as session:
                rows = store_gangs.members(session, job_id=self.job_id)
                live = scheduling.live_queues(
                    session, heartbeat_seconds=self.ctx.settings.worker_heartbeat_seconds, now=utcnow()
                )
                joined = [
                    {"rank": r.rank, "hostname": r.hostname, "device": r.device, "address": r.address}
                    for r in rows
                    if r.attempt == self.attempt and r.address
                ]
            if len(joined) == self.replicas:
                return joined
            missing = sorted({r.rank for r in rows} - {m["rank"] for m in joined})
            gone = [r.rank for r in rows if r.rank in missing and r.queue not in live]
            if gone:  # sent to a worker that died meanwhile: place the gang again, at once
                raise GangBroken(f"the worker of rank(s) {gone} is gone", formed=False)
            if time.monotonic() > deadline:
                raise GangBroken(
                    f"rank(s) {missing} did not join within {RENDEZVOUS_SECONDS:.0f} s", formed=False
                )
            if stop():
                raise GangBroken("stopped while the gang formed", formed=False)
            time.sleep(0.5)

    def check(self) -> None:
        """Beats for this rank and looks at the others (every ``BEAT_SECONDS``): raises
        GangBroken when a rank went silent or the attempt moved on."""
        if time.monotonic() - self.last_beat < BEAT_SECONDS:
            return
        self.last_beat = time.monotonic()
        with self.ctx.store.session() as session:
            job = store_jobs.get_job(session, job_id=self.job_id)
            if job is None or job.status != JobStatus.RUNNING or job.attempts != self.attempt:
                raise GangBroken(f"attempt {self.attempt} of the job ended")
            if not store_gangs.beat(session, job_id=self.job_id, rank=self.rank, attempt=self.attempt):
                raise GangBroken(f"rank {self.rank} was replaced")
            now = utcnow()
            for member in store_gangs.members(session, job_id=self.job_id):
                silent = (now - member.last_seen).total_seconds() if member.last_seen else float("inf")
                if member.attempt != self.attempt or silent > SILENT_SECONDS:
                    where = f" on {member.hostname}" if member.hostname else ""
                    raise GangBroken(f"rank {member.rank}{where} left the gang (silent {silent:.0f} s)")

    def task(
        self,
        claimed: Claimed,
        members: list[dict[str, Any]],
        *,
        checkpoint_dir: Path,
        restore_dir: Path,
        workdir: Path,
    ) -> dict[str, Any]:
        settings = self.ctx.settings
        return {
            "addresses": [m["address"] for m in members],
            "rank": self.rank,
            "spec": claimed.spec.model_dump(mode="json"),
            "dataset": dataset_source(self.ctx, claimed.spec),
            "workdir": str(workdir),
            "checkpoint_dir": str(checkpoint_dir),
            "restore_dir": str(restore_dir),
            "resume": self.attempt > 1,
            "already_reported_epoch": claimed.reported_epoch,
            "report_every_steps": settings.report_every_steps,
            "report_every_seconds": settings.report_every_seconds,
            "max_params": settings.max_model_params,
        }


@dataclass
class GangResult:
    """What the chief's child trained (the model stays in the child until it exports)."""

    history: list[dict[str, float]]
    stop_reason: str
    final_metrics: dict[str, float]
    child: RankChild | None = None

    def release(self) -> None:
        if self.child is not None:
            self.child.kill()


class GangAttempt(Attempt):
    """The chief's attempt: Attempt's steps, with the training in a gang of children."""

    def __init__(self, ctx: WorkerContext, claimed: Claimed, replicas: int, pruning: Any = None) -> None:
        super().__init__(ctx, claimed, pruning)
        self.rank = Rank(ctx, self.job_id, 0, self.number, replicas)
        self.gang_broken: str | None = None
        self.broken_counts = True  # a gang that never formed is handed back uncounted

    def _train(self) -> Any:
        reporter, files = self.reporter, self.files
        reporter.log(
            f"attempt {self.number}: forming a gang of {self.rank.replicas} ranks (this worker: rank 0)"
        )
        try:
            self.rank.join()
            members = self.rank.rendezvous(self._should_stop)
        except GangBroken as err:
            return self._broken(str(err), counted=err.formed)
        with self.ctx.store.session() as session:
            store_gangs.record_ranks(
                session,
                job_id=self.job_id,
                attempt=self.number,
                ranks=[{k: m[k] for k in ("rank", "hostname", "device")} for m in members],
            )
        reporter.log(
            "gang formed: " + ", ".join(f"rank {m['rank']} {m['hostname']} ({m['device']})" for m in members)
        )
        checkpoints = files.checkpoints_for(self.number)
        out: Any = CheckpointUploads(reporter, files, checkpoints) if files.remote else reporter
        task = self.rank.task(
            self.claimed, members, checkpoint_dir=checkpoints, restore_dir=checkpoints, workdir=self.work
        )
        child = RankChild.start(task, self.job_dir / "work" / "rank-0.log")
        try:
            while True:
                for message in child.drain(0.5):
                    if message is None:
                        raise GangBroken(f"rank 0's training process ended (exit {child.process.wait()})")
                    if "point" in message:
                        p = message["point"]
                        out.report(Point(p["kind"], p["epoch"], p["step"], p["values"]))
                    elif "log" in message:
                        reporter.log(message["log"])
                    elif "error" in message:
                        raise RankFailed(*message["error"])
                    elif "trained" in message:
                        done = message["trained"]
                        return GangResult(done["history"], done["stop_reason"], done["final_metrics"], child)
                if self._should_stop():
                    child.kill()
                    return GangResult([], "cancelled", {})
                self.rank.check()
        except GangBroken as err:
            child.kill()
            return self._broken(str(err))
        except BaseException:
            child.kill()
            raise

    def _broken(self, why: str, *, counted: bool = True) -> GangResult:
        self.gang_broken = self.hand_back_reason = f"the gang broke: {why}"
        self.broken_counts = counted
        return GangResult([], "broken", {})

    def _stopped_as(self, result: Any) -> Ending | None:
        if result.stop_reason == "broken":
            return AttemptOutcome.HANDED_BACK  # recorded as a lost attempt (_write_ending)
        return super()._stopped_as(result)

    def _export(self, result: Any) -> Ending:
        """The chief's child exports (every rank's does, the others to folders of their own);
        this worker packs TensorBoard first and publishes what the child wrote."""
        export_dir = self._prepare_export()
        result.child.send(
            {
                "export": {
                    "dir": str(export_dir),
                    "extra_files": {TENSORBOARD_TAR: str(self.work / TENSORBOARD_TAR)},
                    "dataset": dataset_record(self.ctx, self.spec),
                }
            }
        )
        try:
            digests = _await(result.child, "exported", EXPORT_SECONDS, self.rank.beat)
        except GangBroken as err:
            self._broken(str(err))
            return AttemptOutcome.HANDED_BACK
        return self._publish(export_dir, digests, result)

    def _write_ending(self) -> None:
        if self.gang_broken is None or not self.broken_counts:
            return super()._write_ending()  # (HANDED_BACK: back to the queue, not counted)
        # A broken gang goes back to the queue as one unit, counted as a lost attempt: a
        # gang that keeps breaking fails after TFJOBS_MAX_ATTEMPTS, as a dying worker does.
        with self.ctx.store.session() as session:
            lost = sum(
                outcome == AttemptOutcome.LEASE_LOST
                for _, _, outcome in store_jobs.attempt_outcomes(session, job_id=self.job_id)
            )
            if lost + 1 >= self.ctx.settings.max_attempts:
                store_jobs.finish_job(
                    session,
                    job_id=self.job_id,
                    status=JobStatus.FAILED,
                    attempt=self.number,
                    error_type="gang_broken",
                    error_message=f"the gang broke {lost + 1} times; the last time: {self.gang_broken}",
                )
            elif not store_jobs.release_job(
                session, job_id=self.job_id, attempt=self.number, outcome=AttemptOutcome.LEASE_LOST
            ):
                from app.store.errors import LeaseLost

                raise LeaseLost(self.job_id)


def _await(child: RankChild, key: str, seconds: float, beat: Callable[[], None]) -> Any:
    """The child's ``key`` message, beating for the rank meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in child.drain(0.5):
            if message is None:
                raise GangBroken(f"the rank's process ended before {key!r} (exit {child.process.wait()})")
            if key in message:
                return message[key]
            if "error" in message:
                raise RankFailed(*message["error"])
        beat()
    raise GangBroken(f"no {key!r} from the rank's process within {seconds:.0f} s")


def play_rank(ctx: WorkerContext, job_id: str, rank: int) -> str:
    """A rank other than the chief: joins the attempt the chief claimed, trains in its
    child until the gang ends, and exports to a folder of its own. Returns how it ended."""
    deadline = time.monotonic() + RENDEZVOUS_SECONDS
    while True:  # the chief claims the job (its message may come a moment later)
        with ctx.store.session() as session:
            job = store_jobs.get_job(session, job_id=job_id)
            if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
                return "skipped:gang_over"
            if job.status == JobStatus.RUNNING:
                attempt, replicas = job.attempts, job.replicas
                claimed = Claimed.of(session, job)
                break
        if time.monotonic() > deadline or shutdown_requested.is_set():
            return "skipped:gang_not_started"
        time.sleep(0.5)
    me = Rank(ctx, job_id, rank, attempt, replicas)
    files = JobFiles(ctx.settings, job_id)
    work = files.work / f"rank-{rank}"
    ctx.current_job = job_id
    child: RankChild | None = None
    try:
        me.join()
        members = me.rendezvous(shutdown_requested.is_set)
        shutil.rmtree(work / "checkpoints", ignore_errors=True)
        task = me.task(
            claimed,
            members,
            checkpoint_dir=work / "checkpoints",  # saving takes every rank; the chief's is the one kept
            restore_dir=files.resume_folder(attempt, rank),
            workdir=work,
        )
        child = RankChild.start(task, work / "rank.log")
        while True:
            for message in child.drain(0.5):
                if message is None:
                    raise GangBroken(f"rank {rank}'s training process ended (exit {child.process.wait()})")
                if "error" in message:
                    raise RankFailed(*message["error"])
                if "trained" in message:
                    child.send({"export": {"dir": str(work / "export")}})
                    _await(child, "exported", EXPORT_SECONDS, me.beat)
                    return f"rank {rank}: trained"
            if shutdown_requested.is_set():
                raise GangBroken("this worker is stopping")
            me.check()
    except (GangBroken, RankFailed) as err:
        log.warning("job %s rank %d: %s", job_id, rank, err)
        return f"rank {rank}: {err}"
    finally:
        if child is not None:
            child.kill()
        shutil.rmtree(work / "export", ignore_errors=True)
        ctx.current_job = None
