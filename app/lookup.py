"""Finding the caller's job or dataset by what people type: a full id, a unique prefix of
one (the CLI prints 8 characters), or for a dataset its name."""

from __future__ import annotations

from typing import Any

from app.errors import Conflict, NotFound
from app.store import datasets as store_datasets
from app.store import ids as store_ids
from app.store import jobs as store_jobs
from app.store import sweeps as store_sweeps
from app.store.tables import Dataset, Job, Sweep

__all__ = [
    "MIN_PREFIX",
    "by_id_or_prefix",
    "find_dataset",
    "find_job",
    "find_sweep",
    "short_prefix_hint",
    "unique_prefix",
]

MIN_PREFIX = 6  # the CLI prints 8; fewer would match too much to be useful


def find_job(session: Any, job_id: str, owner: str) -> Job:
    """The caller's job by its id or a unique prefix of it (at least MIN_PREFIX characters),
    or 404 — another owner's job does not exist for them; 409 names the candidates when
    a prefix matches several."""
    job = by_id_or_prefix(session, Job, job_id, owner)
    if job is None:
        raise NotFound(f"no job {job_id!r}" + short_prefix_hint(session, Job, owner, job_id, what="job"))
    return job


def find_dataset(session: Any, dataset_id: str, owner: str) -> Dataset:
    """The caller's uploaded dataset by id or unique prefix; 404 otherwise (built-ins too)."""
    dataset = by_id_or_prefix(session, Dataset, dataset_id, owner)
    if dataset is None:
        raise NotFound(f"no uploaded dataset {dataset_id!r}")
    return dataset


def find_sweep(session: Any, sweep_id: str, owner: str) -> Sweep:
    """The caller's sweep by id or unique prefix; 404 otherwise (another owner's too)."""
    sweep = by_id_or_prefix(session, Sweep, sweep_id, owner)
    if sweep is None:
        raise NotFound(f"no sweep {sweep_id!r}")
    return sweep


def by_id_or_prefix(
    session: Any, table: type[Job] | type[Dataset] | type[Sweep], key: str, owner: str
) -> Any:
    """The owner's row whose id is ``key`` or starts with it (unique, MIN_PREFIX or more), or None."""

    def get(row_id: str) -> Any:
        if table is Job:
            return store_jobs.get_job(session, job_id=row_id, owner=owner)
        if table is Sweep:
            return store_sweeps.get_sweep(session, sweep_id=row_id, owner=owner)
        return store_datasets.get_dataset(session, dataset_id=row_id, owner=owner)

    what = {Job: "job", Sweep: "sweep"}.get(table, "dataset")
    row = get(key)
    if row is None:
        (full,) = unique_prefix(session, table, owner, key, what=what) or (None,)
        row = get(full) if full else None
    return row


def short_prefix_hint(session: Any, table: Any, owner: str, key: str, *, what: str) -> str:
    """Why ``key`` named nothing when it is the start of some of the owner's ids but too
    short to name one (``""`` otherwise): for the not-found answer."""
    prefix = key.lower()
    if not (0 < len(prefix) < MIN_PREFIX and all(c in "0123456789abcdef" for c in prefix)):
        return ""
    n = len(store_ids.ids_with_prefix(session, table, owner=owner, prefix=prefix))
    if not n:
        return ""
    return (
        f": {key!r} is too short to name a {what}; give at least {MIN_PREFIX} characters of its id "
        f"({n} of your {what} ids start with it)"
    )


def unique_prefix(session: Any, table: Any, owner: str, prefix: str, *, what: str) -> list[str]:
    """``[full id]`` for a prefix that names one of the owner's rows, ``[]`` for none;
    409 listing the candidates when it names several."""
    prefix = prefix.lower()
    if not (0 < len(prefix) < 32 and all(c in "0123456789abcdef" for c in prefix)):
        return []
    ids = store_ids.ids_with_prefix(session, table, owner=owner, prefix=prefix)
    if len(prefix) < MIN_PREFIX:
        return []  # too short to name one safely (short_prefix_hint says so)
    if len(ids) > 1:
        raise Conflict(
            f"{prefix!r} is the start of {len(ids)} {what} ids ({', '.join(ids)}); give more of it"
        )
    return ids
