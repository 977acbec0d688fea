"""The scheduler's choices against a real store, on SQLite and PostgreSQL: fair share
between owners, priority within one, the per-owner limit, CPU/GPU placement, queue
places, and jobs taken back when their worker or message is gone. The broker is a
recorder here, except in the last test (the machine's Redis, flushed); real workers are
in tests/integration/test_scheduling_live.py."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, text, update

from app.core.config import Settings
from app.dispatcher import Dispatcher
from app.reconciler import reconcile_once
from app.scheduler import (
    GPU_REASON,
    LIMIT_REASON,
    NO_GPU_REASON,
    WORKER_REASON,
    QueueView,
    dispatch,
    queue_places,
    take_back_lost,
)
from app.store import jobs as store_jobs
from app.store import workers as store_workers
from app.store.db import Store
from app.store.tables import Job, Worker, utcnow
from tfjobs import JobStatus

DAY_BEAT = 28_800  # a heartbeat period whose three missed beats are a day: every row is alive


class RecordingBroker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_task(self, name: str, *, kwargs: dict, queue: str) -> None:
        self.sent.append((kwargs["job_id"], queue))


SETTINGS = Settings()


def submit(store: Store, owner: str, *, priority: int = 0, device: str = "auto") -> str:
    spec = {"model_type": "mlp", "loss": "mse", "epochs": 1, "priority": priority, "device": device}
    with store.session() as session:
        return store_jobs.create_job(session, spec=spec, epochs=1, owner=owner).id


def worker(store: Store, queue: str, *, kind: str = "cpu", slots: int = 1) -> None:
    with store.session() as session:
        for i in range(slots):
            store_workers.beat(
                session,
                name=f"{queue}:{i}",
                hostname="h",
                pid=i,
                device=kind.upper(),
                current_job=None,
                queue=queue,
                kind=kind,
            )


def run(store: Store, job_id: str, queue: str) -> None:
    """The worker behind ``queue`` claims the job (as its message would make it)."""
    with store.session() as session:
        kind = "gpu" if queue.startswith("gpu") else "cpu"
        assert (
            store_jobs.claim_job(session, job_id=job_id, hostname="h", device="X", queue=queue, kind=kind)
            is not None
        )


def finish(store: Store, job_id: str) -> None:
    with store.session() as session:
        store_jobs.finish_job(session, job_id=job_id, status=JobStatus.SUCCEEDED)


def started_in_order(
    store: Store, broker: RecordingBroker, queue: str, n: int, settings: Settings = SETTINGS
) -> list[str]:
    """Frees the one slot ``n`` times; the job each time."""
    order = []
    for _ in range(n):
        sent = dispatch(store, broker, settings)  # type: ignore[arg-type]
        assert len(sent) == 1, sent
        job_id = sent[0][0]
        run(store, job_id, queue)
        finish(store, job_id)
        order.append(job_id)
    return order


def test_nothing_is_sent_without_a_free_slot_and_one_job_per_free_slot(store):
    broker = RecordingBroker()
    jobs = [submit(store, "alice") for _ in range(3)]
    assert dispatch(store, broker, SETTINGS) == []  # type: ignore[arg-type]
    worker(store, "q1", slots=2)
    assert dispatch(store, broker, SETTINGS) == [(jobs[0], "q1"), (jobs[1], "q1")]  # type: ignore[arg-type]
    assert dispatch(store, broker, SETTINGS) == []  # type: ignore[arg-type] # both slots held now
    run(store, jobs[0], "q1")
    finish(store, jobs[0])
    assert dispatch(store, broker, SETTINGS) == [(jobs[2], "q1")]  # type: ignore[arg-type]


def test_one_owners_long_queue_does_not_hold_back_another_owners_job(store):
    broker = RecordingBroker()
    worker(store, "q1")
    alice = [submit(store, "alice") for _ in range(12)]
    first = dispatch(store, broker, SETTINGS)[0][0]  # type: ignore[arg-type]
    run(store, first, "q1")
    bob = submit(store, "bob")
    finish(store, first)
    # Neither holds a slot now: the tie goes to whoever waited longest for one — bob,
    # never served, before alice, served just now; then they take turns.
    order = started_in_order(store, broker, "q1", 3)
    assert order == [bob, alice[1], alice[2]]


def test_priority_orders_an_owners_jobs_but_fair_share_orders_owners(store):
    broker = RecordingBroker()
    worker(store, "q1")
    low = [submit(store, "alice") for _ in range(2)]
    high = submit(store, "alice", priority=9)
    bob = [submit(store, "bob", priority=0) for _ in range(2)]
    order = started_in_order(store, broker, "q1", 5)
    assert order.index(high) < order.index(low[0]) < order.index(low[1])  # within alice
    assert order[:2] == [high, bob[0]]  # alice's 9 does not buy her two turns in a row


def test_the_owner_limit_leaves_a_slot_idle_rather_than_exceed_it(store):
    broker = RecordingBroker()
    worker(store, "q1", slots=2)
    settings = Settings(max_running_per_owner=1)
    alice = [submit(store, "alice") for _ in range(2)]
    bob = submit(store, "bob")
    sent = dispatch(store, broker, settings)  # type: ignore[arg-type]
    assert sorted(j for j, _ in sent) == sorted([alice[0], bob])
    with store.session() as session:
        places = queue_places(session, settings)
    assert places[alice[1]].reason == LIMIT_REASON
    run(store, bob, "q1")
    finish(store, bob)
    assert dispatch(store, broker, settings) == []  # type: ignore[arg-type] # a slot is free, alice is at her limit


def test_gpu_jobs_wait_for_gpu_slots_and_auto_prefers_one(store):
    broker = RecordingBroker()
    worker(store, "cpu-q")
    gpu_job = submit(store, "alice", device="gpu")
    cpu_job = submit(store, "alice", device="cpu")
    assert dispatch(store, broker, SETTINGS) == [(cpu_job, "cpu-q")]  # type: ignore[arg-type] # the gpu job is skipped
    with store.session() as session:
        assert queue_places(session, SETTINGS)[gpu_job].reason == NO_GPU_REASON
        assert store_jobs.claim_job(session, job_id=gpu_job, hostname="h", device="CPU", kind="cpu") is None
    worker(store, "gpu-q", kind="gpu")
    auto = submit(store, "bob")
    # the GPU slot: bob holds nothing and alice holds the CPU slot, so fair share picks bob
    assert dispatch(store, broker, SETTINGS) == [(auto, "gpu-q")]  # type: ignore[arg-type]
    for job_id, queue in ((auto, "gpu-q"), (cpu_job, "cpu-q")):
        run(store, job_id, queue)
        finish(store, job_id)
    assert dispatch(store, broker, SETTINGS) == [(gpu_job, "gpu-q")]  # type: ignore[arg-type] # never the CPU slot
    run(store, gpu_job, "gpu-q")
    finish(store, gpu_job)
    anywhere = submit(store, "carol")
    assert dispatch(store, broker, SETTINGS) == [(anywhere, "gpu-q")]  # type: ignore[arg-type] # auto: GPU preferred


def test_a_gpu_job_on_a_cpu_only_cluster_is_not_ahead_of_anyone(store):
    """Before: it waited forever with no notice and counted in everyone's `ahead`."""
    worker(store, "cpu-q")
    stuck = submit(store, "alice", device="gpu")
    later = [submit(store, "bob"), submit(store, "carol", device="cpu")]
    with store.session() as session:
        places = queue_places(session, SETTINGS)
    assert [places[j].ahead for j in later] == [0, 1]
    assert places[stuck].ahead == 2 and places[stuck].reason == NO_GPU_REASON
    worker(store, "gpu-q", kind="gpu")  # a GPU worker starts: the job takes its turn again
    with store.session() as session:
        places = queue_places(session, SETTINGS)
    assert places[stuck].ahead == 0 and places[stuck].reason == GPU_REASON


