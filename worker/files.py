"""A job's files between this node and the service's storage (app/storage.py).

Training always happens in a local work folder (``ARTIFACTS_ROOT/<job>/work``). When the
storage is that same folder (one host, the default) nothing moves. When it is elsewhere
(an S3 bucket: nodes that share no disk):
* each epoch's checkpoint is uploaded before the epoch is reported, so a reported epoch
  is always one a resumption elsewhere will not train again;
* an attempt that finds no earlier checkpoint on this node fetches the newest earlier
  attempt's from storage;
* exported files are uploaded one by one before the listing (the artifact rows) is
  written: nothing half-uploaded is ever listed;
* an uploaded dataset is fetched once per node into a cache named by its sha256.
Each attempt writes only its own checkpoint folder: a stale attempt still running
somewhere can never overwrite the checkpoints of the attempt that replaced it.

Every transfer rides out a storage outage for as long as the job's lease lasts (then
the attempt is handed back, to resume from its last stored checkpoint): a 3 s S3 blip
no longer fails a job.
"""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path
from typing import Any

from app.storage import Storage, open_storage
from tfcore.report import Point, Reporter
from worker.outage import patiently

__all__ = ["CheckpointUploads", "JobFiles", "dataset_file"]


def _attempt_of(name: str) -> int:
    return int(name.split("-")[1])


class JobFiles:
    def __init__(self, settings: Any, job_id: str) -> None:
        self.job_id = job_id
        self.work = settings.artifacts_root / job_id / "work"
        self.storage: Storage = open_storage(settings, "artifacts")
        self.remote = self.storage.local_path(f"{job_id}/work") != self.work
        self.patience = settings.lease_seconds

    def checkpoints_for(self, attempt: int) -> Path:
        """This attempt's checkpoint folder, seeded with the newest earlier attempt's
        checkpoints — from this node, or else from storage."""
        folder = self.work / "checkpoints" / f"attempt-{attempt}"
        if folder.exists():
            return folder
        local = sorted(
            (
                p
                for p in (self.work / "checkpoints").glob("attempt-*")
                if _attempt_of(p.name) < attempt and (p / "checkpoint").exists()
            ),
            key=lambda p: _attempt_of(p.name),
        )
        if local:
            shutil.copytree(local[-1], folder)
        elif self.remote:
            patiently(
                f"fetching checkpoints of {self.job_id}",
                lambda: self._fetch_newest(attempt, folder),
                seconds=self.patience,
            )
        return folder

    def resume_folder(self, attempt: int, rank: int) -> Path:
        """Where a gang rank other than the chief resumes ``attempt`` from: the newest
        earlier attempt's checkpoints (the chief's), read in place on this node or fetched
        from storage into a folder of the rank's own. It never writes the chief's folders."""
        local = sorted(
            (
                p
                for p in (self.work / "checkpoints").glob("attempt-*")
                if _attempt_of(p.name) < attempt and (p / "checkpoint").exists()
            ),
            key=lambda p: _attempt_of(p.name),
        )
        if local:
            return local[-1]
        folder = self.work / f"rank-{rank}" / f"resume-{attempt}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if self.remote:
            patiently(
                f"fetching checkpoints of {self.job_id}",
                lambda: self._fetch_newest(attempt, folder),
                seconds=self.patience,
            )
        return folder

    def _fetch_newest(self, attempt: int, folder: Path) -> None:
        prefix = f"{self.job_id}/checkpoints/"
        keys = self.storage.list(prefix)
        attempts = {
            _attempt_of(k[len(prefix) :].split("/", 1)[0])
            for k in keys
            if k.endswith("/checkpoint") and k[len(prefix) :].startswith("attempt-")
        }
        earlier = sorted(n for n in attempts if n < attempt)
        if not earlier:
            return
        source = f"{prefix}attempt-{earlier[-1]}/"
        for key in keys:
            if key.startswith(source):
                self.storage.get_to_file(key, folder / key[len(source) :])

    def upload_checkpoints(self, folder: Path) -> None:
        """The attempt's checkpoint folder as it is now (what TensorFlow keeps), in storage."""
        if self.remote:
            patiently(
                f"uploading checkpoints of {self.job_id}",
                lambda: self._upload_checkpoints(folder),
                seconds=self.patience,
            )

    def _upload_checkpoints(self, folder: Path) -> None:
        prefix = f"{self.job_id}/checkpoints/{folder.name}/"
        present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
        for name in sorted(present, key=lambda n: n == "checkpoint"):  # the index file last
            self.storage.put_file(prefix + name, folder / name)
        stale = [k for k in self.storage.list(prefix) if k[len(prefix) :] not in present]
        for key in stale:  # checkpoints TensorFlow dropped (max_to_keep)
            self.storage.delete(key)

    def publish(self, folder: Path, names: list[str]) -> None:
        """Exported files into storage at ``<job>/<folder name>/<name>`` (their artifact path)."""
        for name in names:
            key = f"{self.job_id}/{folder.name}/{name}"
            patiently(
                f"uploading {key}", partial(self.storage.put_file, key, folder / name), seconds=self.patience
            )

    def drop_checkpoints(self) -> None:
        shutil.rmtree(self.work / "checkpoints", ignore_errors=True)
        if self.remote:
            self.storage.delete_prefix(f"{self.job_id}/checkpoints")


class CheckpointUploads:
    """The job's reporter, with each epoch's checkpoint put in storage before the epoch is
    reported (tfcore saves the checkpoint, then reports the epoch)."""

    def __init__(self, reporter: Reporter, files: JobFiles, folder: Path) -> None:
        self._reporter, self._files, self._folder = reporter, files, folder

    def report(self, point: Point) -> None:
        if point.kind == "epoch":
            self._files.upload_checkpoints(self._folder)
        self._reporter.report(point)

    def log(self, message: str) -> None:
        self._reporter.log(message)


def dataset_file(settings: Any, key: str, sha256: str) -> Path:
    """An uploaded dataset as a local file: where it is stored, or this node's cached copy."""
    storage = open_storage(settings, "datasets")
    local = storage.local_path(key)
    if local is not None:
        return local
    cached = settings.cache_root / "datasets" / f"{sha256}{Path(key).suffix}"
    if not cached.is_file():
        patiently(
            f"fetching dataset {key}",
            lambda: storage.get_to_file(key, cached),
            seconds=settings.lease_seconds,
        )
    return cached
