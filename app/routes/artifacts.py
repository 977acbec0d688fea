"""/jobs/{id}/artifacts: the files of a finished job, served only by their recorded names."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from secrets import token_hex
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.strictquery import StrictQueryRoute
from app.deps import OwnerDep, SettingsDep, StoreDep
from app.errors import NotFound, Unavailable
from app.lookup import find_job
from app.schemas import ArtifactPublic, ArtifactsPublic
from app.storage import ObjectStorage, StorageUnavailable, open_storage
from app.store import artifacts as store_artifacts
from app.store.db import Store
from app.store.tables import Artifact

__all__ = ["router", "serve_artifact"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["artifacts"], route_class=StrictQueryRoute)


@router.get("/{job_id}/artifacts", response_model=ArtifactsPublic)
def list_artifacts(job_id: str, store: StoreDep, owner: OwnerDep) -> ArtifactsPublic:
    """The job's files: name, size and sha256 of each (empty until the job succeeds).

    `model.keras`, `saved_model.tar.gz`, `manifest.json`, `history.csv`,
    `tensorboard.tar.gz`.
    """
    with store.session() as session:
        job = find_job(session, job_id, owner)
        return ArtifactsPublic(
            items=[ArtifactPublic.of(a) for a in store_artifacts.list_artifacts(session, job_id=job.id)]
        )


@router.head(
    "/{job_id}/artifacts/{name}",
    operation_id="head_artifact",
    summary="The headers a download would have (size, ETag, ranges), without the body",
    response_class=Response,
    responses={404: {"description": "no such job or artifact"}},
)
@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "the requested byte range (`Range`), to resume a download"},
        307: {"description": "with `redirect=1` and S3 storage: a short-lived presigned URL"},
        404: {"description": "no such job or artifact"},
        416: {"description": "a range beyond the file"},
        503: {"description": "the artifact storage is not answering"},
    },
)
async def download_artifact(
    job_id: str,
    name: str,
    request: Request,
    store: StoreDep,
    owner: OwnerDep,
    settings: SettingsDep,
    redirect: Annotated[bool, Query(description="S3 storage: answer 307 to a presigned URL")] = False,
) -> Response:
    """Download one of the job's files by its listed name.

    The response has `Content-Length` and `ETag` (the file's sha256, quoted); check the
    bytes against the listing's sha256. `Range: bytes=N-` resumes an interrupted download
    (206 with the rest); send `If-Range` with the ETag to get the whole file instead if it
    changed. With S3 storage, `redirect=1` answers 307 to a presigned URL valid for
    `TFJOBS_PRESIGN_SECONDS` (the owner is checked first). Any name not listed is 404; a
    storage that does not answer is 503 before anything is sent.
    """
    # Async, so a slow object store holds no thread: the store lookup is one thread hop,
    # the bytes stream on the event loop.
    artifact = await run_in_threadpool(_listed, store, job_id, owner, name)
    return await serve_artifact(artifact, request, settings, redirect=redirect)


async def serve_artifact(
    artifact: Artifact, request: Request, settings: Settings, *, redirect: bool
) -> Response:
    """One listed file's bytes (Range, If-Range, ETag, HEAD, S3 redirect): a job's
    download and a registered model version's are this one function."""
    name = artifact.name
    storage = open_storage(settings, "artifacts")
    etag = f'"{artifact.sha256}"'
    # The key comes from the store (written by the worker), never from the request.
    local = storage.local_path(artifact.path)
    if local is not None:
        if not local.is_file():
            raise NotFound(f"artifact {name!r} is missing from the artifact storage")
        # The sha256 is the file's identity: a resumed download can ask for "the rest of
        # exactly this file" (If-Range), which an mtime-based ETag could not promise.
        return _LocalFile(
            local,
            filename=artifact.name,
            media_type="application/octet-stream",
            headers={"X-Checksum-SHA256": artifact.sha256, "ETag": etag},
        )
    if redirect:
        url = storage.presign(artifact.path, settings.presign_seconds)
        return RedirectResponse(url or request.url.path, status_code=307)
    assert isinstance(storage, ObjectStorage)
    return await ranged(storage, artifact.path, artifact.size, etag, request, filename=artifact.name)


def _listed(store: Store, job_id: str, owner: str, name: str) -> Artifact:
    with store.session() as session:
        job = find_job(session, job_id, owner)
        artifact = store_artifacts.get_artifact(session, job_id=job.id, name=name)
    if artifact is None:
        raise NotFound(f"job {job.id} has no artifact {name!r}")
    return artifact


class _LocalFile(FileResponse):
    """Starlette's FileResponse, except that a Range in a unit other than bytes is ignored
    (the whole file, 200), as RFC 9110 asks, rather than refused: the same as from S3."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _foreign_range(Headers(scope=scope).get("range")):
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"range"]}
        await super().__call__(scope, receive, send)


def _foreign_range(header: str | None) -> bool:
    return header is not None and header.split("=", 1)[0].strip().lower() != "bytes"


async def ranged(
    storage: ObjectStorage, key: str, size: int, etag: str, request: Request, *, filename: str
) -> Response:
    """The object (or the ranges asked for) streamed from storage, answered exactly as
    Starlette's FileResponse answers for a local file: suffix and open ranges, several
    ranges as multipart/byteranges, 416 beyond the end, 400 for a malformed one, a range
    in another unit ignored, `If-Range` honoured, HEAD without a body. The store is asked
    before the response starts: if it does not answer, the client gets a 503, never a 200
    that breaks off."""
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Checksum-SHA256": etag.strip('"'),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    ranges = [(0, size)]
    if wanted and not _foreign_range(wanted) and (if_range is None or if_range == etag) and size:
        try:  # Starlette's own parser, so both homes of a file read a Range alike (a test holds it)
            ranges = FileResponse._parse_range_header(wanted, size) or [(0, size)]
        except MalformedRangeHeader as err:
            return PlainTextResponse(err.content, status_code=400)
        except RangeNotSatisfiable:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    partial = ranges != [(0, size)]
    if len(ranges) == 1 and partial:
        ((start, end),) = ranges
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    boundary = token_hex(13)
    if len(ranges) > 1:
        length, part_head = FileResponse(__file__).generate_multipart(
            ranges, boundary, size, "application/octet-stream"
        )
        media = f"multipart/byteranges; boundary={boundary}"
    else:
        length, media = ranges[0][1] - ranges[0][0], "application/octet-stream"
    headers["Content-Length"] = str(length)
    status = 206 if partial else 200
    if request.method == "HEAD":
        return Response(status_code=status, media_type=media, headers=headers)
    try:
        first = await storage.open_read(key, *ranges[0]) if size else _empty()
    except StorageUnavailable as err:
        log.warning("artifact %s: storage unavailable: %s", key, err)  # the detail, for operators
        raise Unavailable("the artifact storage is not answering; try again in a minute") from None
    if len(ranges) == 1:
        return StreamingResponse(first, status_code=status, media_type=media, headers=headers)

    async def parts() -> AsyncIterator[bytes]:
        for i, (start, end) in enumerate(ranges):
            yield part_head(start, end)
            async for block in first if i == 0 else await storage.open_read(key, start, end):
                yield block
            yield b"\r\n"
        yield f"--{boundary}--".encode()  # byte for byte what FileResponse sends

    return StreamingResponse(parts(), status_code=206, media_type=media, headers=headers)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""
