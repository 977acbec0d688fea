"""The model registry in the store: models, their versions (succeeded jobs) and aliases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.store.tables import ModelAlias, ModelVersion, RegisteredModel, utcnow

__all__ = [
    "add_version",
    "aliases_of",
    "backing_versions",
    "create_model",
    "delete_alias",
    "delete_model",
    "delete_version",
    "get_model",
    "get_version",
    "list_models",
    "resolve",
    "set_alias",
    "versions_of",
]


def create_model(
    session: Session, *, owner: str, name: str, description: str | None, tags: list[str] | None
) -> RegisteredModel:
    model = RegisteredModel(
        owner=owner, name=name, description=description, tags=tags, created_at=utcnow(), last_version=0
    )
    session.add(model)
    session.flush()
    return model


def get_model(session: Session, *, owner: str, name: str) -> RegisteredModel | None:
    return session.scalar(
        select(RegisteredModel).where(RegisteredModel.owner == owner, RegisteredModel.name == name)
    )


def list_models(session: Session, *, owner: str) -> list[tuple[RegisteredModel, int]]:
    """Each of ``owner``'s models with how many versions it has, by name."""
    counts = (
        select(ModelVersion.model_num, func.count().label("n")).group_by(ModelVersion.model_num).subquery()
    )
    rows = session.execute(
        select(RegisteredModel, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.model_num == RegisteredModel.num)
        .where(RegisteredModel.owner == owner)
        .order_by(RegisteredModel.name)
    )
    return [(model, int(n)) for model, n in rows]


def delete_model(session: Session, *, model: RegisteredModel) -> None:
    session.delete(model)  # versions and aliases go with it (ON DELETE CASCADE)


def add_version(
    session: Session, *, model: RegisteredModel, job_id: str, sha256: str, spec: dict[str, Any], summary: Any
) -> ModelVersion:
    """The next version number, taken by one conditional update: two registrations at
    once get two numbers, never the same one."""
    number = session.scalar(
        update(RegisteredModel)
        .where(RegisteredModel.num == model.num)
        .values(last_version=RegisteredModel.last_version + 1)
        .returning(RegisteredModel.last_version)
    )
    assert number is not None
    version = ModelVersion(
        model_num=model.num,
        version=number,
        job_id=job_id,
        sha256=sha256,
        spec=spec,
        summary=summary,
        created_at=utcnow(),
    )
    session.add(version)
    session.flush()
    return version


def versions_of(session: Session, *, model: RegisteredModel) -> list[ModelVersion]:
    return list(
        session.scalars(
            select(ModelVersion).where(ModelVersion.model_num == model.num).order_by(ModelVersion.version)
        )
    )


def get_version(session: Session, *, model: RegisteredModel, version: int) -> ModelVersion | None:
    return session.get(ModelVersion, (model.num, version))


def aliases_of(session: Session, *, model: RegisteredModel) -> dict[str, int]:
    rows = session.execute(
        select(ModelAlias.alias, ModelAlias.version)
        .where(ModelAlias.model_num == model.num)
        .order_by(ModelAlias.alias)
    )
    return {alias: version for alias, version in rows}


def set_alias(session: Session, *, model: RegisteredModel, alias: str, version: int) -> int | None:
    """Points ``alias`` at ``version``; returns the version it pointed at before (None: new)."""
    row = session.get(ModelAlias, (model.num, alias))
    if row is None:
        session.add(ModelAlias(model_num=model.num, alias=alias, version=version, updated_at=utcnow()))
        session.flush()
        return None
    before = row.version
    row.version, row.updated_at = version, utcnow()
    return before


def delete_alias(session: Session, *, model: RegisteredModel, alias: str) -> bool:
    row = session.get(ModelAlias, (model.num, alias))
    if row is None:
        return False
    session.delete(row)
    return True


def delete_version(session: Session, *, version: ModelVersion) -> None:
    session.delete(version)


def resolve(session: Session, *, model: RegisteredModel, alias: str) -> ModelVersion | None:
    row = session.get(ModelAlias, (model.num, alias))
    return get_version(session, model=model, version=row.version) if row else None


def backing_versions(session: Session, *, job_id: str) -> list[tuple[str, int]]:
    """(model name, version) of every version that serves this job's files."""
    rows = session.execute(
        select(RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, RegisteredModel.num == ModelVersion.model_num)
        .where(ModelVersion.job_id == job_id)
    )
    return [(name, version) for name, version in rows]
