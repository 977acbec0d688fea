"""Table definitions (SQLAlchemy 2 ORM). Alembic migrations in ``migrations/`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiToken",
    "Artifact",
    "AuditRow",
    "Attempt",
    "Base",
    "Dataset",
    "DeliveryAttempt",
    "Job",
    "LogLine",
    "MetricPoint",
    "ModelAlias",
    "ModelVersion",
    "RegisteredModel",
    "SchedulerState",
    "Sweep",
    "Webhook",
    "WebhookDelivery",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out; SQLite stores naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    # `num` orders jobs and is the list cursor; `id` is the public name.
    num: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name: Mapped[str | None] = mapped_column(String(64), index=True)  # spec.name, searchable
    tags: Mapped[str | None] = mapped_column(String(400))  # spec.tags as ",a,b," (LIKE '%,a,%')
    owner: Mapped[str] = mapped_column(String(64), default="local", index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress_epoch: Mapped[int] = mapped_column(Integer, default=0)
    progress_epochs: Mapped[int] = mapped_column(Integer)
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    # The last epoch point's values, kept by the ingest: lists show a running, pruned or
    # cancelled job's loss without reading its points.
    progress_values: Mapped[dict[str, float | None] | None] = mapped_column(JSON)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    worker_hostname: Mapped[str | None] = mapped_column(String(255))
    worker_device: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_log_seq: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # The running attempt holds the job until lease_expires_at; its heartbeat renews it.
    # `attempts` doubles as the fencing token: a write succeeds only for the current attempt.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A sweep's trial: its sweep, its number there (the search's trial number) and the
    # values the search chose for it (already merged into `spec`).
    sweep_id: Mapped[str | None] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    trial_number: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The scheduler's columns (app/scheduler.py): the spec's priority and device, and the
    # worker queue the job was sent to (set from dispatch until the job ends; a slot it holds).
    priority: Mapped[int] = mapped_column(Integer, default=0)
    device_request: Mapped[str] = mapped_column(String(8), default="auto")
    dispatched_to: Mapped[str | None] = mapped_column(String(300))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Worker processes that train it together (a gang); ranks 1.. hold their slots through
    # gang_ranks rows, rank 0 through dispatched_to.
    replicas: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_jobs_owner_idempotency", "owner", "idempotency_key", unique=True),
        # one job per trial, however often the sweep is advanced at once
        Index("ix_jobs_sweep_trial", "sweep_id", "trial_number", unique=True),
        # the scheduler's reads: each owner's next job, and the slots each queue holds
        Index("ix_jobs_waiting", "status", "owner", "priority", "num"),
        Index("ix_jobs_dispatched", "dispatched_to", "status"),
        Index("ix_jobs_owner_sent", "owner", "dispatched_at"),
    )


class Sweep(Base):
    """A hyperparameter search whose trials are jobs (app/sweeps). Its progress lives here
    and in the jobs table; the search's own state lives in Optuna's storage."""

    __tablename__ = "sweeps"

    num: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(16))
    pruner: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metric: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    max_trials: Mapped[int] = mapped_column(Integer)
    max_concurrent: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # Whoever advances the sweep (creates trials, tells the search) holds it until then.
    advancing_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_sweeps_owner_idempotency", "owner", "idempotency_key", unique=True),)


class Attempt(Base):
    __tablename__ = "attempts"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    device: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    # A gang's ranks: [{"rank", "hostname", "device"}, …] once it formed (null: one process).
    ranks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class GangRank(Base):
    """One rank of a gang job (``replicas`` > 1): the queue the scheduler sent it to (its
    slot, while the job holds its dispatch), and once its worker took the message, the
    attempt it joined, where its collective server listens, and its heartbeat. Rank 0, the
    chief, has a row too (its slot is the job's ``dispatched_to``)."""

    __tablename__ = "gang_ranks"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(300), index=True)
    attempt: Mapped[int | None] = mapped_column(Integer)
    hostname: Mapped[str | None] = mapped_column(String(255))
    device: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(300))
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MetricPoint(Base):
    __tablename__ = "metric_points"
    # SQLite stores these rows in primary-key order (migration 0004): a page is one scan.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - read once by SQLAlchemy

    # (job_id, seq) is the primary key: a cursor read is one index range scan.
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    epoch: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    values: Mapped[dict[str, float]] = mapped_column(JSON)
    # The point as the API sends it, serialized once when stored: a page of 1,000 points
    # is then a join of strings, not 1,000 objects built and encoded per request.
    payload: Mapped[str | None] = mapped_column(Text)


