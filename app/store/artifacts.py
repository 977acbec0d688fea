"""A job's exported files' rows (name, size, sha256); the bytes live in app/storage.py.

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.tables import Artifact

__all__ = [
    "add_artifacts",
    "get_artifact",
    "list_artifacts",
]


def add_artifacts(session: Session, *, job_id: str, files: Iterable[dict[str, Any]]) -> None:
    session.add_all(Artifact(job_id=job_id, **f) for f in files)


def list_artifacts(session: Session, *, job_id: str) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.name)))


def get_artifact(session: Session, *, job_id: str, name: str) -> Artifact | None:
    return session.get(Artifact, (job_id, name))