def test_queue_places_count_down_as_jobs_start(store):
    broker = RecordingBroker()
    worker(store, "q1")
    jobs = [submit(store, "alice") for _ in range(4)]
    with store.session() as session:
        places = queue_places(session, SETTINGS)
    assert [places[j].ahead for j in jobs] == [0, 1, 2, 3] and places[jobs[3]].position == 4
    assert {p.reason for p in places.values()} == {WORKER_REASON}
    started_in_order(store, broker, "q1", 2)
    with store.session() as session:
        places = queue_places(session, SETTINGS)
    assert [places[j].ahead for j in jobs[2:]] == [0, 1]


def test_queue_places_of_a_long_queue_mix_owners_fairly(store):
    # Two owners, 300 and 2 jobs: hers interleave with his, then his tail runs in order
    # (the "last owner waiting" shortcut must give the rule's own order).
    his = [submit(store, "bob") for _ in range(300)]
    hers = [submit(store, "alice") for _ in range(2)]
    with store.session() as session:
        places = queue_places(session, SETTINGS)
    order = sorted(places, key=lambda j: places[j].ahead)
    assert order[:4] == [his[0], hers[0], his[1], hers[1]] and order[4:] == his[2:]


def test_the_queue_view_recomputes_a_deep_queue_at_most_once_a_moment(store):
    view = QueueView(max_age=60, deep=3)
    jobs = [submit(store, "alice") for _ in range(3)]
    with store.session() as session:
        first = view.places(session, SETTINGS)
        assert [first[j].ahead for j in jobs] == [0, 1, 2]
        newer = submit(store, "alice")
        assert view.places(session, SETTINGS) is first  # deep and recent: shared, without the newcomer
        view.max_age = 0
        second = view.places(session, SETTINGS)  # too old: computed afresh
        assert second is not first and second[newer].ahead == 3
    shallow = QueueView(max_age=60, deep=100)
    with store.session() as session:
        assert shallow.places(session, SETTINGS) is not shallow.places(session, SETTINGS)  # always exact


