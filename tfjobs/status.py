"""A job's status as the API, the store, the metrics and the client spell it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FINAL_STATUSES", "JobStatus", "SweepStatus"]


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
