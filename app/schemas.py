"""What the API sends out (the contract's Job, Point, ... shapes) and how rows become them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from app.store.tables import Artifact, Attempt, Dataset, Job, LogLine, ModelVersion
from tfcore.spec import Task
from tfjobs import AttemptOutcome, JobStatus, SweepStatus

__all__ = [
    "RankPublic",
    "WorkerStatus",
    "TrialsPublic",
    "TrialPublic",
    "SweepsPublic",
    "SweepPublic",
    "Best",
    "ArtifactPublic",
    "ArtifactsPublic",
    "DatasetPublic",
    "ErrorPublic",
    "JobPublic",
    "JobsPublic",
    "LogLinePublic",
    "LogsPage",
    "MetricsPage",
    "PointPublic",
    "Progress",
    "QueueInfo",
    "WorkerPublic",
    "json_response",
]


def json_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """``model`` as JSON, encoded once by pydantic's compiled serializer. Hot handlers
    return this instead of the model: FastAPI would validate the model against the
    route's ``response_model`` again and then encode it (that route keeps the model for
    its OpenAPI description)."""
    return Response(model.__pydantic_serializer__.to_json(model), status_code, headers, "application/json")


class Progress(BaseModel):
    epoch: int
    epochs: int
    step: int
    values: dict[str, float | None] | None = Field(
        default=None, description="the metrics of the last epoch reported (null before the first)"
    )


class ErrorPublic(BaseModel):
    type: str
    message: str


class QueueInfo(BaseModel):
    """Where a queued job stands (app/scheduler.py): ``ahead`` jobs start before it if no
    more arrive; ``reason``: waiting for a worker | owner limit | waiting for a GPU worker
    | starting (sent to a free worker)."""

    position: int
    ahead: int
    reason: str


class WorkerPublic(BaseModel):
    hostname: str
    device: str | None


class RankPublic(BaseModel):
    """One rank of a gang attempt (rank 0: the chief) and the worker it ran on."""

    rank: int
    worker: WorkerPublic


class AttemptPublic(BaseModel):
    """One try at a job: where it ran and how it ended (null while it runs). A gang's
    attempt lists its ranks once they formed (``worker`` is the chief's)."""

    number: int
    worker: WorkerPublic
    started_at: datetime
    finished_at: datetime | None
    ended_as: AttemptOutcome | None
    ranks: list[RankPublic] | None = None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptPublic:
        return cls(
            number=attempt.number,
            worker=WorkerPublic(hostname=attempt.hostname, device=attempt.device),
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            ended_as=AttemptOutcome(attempt.outcome) if attempt.outcome else None,
            ranks=[
                RankPublic(rank=r["rank"], worker=WorkerPublic(hostname=r["hostname"], device=r["device"]))
                for r in attempt.ranks
            ]
            if attempt.ranks
            else None,
        )


class JobPublic(BaseModel):
    id: str
    status: JobStatus
    spec: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    progress: Progress
    summary: dict[str, float | None] | None
    error: ErrorPublic | None
    worker: WorkerPublic | None
    name: str | None = None  # spec.name and spec.tags, at the top for lists and search
    tags: list[str] = []
    attempt_history: list[AttemptPublic] | None = None  # GET /jobs/{id} only: every try, oldest first
    notice: str | None = None  # why a queued job is not starting, when a user must act (no worker)
    sweep_id: str | None = None  # a sweep's trial: its sweep and the values the search chose
    params: dict[str, Any] | None = None
    trial_number: int | None = None  # its number in the sweep
    queue: QueueInfo | None = None  # while queued: its place and why it waits

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        return cls(
            id=job.id,
            name=job.spec.get("name"),
            tags=list(job.spec.get("tags") or []),
            status=JobStatus(job.status),
            spec=job.spec,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            attempts=job.attempts,
            progress=Progress(
                epoch=job.progress_epoch,
                epochs=job.progress_epochs,
                step=job.progress_step,
                values=job.progress_values,
            ),
            summary=job.summary,
            error=ErrorPublic(type=job.error_type, message=job.error_message or "")
            if job.error_type
            else None,
            worker=WorkerPublic(hostname=job.worker_hostname, device=job.worker_device)
            if job.worker_hostname
            else None,
            sweep_id=job.sweep_id,
            params=job.params,
            trial_number=job.trial_number,
        )


class JobsPublic(BaseModel):
    items: list[JobPublic]
    next_cursor: str | None


class PointPublic(BaseModel):
    seq: int
    kind: Literal["step", "epoch"]
    epoch: int
    step: int
    time: datetime
    values: dict[str, float | None]


class MetricsPage(BaseModel):
    job_id: str
    status: str
    points: list[PointPublic]
    next: int


class LogLinePublic(BaseModel):
    seq: int
    time: datetime
    level: str
    message: str

    @classmethod
    def of(cls, line: LogLine) -> LogLinePublic:
        return cls(seq=line.seq, time=line.time, level=line.level, message=line.message)


class LogsPage(BaseModel):
    job_id: str
    status: str
    lines: list[LogLinePublic]
    next: int


class ArtifactPublic(BaseModel):
    name: str
    size: int
    sha256: str

    @classmethod
    def of(cls, artifact: Artifact) -> ArtifactPublic:
        return cls(name=artifact.name, size=artifact.size, sha256=artifact.sha256)


class ArtifactsPublic(BaseModel):
    items: list[ArtifactPublic]


class DatasetPublic(BaseModel):
    id: str
    name: str
    rows: int
    features: int
    shape: list[int] | None = None  # one row's shape ([16, 16, 1] for images); a table: [features]
    classes: int | None = None  # K, for multiclass labels 0..K-1 (or one-hot rows)
    target: str
    task: Task
    builtin: bool = False
    created_at: datetime | None = None

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetPublic:
        return cls(
            id=dataset.id,
            name=dataset.name,
            rows=dataset.rows,
            features=dataset.features,
            shape=dataset.shape or [dataset.features],
            classes=dataset.classes,
            target=dataset.target,
            task=cast(Task, dataset.task),
            created_at=dataset.created_at,
        )


# --- sweeps ---------------------------------------------------------------------


class Best(BaseModel):
    job_id: str
    params: dict[str, Any]
    value: float


class SweepPublic(BaseModel):
    id: str
    status: SweepStatus
    spec: dict[str, Any]
    space: dict[str, Any]
    method: str
    pruner: dict[str, Any] | None
    metric: str
    mode: str
    max_trials: int
    max_concurrent: int
    seed: int
    counts: dict[str, int]
    best: Best | None
    created_at: datetime
    finished_at: datetime | None


class SweepsPublic(BaseModel):
    items: list[SweepPublic]
    next_cursor: str | None


class TrialPublic(BaseModel):
    job_id: str
    number: int
    params: dict[str, Any]
    status: JobStatus
    value: float | None  # the metric at the trial's last epoch so far
    epochs_trained: int


class TrialsPublic(BaseModel):
    items: list[TrialPublic]
    next_cursor: str | None


class Curve(BaseModel):
    epoch: list[int]
    values: list[float | None]


class CurvesPublic(BaseModel):
    metric: str
    curves: dict[str, Curve]  # trial's job id -> the metric at each epoch point


class ImportancePublic(BaseModel):
    metric: str
    method: str
    trials: int  # the finished trials it was computed from
    importances: dict[str, float]  # parameter -> share; the shares sum to 1, largest first


# --- workers --------------------------------------------------------------------


class WorkerStatus(BaseModel):
    hostname: str
    pid: int
    device: str
    state: Literal["busy", "idle"]
    job: str | None  # the job it trains, only if it is the caller's
    started_at: datetime
    last_seen: datetime


# --- the model registry ------------------------------------------------------------

MAX_PREDICT_INSTANCES = 1000  # rows in one predict request: a bounded batch for the model server
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # models and aliases: URL-safe, no surprises


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="letters, digits, `.`, `_`, `-`; up to 64")
    description: str | None = Field(default=None, max_length=2000)
    tags: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")]] = Field(default=[], max_length=10)


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(min_length=6, max_length=32, description="a succeeded job's id or unique prefix")


class AliasSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="the version the alias points at from now on")


class ModelVersionPublic(BaseModel):
    version: int
    job_id: str
    sha256: str  # model.keras's
    created_at: datetime
    spec: dict[str, Any]
    summary: dict[str, Any] | None
    aliases: list[str] = []

    @classmethod
    def of(cls, row: ModelVersion, aliases: dict[str, int]) -> ModelVersionPublic:
        return cls(
            version=row.version,
            job_id=row.job_id,
            sha256=row.sha256,
            created_at=row.created_at,
            spec=row.spec,
            summary=row.summary,
            aliases=sorted(a for a, v in aliases.items() if v == row.version),
        )


class ModelPublic(BaseModel):
    name: str
    description: str | None
    tags: list[str]
    created_at: datetime
    aliases: dict[str, int]  # alias -> version
    latest_version: int | None
    versions: list[ModelVersionPublic] | None = None  # GET /models/{name} only


class ModelsPublic(BaseModel):
    items: list[ModelPublic]


class AliasPublic(BaseModel):
    alias: str
    version: int
    previous: int | None  # where it pointed before (null: it is new)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: list[Any] = Field(
        min_length=1,
        max_length=MAX_PREDICT_INSTANCES,
        description="one input per row, shaped as the model's input (without the batch axis)",
    )


class PredictionsPublic(BaseModel):
    predictions: list[Any]
    version: int


# --- webhooks ---------------------------------------------------------------------

WebhookEvent = Literal[
    "job.succeeded",
    "job.failed",
    "job.cancelled",
    "sweep.finished",
    "model.version_created",
    "model.alias_moved",
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8,
        max_length=2048,
        pattern=r"^https?://[^\s/?#@]+(/\S*)?$",
        description="http(s) URL whose host resolves to public addresses only",
    )
    events: list[WebhookEvent] = Field(min_length=1, max_length=6)
    secret: str = Field(
        min_length=16, max_length=256, description="signs each body (HMAC-SHA256); never shown again"
    )


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime  # the secret is never returned


class WebhooksPublic(BaseModel):
    items: list[WebhookPublic]


class DeliveryAttemptPublic(BaseModel):
    number: int
    time: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryPublic(BaseModel):
    id: str
    event: str
    status: Literal["pending", "delivered", "failed"]
    created_at: datetime
    finished_at: datetime | None
    next_attempt_at: datetime | None
    attempts: list[DeliveryAttemptPublic]


class DeliveriesPublic(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None
