"""One settings object, read by the API, the workers and the CLI (``TFJOBS_*`` variables).

Every path and URL defaults to something under ``data_dir``, so the embedded setup
(SQLite, a broker that is a folder, local artifacts) needs no configuration.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from tfcore.data import DataLimits

__all__ = ["Settings", "get_settings", "settings"]


class Settings(BaseSettings):
    """``TFJOBS_<NAME>`` for each field; see the settings table in the README."""

    model_config = SettingsConfigDict(env_prefix="TFJOBS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Root for the SQLite file, broker folder, datasets, artifacts"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///DATA_DIR/tfjobs.db"
    )
    storage_url: str | None = Field(
        default=None,
        description="where artifacts, checkpoints and uploads live: a folder, or s3://bucket/prefix "
        "(default: the data dir's artifacts/ and datasets/)",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="an S3-compatible server (MinIO, Ceph, …); default: AWS S3"
    )
    s3_region: str | None = Field(default=None, description="the bucket's region (or AWS_DEFAULT_REGION)")
    storage_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="S3: longest wait for the next bytes of an answer before the call fails (and is retried)",
    )
    presign_seconds: int = Field(
        default=300,
        ge=10,
        le=7 * 24 * 3600,
        description="how long a presigned download URL (redirect=1) lives",
    )
    broker_url: str | None = Field(
        default=None, description="redis://... ; default: a broker folder under DATA_DIR"
    )
    artifacts_dir: Path | None = Field(default=None, description="default DATA_DIR/artifacts")
    max_upload_mb: int = Field(default=100, ge=1, description="largest dataset upload (413 beyond)")
    max_epochs: int = Field(default=1000, ge=1, description="largest epochs a spec may ask for")
    max_model_params: int = Field(
        default=20_000_000,
        ge=1,
        description="largest model a `keras` job's architecture may build, in parameters (422 at submit "
        "when the config shows it; the worker counts exactly)",
    )
    worker_address: str | None = Field(
        default=None,
        description="the host a gang's other ranks reach this worker at (default: the IP its hostname "
        "resolves to; in Kubernetes the pod IP)",
    )
    collective_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="the port a gang rank's collective server listens on (0: any free port)",
    )
    max_replicas: int = Field(
        default=8, ge=1, description="most worker processes one job may train on together (`replicas`)"
    )
    max_rows: int = Field(default=1_000_000, ge=10, description="largest dataset, in rows")
    max_features: int = Field(default=1_000, ge=1, description="largest dataset, in feature columns")
    max_dataset_mb: int = Field(
        default=1024, ge=1, description="largest dataset in memory (an NPZ's arrays, uncompressed), MB"
    )
    max_body_kb: int = Field(default=64, ge=1, description="largest JSON request body")
    max_header_kb: int = Field(
        default=64, ge=1, le=16384, description="largest request head (request line and headers; 431 beyond)"
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="longest a client may take to send a request's headers (408 beyond)"
    )
    page_limit: int = Field(default=1000, ge=1, description="largest page of metrics, logs or jobs")
    report_every_steps: int = Field(default=50, ge=1, description="step points at most every N steps")
    report_every_seconds: float = Field(default=1.0, gt=0, description="... or every X seconds")
    cancel_poll_seconds: float = Field(default=0.5, gt=0, description="how often a worker checks for cancel")
    auth: bool = Field(default=False, description="require `Authorization: Bearer <token>` (on/off)")
    bootstrap_token: str | None = Field(
        default=None, min_length=16, description="a token registered at API start (compose)"
    )
    bootstrap_owner: str = Field(default="admin", description="owner of the bootstrap token")
    allowed_hosts: str = Field(
        default="",
        description="comma-separated names the API answers to in Host (`*`: any); with auth off "
        "loopback names are always allowed, and only they by default",
    )
    cors_origins: str = Field(
        default="",
        description="comma-separated origins (https://app.example) whose pages may call the API; "
        "default none: CORS stays closed",
    )
    metrics_token: str | None = Field(
        default=None, min_length=16, description="with auth on, the bearer token /metrics accepts"
    )
    lease_seconds: float = Field(default=60.0, ge=1, description="a job's lease; renewed by heartbeat")
    keep_checkpoints: bool = Field(
        default=False, description="keep a succeeded job's checkpoints after export (they are removed)"
    )
    worker_heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="how often a worker says it is alive (gone after 3 missed)"
    )
    max_attempts: int = Field(default=3, ge=1, description="tries before a job whose worker died fails")
    max_queued_per_owner: int = Field(default=100, ge=1, description="queued jobs per owner (429 beyond)")
    dispatch_seconds: float = Field(
        default=1.0, gt=0, description="how often the API's scheduler pass runs besides submits and job ends"
    )
    max_running_per_owner: int | None = Field(
        default=None, ge=1, description="jobs of one owner running at once (default: no limit); the rest wait"
    )
    max_active_sweeps_per_owner: int = Field(
        default=10, ge=1, description="unfinished sweeps per owner (429 beyond)"
    )
    max_sweep_trials: int = Field(default=200, ge=1, description="largest max_trials a sweep may ask for")
    max_sweep_concurrent: int = Field(
        default=8, ge=1, description="largest max_concurrent (trials queued or running at once) of a sweep"
    )
    api_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="threads per API process for the store's blocking calls (more only contend for the GIL)",
    )
    max_concurrent_requests: int = Field(
        default=64,
        ge=1,
        description="requests one API process works on at once (probes, /metrics and streams aside)",
    )
    max_waiting_requests: int = Field(
        default=512,
        ge=0,
        description="requests that may wait for a place; beyond, 503 with Retry-After at once",
    )
    request_wait_seconds: float = Field(
        default=10.0, gt=0, description="longest a request waits for a place before its 503"
    )
    max_streams_per_owner: int = Field(
        default=100, ge=1, description="open SSE streams per owner and API process (429 beyond)"
    )

    webhook_allowed_networks: str = Field(
        default="",
        description="comma-separated CIDRs (10.0.0.0/8) webhooks may target besides public addresses; "
        "default none: loopback, link-local (the cloud metadata address), private and reserved "
        "addresses are refused at creation and again at each send",
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="how long one webhook delivery attempt may take"
    )
    webhook_retry_seconds: float = Field(
        default=6 * 3600,
        gt=0,
        description="how long a delivery is retried (exponential backoff) before it is marked failed",
    )
    webhook_backoff_seconds: float = Field(
        default=2.0, gt=0, description="the wait before a delivery's second attempt; it doubles each time"
    )
    audit_retention_days: int = Field(
        default=365, ge=1, description="how long the audit log keeps a row (the only rows ever deleted)"
    )
    serve_url: str = Field(
        default="",
        description="where the model server (`tfjobs serve`) listens, e.g. http://127.0.0.1:8501; "
        "`tfjobs up` sets it; empty: predictions answer 503",
    )

    @field_validator("metrics_token", "bootstrap_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose passes `${TFJOBS_METRICS_TOKEN:-}` through as "" when the operator sets none
        return None if value == "" else value

    @property
    def host_allowlist(self) -> frozenset[str] | None:
        """The names Host may carry; None: any (auth on and no list, or `*`)."""
        from app.core.origins import LOOPBACK_HOSTS

        names = {n.strip().lower() for n in self.allowed_hosts.split(",") if n.strip()}
        if "*" in names:
            return None
        if not self.auth:
            return frozenset(names | LOOPBACK_HOSTS)
        return frozenset(names) if names else None

    @property
    def cors_origin_list(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'tfjobs.db'}"

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url is None

    @property
    def broker_folder(self) -> Path:
        return self.resolved_data_dir / "broker"

    @property
    def artifacts_root(self) -> Path:
        return (self.artifacts_dir or self.resolved_data_dir / "artifacts").expanduser().resolve()

    @property
    def cache_root(self) -> Path:
        """This node's copies of stored files (datasets by sha256) when storage is elsewhere."""
        return self.resolved_data_dir / "cache"

    def spec_context(self) -> dict[str, int]:
        """The limits a job spec is validated against (``JobSpec.model_validate(..., context=)``)."""
        return {
            "max_epochs": self.max_epochs,
            "max_model_params": self.max_model_params,
            "max_replicas": self.max_replicas,
        }

    def data_limits(self) -> DataLimits:
        """The dataset limits the API checks on upload and the worker again on load."""
        from tfcore.data import DataLimits

        return DataLimits(
            max_rows=self.max_rows, max_features=self.max_features, max_bytes=self.max_dataset_mb << 20
        )

    @property
    def datasets_root(self) -> Path:
        return self.resolved_data_dir / "datasets"


settings = Settings()


def get_settings() -> Settings:
    """The process's settings (a function, so tests can override it as a dependency)."""
    return settings
