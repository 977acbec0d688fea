"""What the store's area modules share (private to app/store)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session

from app.store.tables import Job
from tfjobs import JobStatus


def rows_changed(session: Session, statement: Executable) -> int:
    """Rows an UPDATE/DELETE changed (DML returns a CursorResult; the annotation says Result)."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


def current(job_id: str, attempt: int | None) -> Any:
    """WHERE clause for "this job, and still this attempt's" (no fencing when attempt is None)."""
    clause = Job.id == job_id
    if attempt is not None:
        clause = clause & (Job.attempts == attempt) & (Job.status == JobStatus.RUNNING)
    return clause
