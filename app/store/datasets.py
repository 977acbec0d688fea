"""Uploaded datasets' rows (their files live in app/storage.py).

Functions take a ``Session`` and leave committing to the caller's ``store.session()``
block, so a route or task can group several calls into one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.tables import Dataset, Job, utcnow
from tfjobs import JobStatus

__all__ = [
    "create_dataset",
    "datasets_named",
    "get_dataset",
    "jobs_using_dataset",
    "list_datasets",
]


def create_dataset(session: Session, **fields: Any) -> Dataset:
    dataset = Dataset(created_at=utcnow(), **fields)
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, *, dataset_id: str, owner: str | None = None) -> Dataset | None:
    query = select(Dataset).where(Dataset.id == dataset_id)
    if owner is not None:
        query = query.where(Dataset.owner == owner)
    return session.scalar(query)


def datasets_named(session: Session, *, owner: str, name: str) -> list[Dataset]:
    return list(
        session.scalars(select(Dataset).where(Dataset.owner == owner, Dataset.name == name).limit(10))
    )


def jobs_using_dataset(session: Session, *, dataset_id: str) -> list[str]:
    """Queued or running jobs whose spec names the dataset (they still need its file)."""
    active = select(Job.id, Job.spec).where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
    return [job_id for job_id, spec in session.execute(active) if (spec or {}).get("dataset") == dataset_id]


def list_datasets(session: Session, *, owner: str | None = None) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.created_at.desc())
    if owner is not None:
        query = query.where(Dataset.owner == owner)
    return list(session.scalars(query))
