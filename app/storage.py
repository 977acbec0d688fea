"""Where files live: artifacts, checkpoints and uploaded datasets, behind one small
interface with two homes — a local folder (the default, under the data dir) or an
S3-compatible object store (``TFJOBS_STORAGE_URL=s3://bucket/prefix``).

The object store goes through ``obstore`` (Rust's ``object_store``: S3 signing,
multipart uploads and ranged reads in one 16 MB wheel, against ~80 MB for boto3). Keys
are ``/``-separated, relative to the area's root (``artifacts/…`` or ``datasets/…``).
Nothing here is written in place: callers put finished files and record them in the
store (the listing) last, since an object store has no rename.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from obstore.store import RetryConfig

__all__ = ["LocalStorage", "ObjectStorage", "Storage", "StorageUnavailable", "open_storage"]

CHUNK = 1 << 20
PARTIAL = ".partial"  # a file being written; renamed into place when whole
# A hung or unreachable object store must fail a call in seconds, not hold it: the API
# answers 503 at once, and the worker retries on its own terms, bounded by the job's
# lease (worker/outage.py) — not object_store's default of up to 3 minutes per call.
CONNECT_TIMEOUT = timedelta(seconds=5)
RETRIES: RetryConfig = {"max_retries": 2, "retry_timeout": timedelta(seconds=10)}


class StorageUnavailable(Exception):
    """The object store did not answer (refused, timed out, 5xx); the detail is for logs."""


class Storage(Protocol):
    """One area (artifacts or datasets) of the service's files."""

    url: str

    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        """Stores the file under ``key``; ``move``: the file is no longer needed (a local
        storage renames it when it can, instead of holding two copies)."""
        ...

    def put_stream(self, key: str, stream: IO[bytes]) -> None: ...

    def get_to_file(self, key: str, path: Path) -> None: ...

    def size(self, key: str) -> int | None: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...

    def list(self, prefix: str) -> list[str]: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def local_path(self, key: str) -> Path | None: ...

    def presign(self, key: str, seconds: int) -> str | None: ...


