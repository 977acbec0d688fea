"""The API's dispatcher loop: every ``TFJOBS_DISPATCH_SECONDS`` it takes back jobs whose
message was lost or whose worker is gone, and runs a scheduler pass (app/scheduler.py).
Passes also run on every submit and whenever a worker finishes a job or starts, so this
loop only catches what those missed (a broker that was down, a worker that died).

An idle pass (nothing queued) is one indexed read: both halves only concern queued jobs,
so with none there is nothing to take back or send (idle API CPU had crept from 0.2 % to
1.1 % of a core with a full pass every second)."""

from __future__ import annotations

from celery import Celery

from app.core.config import Settings
from app.core.periodic import Periodic
from app.scheduler import dispatch, take_back_lost
from app.store import jobs as store_jobs
from app.store.db import Store

__all__ = ["Dispatcher"]


class Dispatcher(Periodic):
    def __init__(self, store: Store, celery: Celery, settings: Settings) -> None:
        def work() -> None:
            with store.session() as session:
                if not store_jobs.any_queued(session):
                    return
            take_back_lost(store, settings)
            dispatch(store, celery, settings)

        super().__init__("dispatcher", settings.dispatch_seconds, work)
