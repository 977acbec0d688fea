"""Request dependencies as ``Annotated`` aliases, so a handler reads like its contract.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the thread
pool, one hop per dependency per request. These only read ``app.state``, so they run on
the event loop.

There is no session dependency, on purpose: a dependency's session lives from before the
handler's thread starts until after it ends, so it holds a pooled connection while it
waits for a thread to commit. With every thread waiting in ``pool.connect()`` for one of
those connections, the whole API froze (issue 27: 64 concurrent lists, /healthz silent for
90 s). A handler opens ``with store.session()`` inside its own thread instead: a connection
is only ever held by a thread that is running, so at most one per thread is out.
"""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from app.auth import LOCAL_OWNER, owner_of
from app.core.config import Settings
from app.store.db import Store

__all__ = ["CeleryDep", "OwnerDep", "SettingsDep", "StoreDep", "caller", "known_caller"]


async def _store(request: Request) -> Store:
    return request.app.state.store


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
SettingsDep = Annotated[Settings, Depends(_settings)]
CeleryDep = Annotated[Celery, Depends(_celery)]
OwnerDep = Annotated[str, Depends(_owner)]