class LogLine(Base):
    __tablename__ = "log_lines"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), default="local", index=True)
    name: Mapped[str] = mapped_column(String(255))  # the client's file name, for display only
    path: Mapped[str] = mapped_column(String(512))  # generated, relative to the datasets folder
    format: Mapped[str] = mapped_column(String(8))
    rows: Mapped[int] = mapped_column(Integer)
    features: Mapped[int] = mapped_column(Integer)  # values per row (a table's columns)
    shape: Mapped[list[int] | None] = mapped_column(JSON)  # one row's shape; None for older tables
    classes: Mapped[int | None] = mapped_column(Integer)  # K for multiclass labels
    target: Mapped[str] = mapped_column(String(255))
    task: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    path: Mapped[str] = mapped_column(String(512))  # relative to the artifacts folder
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    # Only the SHA-256 of a token is stored: tokens are 256-bit random, so a fast hash
    # is enough, and a leaked table gives nobody a usable token.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Worker(Base):
    """A worker process's heartbeat: live while ``last_seen`` is recent."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)  # hostname:pid
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    current_job: Mapped[str | None] = mapped_column(String(32))
    # Where the scheduler sends this process's jobs (its Celery node's own queue; a node
    # with several processes shares one), and what it runs them on: cpu or gpu.
    queue: Mapped[str | None] = mapped_column(String(300), index=True)
    kind: Mapped[str] = mapped_column(String(8), default="cpu")


class SchedulerState(Base):
    """One row: dispatch passes lock it first, so two never choose for the same slot."""

    __tablename__ = "scheduler"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    passes: Mapped[int] = mapped_column(BigInteger, default=0)


# --- after training: the model registry and webhooks ---------------------------------


class RegisteredModel(Base):
    """A name a team gives a model ("house-prices"); its versions are succeeded jobs."""

    __tablename__ = "models"

    num: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # version numbers count up from 1 and are never reused, even after a delete
    last_version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_models_owner_name", "owner", "name", unique=True),)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    model_num: Mapped[int] = mapped_column(ForeignKey("models.num", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The job whose artifacts it serves: deleting that job is refused while a version
    # backs it (app/routes/jobs.py), so the files stay.
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))  # model.keras's
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelAlias(Base):
    __tablename__ = "model_aliases"

    model_num: Mapped[int] = mapped_column(ForeignKey("models.num", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(256))  # signs each body; never shown again
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook: written in the same transaction as the change it
    reports (an outbox), sent by the API's deliverer, retried with backoff until it gets
    a 2xx or its time runs out."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)  # the exact bytes sent and signed
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the next try (pending only)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_at"),)


class DeliveryAttempt(Base):
    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[float] = mapped_column(Float)


class AuditRow(Base):
    """One request that asked to change something, allowed or refused: who, what, on
    what, and how it was answered. Append-only: no API updates or deletes a row (only
    retention removes the oldest, app/audit.py)."""

    __tablename__ = "audit_log"

    num: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)  # the owner, or "anonymous"
    action: Mapped[str] = mapped_column(String(48), index=True)  # job.cancel, model.alias.set, …
    target: Mapped[str | None] = mapped_column(String(300))
    project: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)  # the HTTP status it was answered with
    request_id: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
