"""/models: the registry — a name, its versions (succeeded jobs' models) and aliases that
point at one version each (``production``, ``staging`` or any name); their files, and
predictions from a version or an alias through the model server (app/serving.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.core.strictquery import StrictQueryRoute
from app.deps import OwnerDep, SettingsDep, StoreDep
from app.errors import Conflict, InvalidInput, NotFound
from app.lookup import find_job
from app.routes.artifacts import serve_artifact
from app.schemas import (
    NAME_PATTERN,
    AliasPublic,
    AliasSet,
    ModelCreate,
    ModelPublic,
    ModelsPublic,
    ModelVersionPublic,
    PredictionsPublic,
    PredictRequest,
    VersionCreate,
    json_response,
)
from app.serving import predict
from app.store import artifacts as store_artifacts
from app.store import models as store_models
from app.store import webhooks as store_webhooks
from app.store.db import Store
from app.store.tables import Artifact, ModelVersion, RegisteredModel
from tfjobs import JobStatus

__all__ = ["router"]

router = APIRouter(prefix="/models", tags=["models"], route_class=StrictQueryRoute)

ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="the model's name")]
# a name with a letter in it: a number would read as a version
ALIAS_PATTERN = r"^([A-Za-z]|[0-9]+[A-Za-z._-])[A-Za-z0-9._-]*$"
AliasName = Annotated[
    str,
    Path(
        pattern=ALIAS_PATTERN,
        max_length=64,
        description="an alias: `production`, `staging`, … (not a number)",
    ),
]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000, description="a version number")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such model, version or alias"}}


def _model(session: Session, owner: str, name: str) -> RegisteredModel:
    model = store_models.get_model(session, owner=owner, name=name)
    if model is None:
        raise NotFound(f"no model {name!r}")
    return model


def _version(session: Session, model: RegisteredModel, version: int) -> ModelVersion:
    row = store_models.get_version(session, model=model, version=version)
    if row is None:
        raise NotFound(f"model {model.name!r} has no version {version}")
    return row


def _aliased(session: Session, model: RegisteredModel, alias: str) -> ModelVersion:
    row = store_models.resolve(session, model=model, alias=alias)
    if row is None:
        raise NotFound(f"model {model.name!r} has no alias {alias!r}")
    return row


def _public(session: Session, model: RegisteredModel, *, with_versions: bool) -> ModelPublic:
    aliases = store_models.aliases_of(session, model=model)
    versions = store_models.versions_of(session, model=model) if with_versions else None
    return ModelPublic(
        name=model.name,
        description=model.description,
        tags=list(model.tags or []),
        created_at=model.created_at,
        aliases=aliases,
        latest_version=model.last_version or None,
        versions=[ModelVersionPublic.of(v, aliases) for v in versions] if versions is not None else None,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelPublic,
    responses={409: {"description": "you have a model of that name"}},
)
def create_model(body: ModelCreate, store: StoreDep, owner: OwnerDep) -> Response:
    """Names a model; register versions of it from succeeded jobs next."""
    try:
        with store.session() as session:
            model = store_models.create_model(
                session, owner=owner, name=body.name, description=body.description, tags=body.tags
            )
            public = _public(session, model, with_versions=True)
    except IntegrityError:
        raise Conflict(f"you already have a model named {body.name!r}") from None
    return json_response(public, status.HTTP_201_CREATED, {"Location": f"/models/{body.name}"})


@router.get("", response_model=ModelsPublic)
def list_models(store: StoreDep, owner: OwnerDep) -> ModelsPublic:
    """Your models by name, each with its aliases and latest version."""
    with store.session() as session:
        return ModelsPublic(
            items=[
                _public(session, m, with_versions=False)
                for m, _ in store_models.list_models(session, owner=owner)
            ]
        )


@router.get("/{name}", response_model=ModelPublic, responses=NOT_FOUND)
def get_model(name: ModelName, store: StoreDep, owner: OwnerDep) -> ModelPublic:
    """One model: every version (the job that made it, its spec and final metrics) and the aliases."""
    with store.session() as session:
        return _public(session, _model(session, owner, name), with_versions=True)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_model(name: ModelName, store: StoreDep, owner: OwnerDep) -> Response:
    """Deletes the model, its versions and aliases (the jobs and their files stay)."""
    with store.session() as session:
        store_models.delete_model(session, model=_model(session, owner, name))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{name}/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelVersionPublic,
    responses={**NOT_FOUND, 409: {"description": "the job has not succeeded, or has no model.keras"}},
)
def create_version(name: ModelName, body: VersionCreate, store: StoreDep, owner: OwnerDep) -> Response:
    """Registers a succeeded job's model as the next version (1, 2, …). The version keeps
    serving the job's files: deleting that job is refused while a version uses it."""
    with store.session() as session:
        model = _model(session, owner, name)
        job = find_job(session, body.job_id, owner)
        if job.status != JobStatus.SUCCEEDED:
            raise Conflict(f"job {job.id} is {job.status}: only a succeeded job's model can be registered")
        keras_file = store_artifacts.get_artifact(session, job_id=job.id, name="model.keras")
        if keras_file is None:
            raise Conflict(f"job {job.id} has no model.keras to register")
        row = store_models.add_version(
            session, model=model, job_id=job.id, sha256=keras_file.sha256, spec=job.spec, summary=job.summary
        )
        public = ModelVersionPublic.of(row, {})
        store_webhooks.emit(
            session,
            owner=owner,
            event="model.version_created",
            data={"model": model.name, "version": row.version, "job_id": job.id, "sha256": row.sha256},
        )
    return json_response(
        public, status.HTTP_201_CREATED, {"Location": f"/models/{name}/versions/{row.version}"}
    )


