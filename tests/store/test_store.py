"""The store on SQLite and on the machine's PostgreSQL: migrations, claims, cursors, keys."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store.db import Store, migrate
from app.store.tables import utcnow


def new_job(store: Store, **kwargs) -> str:
    with store.session() as session:
        return store_jobs.create_job(session, spec={"epochs": 3}, epochs=3, **kwargs).id


def test_migrations_create_every_table_and_are_idempotent(store):
    migrate(store.engine)
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "jobs",
        "attempts",
        "metric_points",
        "log_lines",
        "datasets",
        "artifacts",
        "alembic_version",
    } <= tables


def test_only_one_of_many_concurrent_claims_wins(store):
    job_id = new_job(store)
    winners, barrier = [], threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        with store.session() as session:
            if store_jobs.claim_job(session, job_id=job_id, hostname=f"w{i}", device="CPU"):
                winners.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    with store.session() as session:
        job = store_jobs.get_job(session, job_id=job_id)
        assert job.status == "running" and job.attempts == 1 and job.worker_hostname == f"w{winners[0]}"


def test_cancelled_queued_job_cannot_be_claimed(store):
    job_id = new_job(store)
    with store.session() as session:
        store_jobs.request_cancel(session, job=store_jobs.get_job(session, job_id=job_id))
    with store.session() as session:
        assert store_jobs.claim_job(session, job_id=job_id, hostname="w", device="CPU") is None
        assert store_jobs.get_job(session, job_id=job_id).status == "cancelled"


def test_points_round_trip_in_order_with_progress(store):
    job_id = new_job(store)
    points = [
        {
            "seq": i,
            "kind": "step",
            "epoch": 1,
            "step": i * 10,
            "time": utcnow(),
            "values": {"loss": 1.0 / i, "lr": 0.001},
        }
        for i in range(1, 2501)
    ]
    with store.session() as session:
        for start in range(0, 2500, 500):
            store_points.append_points(session, job_id=job_id, points=points[start : start + 500])
    with store.session() as session:
        page = store_points.read_points(session, job_id=job_id, after=1000, limit=3)
        assert [p.seq for p in page] == [1001, 1002, 1003]
        assert page[0].values == {"loss": pytest.approx(1 / 1001), "lr": 0.001}
        assert page[0].time.tzinfo is not None
        job = store_jobs.get_job(session, job_id=job_id)
        assert (job.last_seq, job.progress_step) == (2500, 25000)


def test_series_columns_come_from_the_database_with_nulls_where_a_value_is_missing(store):
    job_id = new_job(store)
    now = utcnow()
    points = [
        {"seq": 1, "kind": "step", "epoch": 1, "step": 1, "time": now, "values": {"loss": 0.1 + 0.2}},
        {
            "seq": 2,
            "kind": "epoch",
            "epoch": 1,
            "step": 1,
            "time": now,
            "values": {"loss": 1.0, "val_loss": 2.0},
        },
        {"seq": 3, "kind": "step", "epoch": 2, "step": 2, "time": now, "values": {"loss": float("nan")}},
        {"seq": 4, "kind": "epoch", "epoch": 2, "step": 2, "time": now, "values": {"loss": 0.5, "lr": 1e-3}},
    ]
    with store.session() as session:
        store_points.append_points(session, job_id=job_id, points=points)
    with store.session() as session:
        assert store_points.series_names(session, job_id=job_id, kind="epoch") == ["loss", "val_loss", "lr"]
        assert store_points.series_names(session, job_id=job_id, kind="nothing") == []
        epochs = store_points.read_columns(
            session, job_id=job_id, kind="epoch", names=["loss", "val_loss", "lr"], chunk=1
        )
        assert [tuple(r) for chunk in epochs for r in chunk] == [
            (2, 1, 1, 1.0, 2.0, None),
            (4, 2, 2, 0.5, None, 1e-3),
        ]
        steps = store_points.read_columns(session, job_id=job_id, kind="step", names=["loss"])
        assert [tuple(r) for chunk in steps for r in chunk] == [
            (1, 1, 1, 0.1 + 0.2),
            (3, 2, 2, None),
        ]  # exact; NaN is null


def test_a_stored_point_reads_back_as_exactly_the_contracts_json(store):
    """Points are written past the ORM (COPY on PostgreSQL, executemany on SQLite), each
    payload spliced by hand: both must give the byte-identical Point JSON, non-finite
    values as null, and times that read back exactly."""
    job_id = new_job(store)
    points = [
        {
            "seq": 1,
            "kind": "step",
            "epoch": 1,
            "step": 7,
            "time": utcnow(),
            "values": {"loss": 0.1 + 0.2, "lr": 1e-3},
        },
        {
            "seq": 2,
            "kind": "epoch",
            "epoch": 1,
            "step": 8,
            "time": utcnow(),
            "values": {"loss": float("inf"), "val_loss": 2.5, 'odd\t"name\\': 1.0},  # COPY escapes
        },
    ]
    with store.session() as session:
        store_points.append_points(session, job_id=job_id, points=points)
    with store.session() as session:
        stored = store_points.read_point_payloads(session, job_id=job_id, after=0, limit=10)
        objects = store_points.read_points(session, job_id=job_id, after=0, limit=10)
    assert [payload for _, payload in stored] == [store_points.point_payload(p) for p in points]
    assert '"loss":null' in stored[1][1]
    assert objects[1].values == {"loss": None, "val_loss": 2.5, 'odd\t"name\\': 1.0}
    assert objects[0].time.tzinfo is not None
    assert [o.time for o in objects] == [p["time"] for p in points]  # to the microsecond


def test_a_seq_is_never_stored_twice(store):
    job_id = new_job(store)
    point = {"seq": 1, "kind": "epoch", "epoch": 1, "step": 1, "time": utcnow(), "values": {}}
    with store.session() as session:
        store_points.append_points(session, job_id=job_id, points=[point])
    with pytest.raises(IntegrityError), store.session() as session:
        store_points.append_points(session, job_id=job_id, points=[point])


def test_idempotency_key_is_unique_per_owner(store):
    new_job(store, owner="a", idempotency_key="k")
    new_job(store, owner="b", idempotency_key="k")  # another owner may use the same key
    with pytest.raises(IntegrityError):
        new_job(store, owner="a", idempotency_key="k")


def test_finish_closes_the_attempt(store):
    job_id = new_job(store)
    with store.session() as session:
        store_jobs.claim_job(session, job_id=job_id, hostname="w", device="CPU")
    with store.session() as session:
        store_jobs.finish_job(
            session, job_id=job_id, status="failed", error_type="diverged", error_message="loss became nan"
        )
    with store.session() as session:
        job = store_jobs.get_job(session, job_id=job_id)
        assert (job.status, job.error_type) == ("failed", "diverged") and job.finished_at is not None
        assert store_jobs.count_jobs_by_status(session) == {"failed": 1}


def test_cursor_reads_use_the_primary_key_index(store):
    job_id = new_job(store)
    query = "SELECT seq FROM metric_points WHERE job_id = :j AND seq > :a ORDER BY seq LIMIT 1000"
    with store.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            plan = " ".join(
                str(r) for r in connection.execute(text("EXPLAIN QUERY PLAN " + query), {"j": job_id, "a": 0})
            )
            assert "USING PRIMARY KEY" in plan or "USING COVERING INDEX" in plan, plan
        else:
            connection.execute(text("SET enable_seqscan = off"))
            plan = " ".join(r[0] for r in connection.execute(text("EXPLAIN " + query), {"j": job_id, "a": 0}))
            assert "metric_points_pkey" in plan, plan


def test_a_postgresql_database_created_without_a_locale_still_works():
    """A server initialised without a locale (SQL_ASCII, as a bare initdb leaves it) hands
    psycopg bytes for text unless the client asks for UTF-8; the store always does."""
    import uuid

    import psycopg

    from harness.services import PG_ADMIN_URL

    name = f"tfjobs_ascii_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    store = Store(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        migrate(store.engine)
        with store.session() as session:
            job_id = store_jobs.create_job(
                session, spec={"epochs": 2, "note": "zoë ünïcode"}, epochs=2, owner="zoë"
            ).id
        with store.session() as session:
            job = store_jobs.get_job(session, job_id=job_id, owner="zoë")
            assert job is not None and job.spec["note"] == "zoë ünïcode" and job.status == "queued"
    finally:
        store.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_job_row_copies_exactly_the_specs_labels_and_placement_fields(store):
    """The columns the job list filters by and the scheduler orders by come from the
    fields whose declared role is labels or placement, and from no other."""
    from tfcore.spec import FieldRole, fields_with

    assert set(store_jobs.SPEC_COLUMNS) == fields_with(FieldRole.LABELS, FieldRole.PLACEMENT)
    spec = {"epochs": 2, "name": "run a", "tags": ["x", "y"], "priority": 7, "device": "cpu"}
    with store.session() as session:
        job = store_jobs.create_job(session, spec=spec, epochs=2)
        assert (job.name, job.tags, job.priority, job.device_request) == ("run a", ",x,y,", 7, "cpu")
        bare = store_jobs.create_job(session, spec={"epochs": 2}, epochs=2)
        assert (bare.name, bare.tags, bare.priority, bare.device_request) == (None, None, 0, "auto")


def test_the_job_keeps_its_last_epoch_values_for_lists(store):
    """progress.values: the last epoch point's values (non-finite ones as null), kept by the
    ingest so a list shows a running or cancelled job's loss without reading its points."""
    job_id = new_job(store)
    now = utcnow()

    def point(seq, kind, epoch, values):
        return {"seq": seq, "kind": kind, "epoch": epoch, "step": seq, "time": now, "values": values}

    with store.session() as session:
        assert store_jobs.get_job(session, job_id=job_id).progress_values is None
        store_points.append_points(
            session,
            job_id=job_id,
            points=[
                point(1, "epoch", 1, {"loss": 2.0, "val_loss": 3.0}),
                point(2, "epoch", 2, {"loss": 1.0, "val_loss": float("nan")}),
                point(3, "step", 2, {"loss": 0.5}),  # a step point changes nothing here
            ],
        )
    with store.session() as session:
        assert store_jobs.get_job(session, job_id=job_id).progress_values == {"loss": 1.0, "val_loss": None}
