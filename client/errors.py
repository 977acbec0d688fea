"""What the client raises; never a bare httpx exception.

TfjobsError             base
├── ApiError            the server answered 4xx/5xx: ``status`` and ``detail``
├── ConnectionFailed    the server could not be reached (after retries)
└── JobFailed           a waited-for job ended failed or cancelled: ``job``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.sdk import Job

__all__ = ["ApiError", "ConnectionFailed", "JobFailed", "TfjobsError"]


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
