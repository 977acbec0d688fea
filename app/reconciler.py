"""The reconciler: the store is the source of truth, the broker only a carrier.

Every few seconds (a quarter of the lease) it
* re-queues running jobs whose lease ran out — their worker was killed, ran out of
  memory or lost its node — so the scheduler sends them to a free slot, where any worker
  resumes them from their last checkpoint; after ``max_attempts`` *lost* attempts such a
  job fails instead (a hand-back by a stopping worker is an attempt, for fencing, but no
  loss);
* forgets workers silent for an hour (requests only read the workers table);
* moves every unfinished sweep on (app/sweeps/driver.py), in case the process that
  should have done it was killed.

Lost messages (a flushed or restarted Redis) are the dispatcher's: see app/scheduler.py.
Each change is a conditional update, so several API processes can run it at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Celery

from app.core.config import Settings
from app.core.periodic import Periodic
from app.scheduler import dispatch
from app.store import jobs as store_jobs
from app.store import workers as store_workers
from app.store.db import Store
from app.store.errors import LeaseLost
from app.store.tables import utcnow
from app.sweeps.driver import advance_all
from tfjobs import AttemptOutcome, JobStatus

__all__ = ["Reconciler", "reconcile_once"]

log = logging.getLogger(__name__)


WORKER_FORGOTTEN = timedelta(hours=1)  # a worker row silent this long is deleted


def _lost_message(
    history: list[tuple[int, str, str | None]], lost: list[int], attempt: int, host: str | None, limit: int
) -> str:
    """What happened to the job, attempt by attempt: losses count, hand-backs do not."""
    handed_back = sum(outcome == AttemptOutcome.HANDED_BACK for _, _, outcome in history)
    hosts = sorted({h for n, h, _ in history if n in lost} | ({host} if host else set()))
    extra = f"; {handed_back} more handed back by a stopping worker (not counted)" if handed_back else ""
    return (
        f"its worker was lost {len(lost)} times (attempts {', '.join(map(str, lost))} on "
        f"{', '.join(hosts)}; the last was attempt {attempt}){extra}: giving up after "
        f"TFJOBS_MAX_ATTEMPTS={limit} lost attempts"
    )


def reconcile_once(store: Store, settings: Settings) -> dict[str, int]:
    """One pass over expired leases; returns how many jobs it re-queued and failed."""
    counts = {"requeued": 0, "failed": 0}
    now = utcnow()
    with store.session() as session:
        store_workers.prune_workers(session, before=now - WORKER_FORGOTTEN)
        expired = [(j.id, j.attempts, j.worker_hostname) for j in store_jobs.expired_leases(session, now=now)]
    for job_id, attempt, host in expired:
        try:
            with store.session() as session:
                history = store_jobs.attempt_outcomes(session, job_id=job_id)
                lost = [
                    n for n, _, outcome in history if outcome == AttemptOutcome.LEASE_LOST or n == attempt
                ]
                if len(lost) >= settings.max_attempts:
                    store_jobs.finish_job(
                        session,
                        job_id=job_id,
                        status=JobStatus.FAILED,
                        attempt=attempt,
                        error_type="worker_lost",
                        error_message=_lost_message(history, lost, attempt, host, settings.max_attempts),
                    )
                    counts["failed"] += 1
                    continue
                store_jobs.release_job(
                    session, job_id=job_id, attempt=attempt, outcome=AttemptOutcome.LEASE_LOST
                )
            log.warning("job %s: the lease of attempt %d on %s expired; re-queued", job_id, attempt, host)
            counts["requeued"] += 1
        except LeaseLost:
            continue  # another reconciler, or the worker itself, got there first
    return counts


class Reconciler(Periodic):
    """Runs :func:`reconcile_once` and the sweeps' safety pass in a daemon thread, then a
    dispatch pass for whatever they put back in the queue."""

    def __init__(self, store: Store, celery: Celery, settings: Settings) -> None:
        seen: dict[str, object] = {}  # what each sweep looked like at its last advance

        def work() -> None:
            counts = reconcile_once(store, settings)
            if any(counts.values()):
                log.info("reconciler: %s", counts)
                dispatch(store, celery, settings)
            advance_all(store, celery, settings, seen)

        super().__init__("reconciler", max(0.5, settings.lease_seconds / 4), work)
