"""/datasets: built-ins and uploads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from app.core.strictquery import StrictQueryRoute
from app.core.threads import Lane
from app.datasets import builtin_datasets, save_upload
from app.deps import OwnerDep, SettingsDep, StoreDep
from app.errors import Conflict
from app.lookup import find_dataset
from app.schemas import DatasetPublic
from app.storage import open_storage
from app.store import datasets as store_datasets
from app.store import sweeps as store_sweeps

__all__ = ["router"]

router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=StrictQueryRoute)
# Parsing an upload can hold a thread for seconds: two at a time per API process, on
# threads of their own, so uploads never stall other requests (app/core/threads.py).
UPLOADS = Lane(2)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetPublic,
    responses={
        413: {"description": "upload over TFJOBS_MAX_UPLOAD_MB"},
        422: {"description": "not a usable CSV or NPZ"},
    },
)
async def upload_dataset(
    file: Annotated[UploadFile, File(description="a CSV (with header) or NPZ")],
    store: StoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
    target: Annotated[
        str | None,
        Form(
            max_length=255,
            pattern=r"^[^\x00-\x1f\x7f]*$",
            description="a CSV's label column: required for a CSV (422 without it); "
            "not used for an NPZ (its labels are `y`)",
        ),
    ] = None,
) -> DatasetPublic:
    """Upload a dataset: a CSV (header row, numeric cells; name the label column in
    `target`) or an NPZ (arrays `x` and `y`).

    The file is checked completely before anything is kept (rows, features, numbers,
    size); a bad file is 422 naming the row or column, an oversized one 413.
    """

    def save() -> DatasetPublic:
        with store.session() as session:
            return DatasetPublic.of(
                save_upload(
                    session,
                    upload=file.file,
                    filename=file.filename or "",
                    target=target,
                    owner=owner,
                    settings=settings,
                )
            )

    return await UPLOADS.run(save)


@router.delete(
    "/{dataset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: {"description": "no such uploaded dataset"},
        409: {"description": "a queued or running job, or an unfinished sweep, uses it"},
    },
)
def delete_dataset(dataset_id: str, store: StoreDep, owner: OwnerDep, settings: SettingsDep) -> Response:
    """Deletes an uploaded dataset and its file, unless a queued or running job or an
    unfinished sweep still needs it (409)."""
    with store.session() as session:
        dataset = find_dataset(session, dataset_id, owner)
        users = store_datasets.jobs_using_dataset(session, dataset_id=dataset.id)
        if users:
            raise Conflict(
                f"dataset {dataset.id} is used by {len(users)} queued or running job(s) "
                f"({', '.join(u[:8] for u in users[:5])}); let them finish or cancel them first"
            )
        sweeps = store_sweeps.active_sweeps_using(session, dataset_id=dataset.id)
        if sweeps:  # its next trials would fail one by one (39 did), and the sweep end `succeeded`
            raise Conflict(
                f"dataset {dataset.id} is used by {len(sweeps)} unfinished sweep(s) "
                f"({', '.join(s[:8] for s in sweeps[:5])}); let them finish or cancel them first"
            )
        key = dataset.path
        session.delete(dataset)
    open_storage(settings, "datasets").delete(key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=list[DatasetPublic])
def list_datasets(store: StoreDep, owner: OwnerDep) -> list[DatasetPublic]:
    """The built-in datasets and your uploads, with their rows, features, target and task.

    A job spec names one in `dataset` by id, a unique id prefix, or a unique name.
    """
    with store.session() as session:
        uploaded = [DatasetPublic.of(d) for d in store_datasets.list_datasets(session, owner=owner)]
    return builtin_datasets() + uploaded
