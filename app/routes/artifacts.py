"""/jobs/{id}/artifacts: the files of a finished job, served only by their recorded names."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.deps import OwnerDep, SessionDep, SettingsDep
from app.errors import NotFound
from app.lookup import find_job
from app.schemas import ArtifactPublic, ArtifactsPublic
from app.store import crud

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["artifacts"])


@router.get("/{job_id}/artifacts", response_model=ArtifactsPublic)
def list_artifacts(job_id: str, session: SessionDep, owner: OwnerDep) -> ArtifactsPublic:
    """The job's files: name, size and sha256 of each (empty until the job succeeds).

    `model.keras`, `saved_model.tar.gz`, `manifest.json`, `history.csv`,
    `tensorboard.tar.gz`.
    """
    job = find_job(session, job_id, owner)
    return ArtifactsPublic(items=[ArtifactPublic.of(a) for a in crud.list_artifacts(session, job_id=job.id)])


@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "the requested byte range (`Range`), to resume a download"},
        404: {"description": "no such job or artifact"},
        416: {"description": "a range beyond the file"},
    },
)
def download_artifact(
    job_id: str, name: str, session: SessionDep, owner: OwnerDep, settings: SettingsDep
) -> FileResponse:
    """Download one of the job's files by its listed name.

    The response has `Content-Length` and `ETag` (the file's sha256, quoted); check the
    bytes against the listing's sha256. `Range: bytes=N-` resumes an interrupted download
    (206 with the rest); send `If-Range` with the ETag to get the whole file instead if it
    changed. Any name that is not listed is 404.
    """
    job = find_job(session, job_id, owner)
    artifact = crud.get_artifact(session, job_id=job.id, name=name)
    if artifact is None:
        raise NotFound(f"job {job.id} has no artifact {name!r}")
    # The path comes from the store (written by the worker), never from the request.
    root = settings.artifacts_root
    path = (root / artifact.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"artifact {name!r} is missing from the artifact volume")
    return FileResponse(
        path,
        filename=artifact.name,
        media_type="application/octet-stream",
        # The sha256 is the file's identity: a resumed download can ask for "the rest of
        # exactly this file" (If-Range), which an mtime-based ETag could not promise.
        headers={"X-Checksum-SHA256": artifact.sha256, "ETag": f'"{artifact.sha256}"'},
    )
