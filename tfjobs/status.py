"""A job's status as the API, the store, the metrics and the client spell it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FINAL_STATUSES", "JobStatus"]


class JobStatus(StrEnum):
    """queued → running → succeeded | failed | cancelled (running → queued on a hand-back).

    A ``StrEnum``: members compare equal to their strings, so JSON and SQL see plain text.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
