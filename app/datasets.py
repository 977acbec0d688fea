"""Datasets as the API sees them: built-ins, validated uploads, and a spec's dataset check.

Uploads are validated with ``tfcore.data`` (NumPy only, no TensorFlow) and stored
under a generated name; the client's file name is kept for display only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, cast

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.errors import InvalidInput, PayloadTooLarge
from app.lookup import by_id_or_prefix, short_prefix_hint
from app.schemas import DatasetPublic
from app.storage import open_storage
from app.store import datasets as store_datasets
from app.store import ids as store_ids
from app.store.tables import Dataset
from tfcore.architecture import declared_io, fit_problems
from tfcore.data import BUILTIN_DATASETS, load_file
from tfcore.errors import DataError
from tfcore.spec import JobSpec, Task

__all__ = ["builtin_datasets", "resolve_dataset", "save_upload"]


def builtin_datasets() -> list[DatasetPublic]:
    return [
        DatasetPublic(
            id=name,
            name=name,
            rows=info.rows,
            features=info.features,
            target="target" if name != "synthetic" else "y",
            task=info.task,
            builtin=True,
        )
        for name, info in BUILTIN_DATASETS.items()
    ]


BUILTIN_HINT = f"; use a built-in ({', '.join(BUILTIN_DATASETS)}) or an uploaded dataset id"


def _find_dataset(session: Session, name: str, owner: str) -> Dataset | None:
    """The owner's dataset by id, unique id prefix, or unique name (422 if a name is ambiguous)."""
    dataset = by_id_or_prefix(session, Dataset, name, owner)
    if dataset is None:
        named = store_datasets.datasets_named(session, owner=owner, name=name)
        if len(named) > 1:
            raise InvalidInput(
                [
                    {
                        "loc": ["body", "dataset"],
                        "type": "ambiguous",
                        "msg": f"{len(named)} of your datasets are named {name!r} "
                        f"({', '.join(d.id for d in named)}); give the id",
                    }
                ]
            )
        dataset = named[0] if named else None
    return dataset


def resolve_dataset(session: Session, spec: JobSpec, *, owner: str, settings: Settings) -> Dataset | None:
    """Checks the spec's dataset exists for this owner and suits its loss; 422 if not.
    Returns the uploaded dataset (found by id, id prefix or name), None for a built-in."""
    name = spec.dataset_name
    if name in BUILTIN_DATASETS:
        task, dataset = BUILTIN_DATASETS[name].task, None
    else:
        dataset = _find_dataset(session, name, owner)
        if dataset is None:
            raise InvalidInput(
                [
                    {
                        "loc": ["body", "dataset"],
                        "type": "not_found",
                        "msg": f"no dataset {name!r}"
                        + (short_prefix_hint(session, Dataset, owner, name, what="dataset") or BUILTIN_HINT),
                    }
                ]
            )
        task = cast(Task, dataset.task)
    if task != spec.task:
        raise InvalidInput(
            [
                {
                    "loc": ["body", "loss"],
                    "type": "task_mismatch",
                    "msg": f"dataset {name!r} is a {task} dataset but loss {spec.loss!r} is "
                    f"for {spec.task} jobs",
                }
            ]
        )
    if spec.architecture is not None:
        shape = (dataset.shape or [dataset.features]) if dataset else [BUILTIN_DATASETS[name].features]
        classes = dataset.classes if dataset else None
        _check_fit(spec, name, shape, classes)
    return dataset


def _check_fit(spec: JobSpec, name: str, shape: list[int], classes: int | None) -> None:
    """A keras job's architecture against its dataset, as far as the config says: 422 with
    both shapes named (the worker checks the built model again, exactly)."""
    assert spec.architecture is not None
    problems = fit_problems(*declared_io(spec.architecture), shape, spec.task, classes, dataset=name)
    if problems:
        raise InvalidInput(
            [{"loc": ["body", "architecture"], "type": "shape_mismatch", "msg": m} for m in problems]
        )


def _copy_capped(source: IO[bytes], target: IO[bytes], *, limit: int) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while block := source.read(1 << 20):
        size += len(block)
        if size > limit:
            raise PayloadTooLarge(f"the upload is larger than the limit of {limit // (1 << 20)} MB")
        digest.update(block)
        target.write(block)
    return size, digest.hexdigest()


def save_upload(
    session: Session, *, upload: IO[bytes], filename: str, target: str | None, owner: str, settings: Settings
) -> Dataset:
    """Validates and stores an uploaded CSV or NPZ; nothing is kept if it is rejected."""
    folder = settings.datasets_root
    folder.mkdir(parents=True, exist_ok=True)
    dataset_id = store_ids.new_id()
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            size, sha256 = _copy_capped(upload, out, limit=settings.max_upload_mb << 20)
        limits = settings.data_limits()
        try:
            data = load_file(tmp, target=target, name=Path(filename).name[:200] or "upload", limits=limits)
        except DataError as err:
            raise InvalidInput(
                [{"loc": ["body", "file"], "type": "invalid_dataset", "msg": str(err)}]
            ) from None
        with tmp.open("rb") as f:
            fmt = "npz" if f.read(2) == b"PK" else "csv"  # as load_file decided: by content
        key = f"{dataset_id}.{fmt}"
        storage = open_storage(settings, "datasets")
        storage.put_file(key, tmp, move=True)  # checked whole: now kept (a rename when local)
        try:  # create_dataset flushes: a row the store refuses fails here, not at commit
            return store_datasets.create_dataset(
                session,
                id=dataset_id,
                owner=owner,
                name=Path(filename).name[:255] or "upload",
                path=key,
                format=fmt,
                rows=data.rows,
                features=data.features,
                shape=list(data.feature_shape),
                classes=data.classes,
                target=data.target,
                task=data.task,
                size=size,
                sha256=sha256,
            )
        except BaseException:
            storage.delete(key)  # not recorded: not kept (no orphan object)
            raise
    finally:
        tmp.unlink(missing_ok=True)