@router.get("/{name}/versions/{version}", response_model=ModelVersionPublic, responses=NOT_FOUND)
def get_version(
    name: ModelName, version: VersionNumber, store: StoreDep, owner: OwnerDep
) -> ModelVersionPublic:
    """One version: the job that made it, its spec and final metrics, model.keras's sha256."""
    with store.session() as session:
        model = _model(session, owner, name)
        return ModelVersionPublic.of(
            _version(session, model, version), store_models.aliases_of(session, model=model)
        )


@router.delete(
    "/{name}/versions/{version}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, 409: {"description": "an alias points at it"}},
)
def delete_version(name: ModelName, version: VersionNumber, store: StoreDep, owner: OwnerDep) -> Response:
    """Deletes a version (its number is never given again); refused while an alias points at it."""
    with store.session() as session:
        model = _model(session, owner, name)
        row = _version(session, model, version)
        pointing = sorted(a for a, v in store_models.aliases_of(session, model=model).items() if v == version)
        if pointing:
            raise Conflict(f"version {version} is {', '.join(pointing)}: move or delete the alias first")
        store_models.delete_version(session, version=row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{name}/aliases/{alias}",
    response_model=AliasPublic,
    responses={**NOT_FOUND, 409: {"description": "the model has no such version"}},
)
def set_alias(
    name: ModelName, alias: AliasName, body: Annotated[AliasSet, Body()], store: StoreDep, owner: OwnerDep
) -> AliasPublic:
    """Points the alias at a version (creating or moving it). Predictions through the alias
    answer from the new version at once (the model server loads it on its first request)."""
    if alias.isdigit():
        raise InvalidInput(
            [{"loc": ["path", "alias"], "msg": "an alias is a name, not a number", "type": "value_error"}]
        )
    with store.session() as session:
        model = _model(session, owner, name)
        if store_models.get_version(session, model=model, version=body.version) is None:
            raise Conflict(f"model {name!r} has no version {body.version}")
        previous = store_models.set_alias(session, model=model, alias=alias, version=body.version)
        if previous != body.version:
            store_webhooks.emit(
                session,
                owner=owner,
                event="model.alias_moved",
                data={"model": model.name, "alias": alias, "version": body.version, "previous": previous},
            )
    return AliasPublic(alias=alias, version=body.version, previous=previous)


