"""The data dir is private, and what a killed process left half-written in it is cleared.

The data dir holds the store (tokens' hashes, every owner's jobs), uploads and models:
nobody but the service's own user should read it. The data dir is made 0700 (which
closes everything under it) and the SQLite files 0600, also when an older version left
them open; the service's commands (``tfjobs up``, ``api``, ``worker``) also set the
umask, so what they create is private in itself (:func:`private_umask`).

A ``kill -9`` or a full disk mid-write can leave an upload's temporary file
(``.upload-*``) or a ``*.partial`` copy behind; nothing names them, so they would only
take disk. They are removed at start once older than ``DEBRIS_AGE`` (a younger one may
belong to another API process still writing it).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

from app.core.config import Settings
from app.storage import PARTIAL

__all__ = ["DEBRIS_AGE", "prepare_data_dir", "private_umask"]

log = logging.getLogger(__name__)
DEBRIS_AGE = 600.0  # seconds


def private_umask() -> None:
    """Folders 0700 and files 0600 from now on, in this process and the ones it starts."""
    os.umask(0o077)


def prepare_data_dir(settings: Settings) -> None:
    root = settings.resolved_data_dir
    root.mkdir(parents=True, exist_ok=True)
    _tighten(root, 0o700)
    if settings.database_url is None:  # the embedded SQLite store and its WAL files
        db = Path(settings.sqlalchemy_url.split("///", 1)[-1])
        db.touch(mode=0o600, exist_ok=True)  # made private before SQLite opens it (empty is a new store)
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            _tighten(path, 0o600)
    removed = sum(_remove_old(_debris(settings)))
    if removed:
        log.info("removed %d half-written file(s) left by an earlier process", removed)


def _tighten(path: Path, mode: int) -> None:
    try:
        if path.exists() and path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError as err:  # a read-only mount: leave it, say so
        log.warning("could not make %s private: %s", path, err)


def _debris(settings: Settings) -> Iterable[Path]:
    datasets, cache, artifacts = settings.datasets_root, settings.cache_root, settings.artifacts_root
    if datasets.is_dir():
        yield from datasets.glob(".upload-*")
        yield from datasets.glob(f"*{PARTIAL}")
    if cache.is_dir():
        yield from cache.rglob(f"*{PARTIAL}")
    if artifacts.is_dir():  # <job>/<folder>/<file>: published artifacts
        yield from artifacts.glob(f"*/*/*{PARTIAL}")


def _remove_old(paths: Iterable[Path]) -> Iterable[int]:
    cutoff = time.time() - DEBRIS_AGE
    for path in paths:
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                yield 1
        except OSError:
            continue
