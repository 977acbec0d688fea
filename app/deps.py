"""Request dependencies as ``Annotated`` aliases, so a handler reads like its contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from app.auth import LOCAL_OWNER, owner_of
from app.core.config import Settings
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


def _owner(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's owner name: found by the Authenticate middleware with auth on, else "local"."""
    settings: Settings = request.app.state.settings
    if not settings.auth:
        return LOCAL_OWNER
    owner = getattr(request.state, "owner", None)
    return owner if owner is not None else owner_of(request.app.state.store, authorization)


StoreDep = Annotated[Store, Depends(_store)]
SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CeleryDep = Annotated[Celery, Depends(_celery)]
OwnerDep = Annotated[str, Depends(_owner)]
