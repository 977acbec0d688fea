"""Gang admission against a real store (SQLite and PostgreSQL): a ``replicas: N`` job
starts only with N free slots on N distinct workers, takes them together, never holds
part of a gang, lets smaller jobs past while it cannot be placed, and says what it waits
for when the cluster is too small."""

from __future__ import annotations

from app.scheduler import dispatch, queue_places
from app.store import jobs as store_jobs
from tests.store.test_scheduler import SETTINGS, RecordingBroker, finish, run, worker


def submit(store, owner="ann", replicas=1, batch_size=32):
    spec = {"model_type": "mlp", "loss": "mse", "epochs": 1, "replicas": replicas, "batch_size": batch_size}
    with store.session() as session:
        return store_jobs.create_job(session, spec=spec, epochs=1, owner=owner).id


def test_a_gang_takes_n_distinct_workers_at_once(store):
    broker = RecordingBroker()
    gang = submit(store, replicas=2)
    worker(store, "q1")
    assert dispatch(store, broker, SETTINGS) == []  # one worker: the gang waits, holding nothing
    with store.session() as session:
        assert queue_places(session, SETTINGS)[gang].reason == "waiting for 2 workers (1 alive)"
    worker(store, "q2")
    sent = dispatch(store, broker, SETTINGS)
    assert sorted(sent) == [(gang, "q1"), (gang, "q2")]  # one message per rank, each to its worker
    assert dispatch(store, broker, SETTINGS) == []  # both slots are the gang's now
    run(store, gang, "q1")  # the chief claims the job: its ranks keep their slots
    assert dispatch(store, broker, SETTINGS) == []
    finish(store, gang)
    one = submit(store)
    assert dispatch(store, broker, SETTINGS) == [(one, "q1")]  # freed together


def test_a_gang_that_cannot_be_placed_lets_smaller_jobs_past(store):
    broker = RecordingBroker()
    worker(store, "q1")
    worker(store, "q2")
    big = submit(store, replicas=3, batch_size=33)
    small = submit(store)
    sent = dispatch(store, broker, SETTINGS)
    assert (small, "q1") in sent or (small, "q2") in sent
    assert all(job != big for job, _ in sent)
    with store.session() as session:
        assert queue_places(session, SETTINGS)[big].reason == "waiting for 3 workers (2 alive)"


def test_a_gang_sent_to_a_worker_that_is_gone_goes_back_whole(store):
    from datetime import timedelta

    from sqlalchemy import update

    from app.scheduler import take_back_lost
    from app.store.tables import Worker, utcnow

    broker = RecordingBroker()
    worker(store, "q1")
    worker(store, "q2")
    gang = submit(store, replicas=2)
    assert len(dispatch(store, broker, SETTINGS)) == 2
    with store.session() as session:  # rank 1's worker stops beating
        session.execute(
            update(Worker).where(Worker.queue == "q2").values(last_seen=utcnow() - timedelta(hours=1))
        )
    assert take_back_lost(store, SETTINGS) == 1
    with store.session() as session:
        assert store_jobs.get_job(session, job_id=gang).dispatched_to is None
