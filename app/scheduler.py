"""The scheduler: the store is the queue; the broker carries a job only to a free slot.

Each worker process heartbeats a row with its Celery node's own queue and its kind
(``cpu`` or ``gpu``); a node with N processes has N rows, so N slots. A queued job is
*dispatched* when the scheduler picks it for a free slot: it records the queue
(``dispatched_to``) and sends the message there. The job holds that slot until it ends
(the claim keeps ``dispatched_to``; a hand-back or an expired lease clears it), so a
queue's free slots are its live rows minus its jobs queued or running.

Which job takes a free slot (one pass chooses for every free slot, GPU slots first):
1. only jobs the slot can run: ``device`` ``auto`` or ``cpu`` on a CPU slot, ``auto`` or
   ``gpu`` on a GPU slot (so ``auto`` prefers a GPU, and ``gpu`` never runs on a CPU);
2. fair share: the owner with the fewest jobs holding slots; ties go to the owner who has
   waited longest for a slot (whose last job was sent longest ago, or never, then whose
   oldest waiting job is oldest); owners at ``TFJOBS_MAX_RUNNING_PER_OWNER`` are skipped;
3. within the owner: highest ``priority``, then first come.

Its reads and writes are in app/store/scheduling.py. A pass starts by updating the one
``scheduler`` row, which makes passes wait for each other (a row lock on PostgreSQL, the
write lock on SQLite): two never choose for the same slot. Passes run after every
submit, after every job ends (in the worker), when a worker starts, and every second in
the API (app/dispatcher.py) — which also takes back jobs whose message was lost
(dispatched a lease ago, never claimed) or whose worker is gone.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import NamedTuple

from celery import Celery
from sqlalchemy.orm import Session

from app.core.broker import TaskName
from app.core.config import Settings
from app.store import scheduling
from app.store import workers as store_workers
from app.store.db import Store
from app.store.tables import Job, utcnow
from tfjobs import Device

__all__ = [
    "GPU_REASON",
    "LIMIT_REASON",
    "NO_GPU_REASON",
    "STARTING_REASON",
    "WORKER_REASON",
    "QueuePlace",
    "QueueView",
    "dispatch",
    "free_slots",
    "gang_reason",
    "queue_places",
    "take_back_lost",
]

log = logging.getLogger(__name__)

WORKER_REASON = "waiting for a worker"
GPU_REASON = "waiting for a GPU worker"
NO_GPU_REASON = "waiting for a GPU worker: none is running"
LIMIT_REASON = "owner limit"
STARTING_REASON = "starting"  # sent to a free slot; the worker is picking it up
NEVER = 0.0  # the "last sent" of an owner never sent a job: before anyone else's


def free_slots(
    session: Session, settings: Settings, now: datetime | None = None
) -> list[tuple[str, str, int]]:
    """``(queue, kind, free)`` for every live worker queue with a free slot, GPU ones first."""
    return scheduling.free_slots(
        session, heartbeat_seconds=settings.worker_heartbeat_seconds, now=now or utcnow()
    )


def _next_job(
    session: Session, kind: str, load: dict[str, int], cap: int | None, skip: set[str]
) -> Job | None:
    """Fair share: the owner with the fewest slots held, then who waited longest."""
    heads = scheduling.queue_heads(session, kind=kind, skip=skip)
    owners = [owner for owner in heads if cap is None or load.get(owner, 0) < cap]
    if not owners:
        return None
    last = scheduling.last_sent(session, owners)
    owner = min(owners, key=lambda o: (load.get(o, 0), last.get(o, NEVER), heads[o]))
    return scheduling.next_job(session, owner=owner, kind=kind, skip=skip)


def dispatch(store: Store, celery: Celery, settings: Settings) -> list[tuple[str, str]]:
    """One pass: a job for every free slot; returns ``(job_id, queue)`` for each sent."""
    now = utcnow()
    picks: list[tuple[str, str, int | None]] = []  # (job, queue, its rank in a gang)
    with store.session() as session:
        # With no free slot there is nothing to do, and a read says so without the write
        # below (every submit runs a pass; under a deep queue most find every slot taken).
        # A slot that frees up later comes with a pass of its own.
        if not free_slots(session, settings, now):
            return []
    with store.session() as session:
        scheduling.begin_pass(session)
        slots = free_slots(session, settings, now)
        if slots:
            load = scheduling.slot_load(session)
            free = {queue: n for queue, _, n in slots}
            kinds = {queue: kind for queue, kind, _ in slots}
            for queue, kind, _ in slots:
                skip: set[str] = set()  # gangs that do not fit now: smaller jobs go first
                while free[queue] > 0:
                    job = _next_job(session, kind, load, settings.max_running_per_owner, skip)
                    if job is None:
                        break
                    queues = [queue]
                    if job.replicas > 1:  # a gang: N free slots on N distinct workers, or none
                        others = [q for q in free if q != queue and free[q] > 0 and kinds[q] == kind]
                        if len(others) < job.replicas - 1:
                            skip.add(job.id)
                            continue
                        queues += others[: job.replicas - 1]
                        scheduling.reserve_gang(session, job_id=job.id, queues=queues)
                    scheduling.mark_dispatched(session, job_id=job.id, queue=queue, now=now)
                    for rank, taken in enumerate(queues):
                        free[taken] -= 1
                        picks.append((job.id, taken, rank if job.replicas > 1 else None))
                    load[job.owner] = load.get(job.owner, 0) + 1
    sent = []
    failed: set[str] = set()
    for job_id, queue, gang_rank in picks:
        if job_id in failed:
            continue
        kwargs: dict[str, object] = {"job_id": job_id}
        if gang_rank is not None:
            kwargs["rank"] = gang_rank
        try:
            celery.send_task(TaskName.TRAIN, kwargs=kwargs, queue=queue)
            sent.append((job_id, queue))
        except Exception as err:  # the broker is down: back to the queue, the next pass retries
            log.warning("scheduler: could not send job %s to %s: %s", job_id, queue, err)
            failed.add(job_id)
            with store.session() as session:
                scheduling.take_back(session, job_ids=[job_id])
    return sent


def take_back_lost(store: Store, settings: Settings) -> int:
    """Queued jobs sent to a worker that is gone, or sent a lease ago and never claimed
    (the broker lost the message): back to the queue, to be sent again. A second message
    for a job is harmless: only one claim ever wins."""
    now = utcnow()
    with store.session() as session:
        live = scheduling.live_queues(session, heartbeat_seconds=settings.worker_heartbeat_seconds, now=now)
        sent = scheduling.dispatched(session)
        gangs = scheduling.gang_queues(session, job_ids=[job_id for job_id, _, _ in sent])
    overdue = now - timedelta(seconds=settings.lease_seconds)
    lost = [
        job_id
        for job_id, queue, at in sent
        if queue not in live
        or any(other not in live for other in gangs.get(job_id, ()))
        or (at is not None and at < overdue)
    ]
    if not lost:
        return 0
    with store.session() as session:
        return scheduling.take_back(session, job_ids=lost)


class QueuePlace(NamedTuple):
    """Where a queued job stands: ``ahead`` jobs start before it (if no more arrive),
    ``position`` = ahead + 1, and why it waits. (A tuple: one is made per waiting job.)"""

    position: int
    ahead: int
    reason: str


def queue_places(session: Session, settings: Settings) -> dict[str, QueuePlace]:
    """Every queued job's place, by playing the scheduler's rules forward one slot at a
    time (every job alike, whatever its device): a plain SQL read of the waiting jobs and
    a heap of owners."""
    rows = scheduling.waiting_jobs(session)
    load = scheduling.slot_load(session)
    cap = settings.max_running_per_owner
    places: dict[str, QueuePlace] = {}
    queues: dict[str, list[tuple[int, str, str]]] = defaultdict(list)  # owner -> (num, id, device) by rule
    starting = 0
    gangs: dict[str, tuple[int, str]] = {}  # a gang's replicas and device
    for job_id, owner, _priority, num, device, dispatched_to, replicas in rows:
        if replicas > 1:
            gangs[job_id] = (replicas, device)
        if dispatched_to is not None:
            places[job_id] = QueuePlace(1, 0, STARTING_REASON)
            starting += 1
        else:
            queues[owner].append((num, job_id, device))
    oldest = {owner: sorted(num for num, _, _ in jobs) for owner, jobs in queues.items()}
    last = scheduling.last_sent(session, list(queues)) if queues else {}
    clock = max(last.values(), default=NEVER) + 1.0  # simulated sends come after every real one
    taken: dict[str, int] = defaultdict(int)
    heap = [(load.get(owner, 0), last.get(owner, NEVER), oldest[owner][0], owner) for owner in queues]
    heapq.heapify(heap)
    taken_nums: dict[str, set[int]] = defaultdict(set)
    # Where each owner's oldest untaken job is in ``oldest``: taken jobs only accumulate,
    # so it only moves forward (linear in the queue; a scan from the start was quadratic).
    oldest_at: dict[str, int] = defaultdict(int)
    order: list[tuple[str, str, str]] = []  # (job id, owner, device) in start order
    blocked: list[str] = []
    while heap:
        held, _, _, owner = heapq.heappop(heap)
        if cap is not None and held >= cap:
            blocked.append(owner)
            continue
        if not heap and cap is None:  # the last owner still waiting: the rest go in its order
            order += [(job_id, owner, device) for _, job_id, device in queues[owner][taken[owner] :]]
            break
        num, job_id, device = queues[owner][taken[owner]]
        taken[owner] += 1
        taken_nums[owner].add(num)
        order.append((job_id, owner, device))
        clock += 1.0
        if taken[owner] < len(queues[owner]):
            nums = oldest[owner]
            while nums[oldest_at[owner]] in taken_nums[owner]:
                oldest_at[owner] += 1
            heapq.heappush(heap, (held + 1, clock, nums[oldest_at[owner]], owner))
    for owner in sorted(blocked, key=lambda o: oldest[o][0]):  # after everyone else's
        order += [(job_id, owner, device) for _, job_id, device in queues[owner][taken[owner] :]]
    at_cap = {owner for owner in queues if cap is not None and load.get(owner, 0) >= cap}
    gpu_alive = store_workers.any_live_worker(
        session, heartbeat_seconds=settings.worker_heartbeat_seconds, kind=Device.GPU
    )
    if not gpu_alive:  # GPU jobs cannot start on this cluster: they stand behind the rest
        order = [o for o in order if o[2] != Device.GPU] + [o for o in order if o[2] == Device.GPU]
    gpu_reason = GPU_REASON if gpu_alive else NO_GPU_REASON
    alive = _alive_by_kind(session, settings) if gangs else {}
    for ahead, (job_id, owner, device) in enumerate(order, start=starting):
        reason = LIMIT_REASON if owner in at_cap else gpu_reason if device == Device.GPU else WORKER_REASON
        if job_id in gangs and reason != LIMIT_REASON:
            replicas, _ = gangs[job_id]
            usable = max(alive.get(kind, 0) for kind in _KINDS_FOR[device])
            reason = gang_reason(replicas, usable)
        places[job_id] = QueuePlace(ahead + 1, ahead, reason)
    return places


_KINDS_FOR: dict[str, tuple[str, ...]] = {
    Device.AUTO: (Device.CPU, Device.GPU),
    Device.CPU: (Device.CPU,),
    Device.GPU: (Device.GPU,),
}


def gang_reason(replicas: int, alive: int) -> str:
    """Why a gang waits: all its workers at once, of which ``alive`` (of its kind) exist."""
    return f"waiting for {replicas} workers ({alive} alive)"


def _alive_by_kind(session: Session, settings: Settings) -> dict[str, int]:
    live = scheduling.live_queues(session, heartbeat_seconds=settings.worker_heartbeat_seconds, now=utcnow())
    counts: dict[str, int] = defaultdict(int)
    for kind in live.values():
        counts[kind] += 1
    return counts


class QueueView:
    """Queue places for the API, shared by its requests. :func:`queue_places` reads every
    waiting job (~1 ms per 100 here), so under a deep queue — ``deep`` waiting jobs or
    more — paying for it on every GET and submit made the API's cost grow with the queue
    (a submit with 3,000 waiting cost 17 ms). There a result is computed at most once
    per ``max_age`` seconds and process, by one request while the others use the last
    one; a job that joined since has no place yet (``queue`` is null for that moment).
    Places are shown to people, who can take half a second. A shallow queue is always
    read afresh, so its places are exact at once."""

    def __init__(self, max_age: float = 0.5, deep: int = 50) -> None:
        self.max_age, self.deep = max_age, deep
        self._lock = threading.Lock()
        self._computing = threading.Lock()
        self._at = -float("inf")
        self._places: dict[str, QueuePlace] = {}

    def places(self, session: Session, settings: Settings) -> dict[str, QueuePlace]:
        now = time.monotonic()
        with self._lock:
            at, places = self._at, self._places
        if len(places) < self.deep:
            fresh = queue_places(session, settings)
        elif now - at <= self.max_age or not self._computing.acquire(blocking=False):
            return places  # recent enough, or another request is computing it now
        else:
            try:
                fresh = queue_places(session, settings)
            finally:
                self._computing.release()
        with self._lock:
            if now > self._at:
                self._at, self._places = now, fresh
        return fresh