def test_a_read_of_the_workers_never_deletes_and_the_reconciler_forgets_silent_ones(store):
    worker(store, "q1")
    with store.session() as session:
        session.execute(update(Worker).values(last_seen=utcnow() - timedelta(hours=2)))
    worker(store, "q2")
    with store.session() as session:
        assert len(store_workers.live_workers(session, heartbeat_seconds=DAY_BEAT)) == 2
        assert len(store_workers.live_workers(session, heartbeat_seconds=DAY_BEAT)) == 2  # still
    reconcile_once(store, SETTINGS)
    with store.session() as session:
        assert [w.queue for w in store_workers.live_workers(session, heartbeat_seconds=DAY_BEAT)] == ["q2"]


def test_jobs_of_a_gone_worker_or_a_lost_message_are_taken_back(store):
    broker = RecordingBroker()
    worker(store, "q1")
    job_id = submit(store, "alice")
    assert dispatch(store, broker, SETTINGS) == [(job_id, "q1")]  # type: ignore[arg-type]
    assert take_back_lost(store, SETTINGS) == 0  # sent just now to a live worker
    with store.session() as session:  # the message went a lease ago and nobody claimed it
        session.execute(
            update(Job).values(dispatched_at=utcnow() - timedelta(seconds=SETTINGS.lease_seconds + 1))
        )
    assert take_back_lost(store, SETTINGS) == 1
    assert dispatch(store, broker, SETTINGS) == [(job_id, "q1")]  # type: ignore[arg-type] # sent again
    with store.session() as session:  # now the worker dies
        session.execute(text("DELETE FROM workers"))
    assert take_back_lost(store, SETTINGS) == 1
    with store.session() as session:
        assert store_jobs.get_job(session, job_id=job_id).dispatched_to is None


def test_a_flushed_redis_loses_no_job(store, redis_url):
    """The message of a dispatched job is flushed away: a lease later it is sent again,
    once, to a worker queue in the real broker."""
    import redis

    from app.core.broker import make_celery

    settings = Settings(broker_url=redis_url, lease_seconds=5)
    celery = make_celery(settings)
    worker(store, "tfjobs-w-flush-1")
    job_id = submit(store, "alice")
    assert dispatch(store, celery, settings) == [(job_id, "tfjobs-w-flush-1")]
    client = redis.Redis.from_url(redis_url)
    assert client.llen("tfjobs-w-flush-1") == 1
    client.flushdb()  # the message is gone; the job is not
    with store.session() as session:
        session.execute(update(Job).values(dispatched_at=utcnow() - timedelta(seconds=6)))
    assert take_back_lost(store, settings) == 1
    assert dispatch(store, celery, settings) == [(job_id, "tfjobs-w-flush-1")]
    assert client.llen("tfjobs-w-flush-1") == 1
    assert dispatch(store, celery, settings) == []  # the slot is held: not sent twice


def test_an_idle_dispatch_pass_is_one_read(store):
    """Nothing queued: the dispatcher's pass is one indexed read, not a take-back and a
    scheduler pass every second (idle API CPU had risen from 0.2 % to 1.1 % of a core)."""
    broker = RecordingBroker()
    worker(store, "q1")
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    dispatcher = Dispatcher(store, broker, SETTINGS)  # type: ignore[arg-type]
    dispatcher.work()
    assert len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]) == 1
    job = submit(store, "alice")
    dispatcher.work()  # something queued: a full pass, which sends it
    assert broker.sent == [(job, "q1")]
