"""The reconciler: the store is the source of truth, the broker only a hint.

Every few seconds (a quarter of the lease) it
* re-queues running jobs whose lease ran out — their worker was killed, ran out of
  memory or lost its node — and re-sends their message, so any worker resumes them
  from their last checkpoint; after ``max_attempts`` *lost* attempts such a job fails
  instead (a hand-back by a stopping worker is an attempt, for fencing, but no loss);
* moves every unfinished sweep on (app/sweeps/driver.py), in case the process that
  should have done it was killed;
* re-sends the message of jobs queued for longer than a lease when the broker's queue
  holds fewer messages than there are queued jobs: if Redis restarted or was flushed,
  the message is gone but the job is not; jobs merely waiting for a free worker keep
  theirs and get no second one. A duplicate message is harmless anyway: claiming a job
  is a conditional update, so only one delivery ever trains it.

Each change is a conditional update, so several API processes can run it at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from celery import Celery

from app.core.broker import QUEUE, TaskName, queue_depth
from app.core.config import Settings
from app.store import crud
from app.store.db import Store
from app.store.errors import LeaseLost
from app.store.tables import utcnow
from app.sweeps.driver import advance_all
from tfjobs import JobStatus

__all__ = ["Reconciler", "reconcile_once"]

log = logging.getLogger(__name__)


ATTEMPT_LOST = "lost"  # an attempt whose worker stopped answering (its lease ran out)


def _lost_message(
    history: list[tuple[int, str, str | None]], lost: list[int], attempt: int, host: str | None, limit: int
) -> str:
    """What happened to the job, attempt by attempt: losses count, hand-backs do not."""
    handed_back = sum(outcome == "handed_back" for _, _, outcome in history)
    hosts = sorted({h for n, h, _ in history if n in lost} | ({host} if host else set()))
    extra = f"; {handed_back} more handed back by a stopping worker (not counted)" if handed_back else ""
    return (
        f"its worker was lost {len(lost)} times (attempts {', '.join(map(str, lost))} on "
        f"{', '.join(hosts)}; the last was attempt {attempt}){extra}: giving up after "
        f"TFJOBS_MAX_ATTEMPTS={limit} lost attempts"
    )


def reconcile_once(
    store: Store, celery: Celery, settings: Settings, *, depth_of: Callable[[], int | None] | None = None
) -> dict[str, int]:
    """One pass; returns how many jobs it re-queued, failed and re-sent. ``depth_of``
    overrides how the broker's queue depth is read (tests)."""
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    requeued: list[str] = []
    now = utcnow()
    with store.session() as session:
        expired = [(j.id, j.attempts, j.worker_hostname) for j in crud.expired_leases(session, now=now)]
    for job_id, attempt, host in expired:
        try:
            with store.session() as session:
                history = crud.attempt_outcomes(session, job_id=job_id)
                lost = [n for n, _, outcome in history if outcome == ATTEMPT_LOST or n == attempt]
                if len(lost) >= settings.max_attempts:
                    crud.finish_job(
                        session,
                        job_id=job_id,
                        status=JobStatus.FAILED,
                        attempt=attempt,
                        error_type="worker_lost",
                        error_message=_lost_message(history, lost, attempt, host, settings.max_attempts),
                    )
                    counts["failed"] += 1
                    continue
                crud.release_job(session, job_id=job_id, attempt=attempt, outcome=ATTEMPT_LOST)
            log.warning("job %s: the lease of attempt %d on %s expired; re-queued", job_id, attempt, host)
            counts["requeued"] += 1
            requeued.append(job_id)
        except LeaseLost:
            continue  # another reconciler, or the worker itself, got there first
    before = now - timedelta(seconds=settings.lease_seconds)
    with store.session() as session:
        stale = [j.id for j in crud.stale_queued(session, before=before)]
        waiting = crud.count_all_queued(session) if stale else 0
    if stale:
        # Jobs waiting for a free worker still have their message in the queue: re-send only
        # as many as the queue is short of (Redis flushed or restarted), oldest first.
        depth = queue_depth(celery) if depth_of is None else depth_of()
        missing = waiting - depth if depth is not None else len(stale)
        stale = stale[: max(0, missing)]
    stale += requeued
    for job_id in dict.fromkeys(stale):
        try:
            celery.send_task(TaskName.TRAIN, kwargs={"job_id": job_id}, queue=QUEUE)
        except Exception as err:  # the broker is down: try again next pass
            log.warning("reconciler: cannot enqueue %s: %s", job_id, err)
            continue
        with store.session() as session:
            crud.mark_enqueued(session, job_id=job_id)
        counts["resent"] += 1
    return counts


class Reconciler:
    """Runs :func:`reconcile_once` in a daemon thread until stopped."""

    def __init__(self, store: Store, celery: Celery, settings: Settings) -> None:
        self.store, self.celery, self.settings = store, celery, settings
        self.interval = max(0.5, settings.lease_seconds / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                counts = reconcile_once(self.store, self.celery, self.settings)
                if any(counts.values()):
                    log.info("reconciler: %s", counts)
                advance_all(self.store, self.celery, self.settings)
            except Exception as err:  # a store or broker outage: the next pass retries
                log.warning("reconciler pass failed: %s", err)