def _safe(key: str) -> str:
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or key.startswith("/"):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalStorage:
    """A folder: what a single host (``tfjobs up``, compose with a shared volume) uses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def local_path(self, key: str) -> Path:
        return self.root / _safe(key)

    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        target = self.local_path(key)
        if target.resolve() == path.resolve():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                os.replace(path, target)  # same filesystem: no second copy, never half-written
                return
            except OSError:
                pass  # another filesystem: copy below
        aside = target.with_name(target.name + PARTIAL)
        try:
            shutil.copyfile(path, aside)
            os.replace(aside, target)
        except BaseException:
            aside.unlink(missing_ok=True)  # a full disk leaves no .partial behind
            raise

    def put_stream(self, key: str, stream: IO[bytes]) -> None:
        target = self.local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        aside = target.with_name(target.name + PARTIAL)
        try:
            with aside.open("wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
            os.replace(aside, target)
        except BaseException:
            aside.unlink(missing_ok=True)
            raise

    def get_to_file(self, key: str, path: Path) -> None:
        source = self.local_path(key)
        if source.resolve() != path.resolve():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)

    def size(self, key: str) -> int | None:
        path = self.local_path(key)
        return path.stat().st_size if path.is_file() else None

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with self.local_path(key).open("rb") as f:
            f.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                block = f.read(CHUNK if left is None else min(CHUNK, left))
                if not block:
                    return
                left = None if left is None else left - len(block)
                yield block

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.root / _safe(prefix.rstrip("/")), ignore_errors=True)

    def delete(self, key: str) -> None:
        self.local_path(key).unlink(missing_ok=True)

    def presign(self, key: str, seconds: int) -> str | None:
        return None  # a local file is served by the API itself


class ObjectStorage:
    """An S3-compatible bucket (AWS S3, MinIO, Ceph, …): nodes that share no disk."""

    def __init__(
        self, url: str, *, endpoint: str | None, region: str | None, read_timeout: float = 30.0
    ) -> None:
        """``read_timeout``: longest wait for the next bytes of an answer (it resets as
        bytes arrive, so a long download is fine)."""
        from obstore.store import S3Store

        if not url.startswith("s3://"):
            raise ValueError(f"TFJOBS_STORAGE_URL must be a folder or s3://bucket/prefix, not {url!r}")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        options: dict[str, Any] = {}
        if endpoint:
            options["endpoint"] = endpoint
            options["virtual_hosted_style_request"] = False  # MinIO, Ceph and test servers
        if region:
            options["region"] = region
        self.url = url
        # Credentials come from the standard AWS_* variables, as every S3 client reads them.
        self.store = S3Store(
            bucket,
            prefix=prefix.strip("/") or None,
            client_options={
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "connect_timeout": CONNECT_TIMEOUT,
                "read_timeout": timedelta(seconds=read_timeout),
            },
            retry_config=RETRIES,
            **options,
        )

    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        import obstore

        with path.open("rb") as f:
            obstore.put(self.store, _safe(key), f)
        if move:
            path.unlink(missing_ok=True)

    def put_stream(self, key: str, stream: IO[bytes]) -> None:
        import obstore

        obstore.put(self.store, _safe(key), stream)

    def get_to_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(path.name + PARTIAL)
        try:
            with aside.open("wb") as out:
                for block in self.read(key):
                    out.write(block)
            os.replace(aside, path)
        except BaseException:
            aside.unlink(missing_ok=True)
            raise

    def size(self, key: str) -> int | None:
        import obstore

        try:
            return int(obstore.head(self.store, _safe(key))["size"])
        except FileNotFoundError:
            return None

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        import obstore

        options: Any = None
        if start or end is not None:
            options = {"range": (start, end if end is not None else self.size(key) or 0)}
        result = obstore.get(self.store, _safe(key), options=options)
        for block in result.stream(min_chunk_size=CHUNK):
            yield bytes(block)

    async def open_read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start:end`` of the object, streamed on the event loop (no thread held
        while the store is slow). The request is made before this returns, so a store that
        is down raises :class:`StorageUnavailable` before a response has begun."""
        import obstore

        try:
            result = await obstore.get_async(self.store, _safe(key), options={"range": (start, end)})
        except FileNotFoundError:
            raise
        except Exception as err:
            raise StorageUnavailable(f"{self.url}: {key}: {err}") from err
        return _chunks(result.stream(min_chunk_size=CHUNK))

    def list(self, prefix: str) -> list[str]:
        import obstore

        return sorted(str(m["path"]) for batch in obstore.list(self.store, prefix=prefix) for m in batch)

    def delete_prefix(self, prefix: str) -> None:
        import obstore

        keys = self.list(_safe(prefix.rstrip("/")) + "/")
        for start in range(0, len(keys), 1000):
            obstore.delete(self.store, keys[start : start + 1000])

    def delete(self, key: str) -> None:
        import obstore

        obstore.delete(self.store, _safe(key))

    def local_path(self, key: str) -> Path | None:
        return None

    def presign(self, key: str, seconds: int) -> str | None:
        import obstore

        return str(obstore.sign(self.store, "GET", _safe(key), timedelta(seconds=seconds)))


async def _chunks(stream: Any) -> AsyncIterator[bytes]:
    async for block in stream:
        yield bytes(block)


def open_storage(settings: Any, area: str) -> Storage:
    """The storage of ``area`` (``artifacts`` or ``datasets``) for these settings."""
    if settings.storage_url and settings.storage_url.startswith("s3://"):
        return _bucket(
            f"{settings.storage_url.rstrip('/')}/{area}",
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.storage_timeout_seconds,
        )
    root = Path(settings.storage_url) / area if settings.storage_url else None
    return LocalStorage(root or (settings.artifacts_root if area == "artifacts" else settings.datasets_root))


@functools.cache
def _bucket(url: str, endpoint: str | None, region: str | None, read_timeout: float) -> ObjectStorage:
    """One client (and its connection pool) per bucket and process, not one per request."""
    return ObjectStorage(url, endpoint=endpoint, region=region, read_timeout=read_timeout)
