"""The words that cross a process or language boundary (the API, the store, the worker,
the metrics, the dashboard's JS, the client), each spelt once: a job's and a sweep's
status, how an attempt ended, and devices. tests/test_vocabulary.py pins the
dashboard's copies to these."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FINAL_STATUSES", "AttemptOutcome", "Device", "JobStatus", "SweepStatus"]


class JobStatus(StrEnum):
    """queued → running → succeeded | failed | cancelled | pruned (running → queued on a
    hand-back). ``pruned``: a sweep trial its pruner stopped early (neither a failure nor a
    success).

    A ``StrEnum``: members compare equal to their strings, so JSON and SQL see plain text.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PRUNED = "pruned"

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PRUNED})


class SweepStatus(StrEnum):
    """queued (no trial started yet) → running → succeeded (every trial ended, one or more
    succeeded) | failed (every trial ended, none succeeded) | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AttemptOutcome(StrEnum):
    """How one attempt at a job ended: the job's final status, or one of two endings that
    send the job back to the queue for another attempt (which resumes from its last
    checkpoint)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PRUNED = "pruned"
    HANDED_BACK = "handed_back"  # its worker was stopping (not counted against the job)
    LEASE_LOST = "lease_lost"  # its worker stopped answering, or a newer attempt owns the job


class Device(StrEnum):
    """What a job asks to run on (``auto``: any worker, a GPU one preferred) and what a
    worker offers (``cpu`` or ``gpu``: its kind)."""

    AUTO = "auto"
    CPU = "cpu"
    GPU = "gpu"
