"""/workers: who is alive to run jobs (from their heartbeats in the store)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.strictquery import StrictQueryRoute
from app.deps import OwnerDep, SettingsDep, StoreDep
from app.schemas import WorkerStatus
from app.store import jobs as store_jobs
from app.store import workers as store_workers

__all__ = ["NO_GPU_WORKER", "NO_WORKER", "router", "waiting_notice"]

router = APIRouter(prefix="/workers", tags=["workers"], route_class=StrictQueryRoute)
NO_WORKER = "no worker is running: the job waits until one starts (tfjobs worker, or tfjobs up)"
NO_GPU_WORKER = (
    "no GPU worker is running: a job with device gpu waits until one starts "
    "(tfjobs worker on a machine with a GPU); resubmit it with device auto to run it on a CPU"
)


@router.get("", response_model=list[WorkerStatus])
def list_workers(store: StoreDep, owner: OwnerDep, settings: SettingsDep) -> list[WorkerStatus]:
    """The workers alive now: busy or idle, and the job each trains when it is yours
    (another owner's job id is never shown)."""
    with store.session() as session:
        workers = store_workers.live_workers(session, heartbeat_seconds=settings.worker_heartbeat_seconds)
        current = {w.current_job for w in workers if w.current_job}
        yours = {
            job_id
            for job_id in current
            if store_jobs.get_job(session, job_id=job_id, owner=owner) is not None
        }
    return [
        WorkerStatus(
            hostname=w.hostname,
            pid=w.pid,
            device=w.device,
            state="busy" if w.current_job else "idle",
            job=w.current_job if w.current_job in yours else None,
            started_at=w.started_at,
            last_seen=w.last_seen,
        )
        for w in workers
    ]


def waiting_notice(session: Session, settings: Settings) -> str | None:
    """What queued jobs are waiting for, when it is something a user must fix."""
    if not store_workers.any_live_worker(session, heartbeat_seconds=settings.worker_heartbeat_seconds):
        return NO_WORKER
    return None
