"""What the client raises; never a bare httpx exception.

TfjobsError             base
├── ApiError            the server answered 4xx/5xx: ``status`` and ``detail``
├── ConnectionFailed    the server could not be reached (after retries)
├── JobFailed           a waited-for job ended failed or cancelled: ``job``
└── SweepFailed         a waited-for sweep ended failed or cancelled, or has no best yet
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfjobs.sdk import Job

__all__ = ["ApiError", "ConnectionFailed", "JobFailed", "SweepFailed", "TfjobsError"]


class TfjobsError(Exception):
    """Base of every client error; ``str(err)`` is one line for a person."""


class ApiError(TfjobsError):
    def __init__(self, status: int, detail: Any) -> None:
        self.status, self.detail = status, detail
        super().__init__(f"HTTP {status}: {describe_detail(detail)}")


class ConnectionFailed(TfjobsError):
    pass


class JobFailed(TfjobsError):
    def __init__(self, job: Job) -> None:
        self.job = job
        error = job.data.get("error") or {}
        reason = f"{error.get('type')}: {error.get('message')}" if error else job.status
        super().__init__(f"job {job.id} {job.status}: {reason}")


class SweepFailed(TfjobsError):
    def __init__(self, sweep_id: str, status: str, counts: dict[str, int], reason: str | None = None) -> None:
        self.sweep_id, self.status, self.counts = sweep_id, status, counts
        trials = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials"
        super().__init__(f"sweep {sweep_id} {status} ({trials})" + (f": {reason}" if reason else ""))


def describe_detail(detail: Any) -> str:
    """FastAPI's error detail as one readable line ("threshold: must be > 0; ...")."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", []) if x != "body")
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)
