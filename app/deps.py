"""Request dependencies as ``Annotated`` aliases, so a handler reads like its contract.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the thread
pool, one hop per dependency per request (a sync generator costs two: enter and exit).
These only read ``app.state``, so they run on the event loop; the session's one piece of
I/O, its commit or rollback at the end, goes to the thread pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.auth import LOCAL_OWNER, owner_of
from app.core.config import Settings
from app.store.db import Store

__all__ = ["CeleryDep", "OwnerDep", "SessionDep", "SettingsDep", "StoreDep", "caller", "known_caller"]


async def _store(request: Request) -> Store:
    return request.app.state.store


async def _session(request: Request) -> AsyncIterator[Session]:
    # Entering costs no I/O: the session takes a connection at its first statement, in
    # the handler's own thread.
    scope = request.app.state.store.session()
    session = scope.__enter__()
    try:
        yield session
    except BaseException as err:
        await run_in_threadpool(scope.__exit__, type(err), err, err.__traceback__)
        raise
    await run_in_threadpool(scope.__exit__, None, None, None)


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _celery(request: Request) -> Celery:
    return request.app.state.celery


def known_caller(request: Request) -> str | None:
    """The caller's owner name when it needs no lookup: "local" with auth off, else what
    the Authenticate middleware found (None if it did not run)."""
    if not request.app.state.settings.auth:
        return LOCAL_OWNER
    return getattr(request.state, "owner", None)


def caller(request: Request) -> str:
    """The caller's owner name, for a handler that takes only the request (the hottest
    routes: FastAPI's dependency solving is most of their cost). Sync: it may read the store."""
    owner = known_caller(request)
    return (
        owner
        if owner is not None
        else owner_of(request.app.state.store, request.headers.get("authorization"))
    )


async def _owner(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's owner name: found by the Authenticate middleware with auth on, else "local"."""
    owner = known_caller(request)
    if owner is not None:
        return owner
    return await run_in_threadpool(owner_of, request.app.state.store, authorization)


StoreDep = Annotated[Store, Depends(_store)]
SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CeleryDep = Annotated[Celery, Depends(_celery)]
OwnerDep = Annotated[str, Depends(_owner)]
