"""Prometheus metrics of the service itself: request latency, jobs by status, queue depth."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.core.config import Settings
from app.store import jobs as store_jobs
from app.store import workers as store_workers
from app.store.db import Store
from tfjobs import JobStatus

__all__ = ["ServiceMetrics"]


class _JobsCollector(Collector):
    """Reads job counts from the store at scrape time: the store is the source of truth."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store, self.settings = store, settings

    def collect(self) -> Iterator[GaugeMetricFamily]:

        with self.store.session() as session:
            counts = store_jobs.count_jobs_by_status(session)
            workers = store_workers.live_workers(
                session, heartbeat_seconds=self.settings.worker_heartbeat_seconds
            )
        yield GaugeMetricFamily("tfjobs_workers_alive", "Workers heard from recently", value=len(workers))
        yield GaugeMetricFamily(
            "tfjobs_workers_busy",
            "Workers training a job",
            value=sum(w.current_job is not None for w in workers),
        )
        jobs = GaugeMetricFamily("tfjobs_jobs", "Jobs in the store by status", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        yield GaugeMetricFamily(
            "tfjobs_queue_depth", "Jobs waiting for a worker", value=counts.get(JobStatus.QUEUED, 0)
        )


class ServiceMetrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "tfjobs_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.registry.register(_JobsCollector(store, settings))
