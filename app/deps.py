"""Request dependencies as ``Annotated`` aliases, so a handler reads like its contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.errors import Unauthorized
from app.store import crud
from app.store.db import Store

__all__ = ["CeleryDep", "OwnerDep", "SessionDep", "SettingsDep", "StoreDep"]


def _store(request: Request) -> Store:
    return request.app.state.store


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.store.session() as session:
        yield session


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _celery(request: Request) -> Celery:
    return request.app.state.celery


LOCAL_OWNER = "local"


def _owner(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's owner name: from the bearer token with auth on, else "local"."""
    settings: Settings = request.app.state.settings
    if not settings.auth:
        return LOCAL_OWNER
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send `Authorization: Bearer <token>` (create one: tfjobs token create)")
    with request.app.state.store.session() as session:
        owner = crud.owner_of_token(session, token=token.strip())
    if owner is None:
        raise Unauthorized("unknown or revoked token")
    return owner


StoreDep = Annotated[Store, Depends(_store)]
SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CeleryDep = Annotated[Celery, Depends(_celery)]
OwnerDep = Annotated[str, Depends(_owner)]