@router.delete("/{name}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_alias(name: ModelName, alias: AliasName, store: StoreDep, owner: OwnerDep) -> Response:
    """Removes the alias (its version stays); predictions through it answer 404."""
    with store.session() as session:
        if not store_models.delete_alias(session, model=_model(session, owner, name), alias=alias):
            raise NotFound(f"model {name!r} has no alias {alias!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- files and predictions, by version or by alias ----------------------------------------


def _file(store: Store, owner: str, name: str, file: str, version: int | None, alias: str | None) -> Artifact:
    with store.session() as session:
        model = _model(session, owner, name)
        row = (
            _version(session, model, version) if version is not None else _aliased(session, model, str(alias))
        )
        artifact = store_artifacts.get_artifact(session, job_id=row.job_id, name=file)
    if artifact is None:
        raise NotFound(f"model {name!r} version {row.version} has no file {file!r}")
    return artifact


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}},
    206: {"description": "the requested byte range (`Range`)"},
    **NOT_FOUND,
    416: {"description": "a range beyond the file"},
    503: {"description": "the artifact storage is not answering"},
}


@router.get("/{name}/versions/{version}/artifacts/{file}", response_class=Response, responses=FILE_RESPONSES)
async def version_file(
    name: ModelName,
    version: VersionNumber,
    file: str,
    request: Request,
    store: StoreDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> Response:
    """The version's file: the same bytes, ETag and ranges as its job's artifact."""
    artifact = await run_in_threadpool(_file, store, owner, name, file, version, None)
    return await serve_artifact(artifact, request, settings, redirect=False)


@router.get("/{name}/aliases/{alias}/artifacts/{file}", response_class=Response, responses=FILE_RESPONSES)
async def alias_file(
    name: ModelName,
    alias: AliasName,
    file: str,
    request: Request,
    store: StoreDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> Response:
    """The file of the version the alias points at now."""
    artifact = await run_in_threadpool(_file, store, owner, name, file, None, alias)
    return await serve_artifact(artifact, request, settings, redirect=False)


PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    422: {"description": "instances that do not fit the model's input (shape, type, count)"},
    503: {"description": "no model server is running, or it did not answer"},
}


@router.post(
    "/{name}/versions/{version}/predict", response_model=PredictionsPublic, responses=PREDICT_RESPONSES
)
async def predict_version(
    request: Request,
    name: ModelName,
    version: VersionNumber,
    body: PredictRequest,
    store: StoreDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> PredictionsPublic:
    """Predictions of one version: `{"instances": [[…], …]}` → `{"predictions": […], "version": n}`."""
    artifact = await run_in_threadpool(_file, store, owner, name, "model.keras", version, None)
    return PredictionsPublic(
        predictions=await predict(settings, request.app.state.serve_client, artifact, body.instances),
        version=version,
    )


@router.post("/{name}/aliases/{alias}/predict", response_model=PredictionsPublic, responses=PREDICT_RESPONSES)
async def predict_alias(
    request: Request,
    name: ModelName,
    alias: AliasName,
    body: PredictRequest,
    store: StoreDep,
    owner: OwnerDep,
    settings: SettingsDep,
) -> PredictionsPublic:
    """Predictions of the version the alias points at now (read on every request: moving
    the alias takes effect with the next one)."""
    version, artifact = await run_in_threadpool(_aliased_file, store, owner, name, alias)
    return PredictionsPublic(
        predictions=await predict(settings, request.app.state.serve_client, artifact, body.instances),
        version=version,
    )


def _aliased_file(store: Store, owner: str, name: str, alias: str) -> tuple[int, Artifact]:
    with store.session() as session:
        row = _aliased(session, _model(session, owner, name), alias)
        version = row.version
    return version, _file(store, owner, name, "model.keras", version, None)
