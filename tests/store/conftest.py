"""The store every test here runs against: a fresh SQLite file, or the machine's shared
PostgreSQL database emptied after each test (``database_url`` runs each test on both)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from app.store.db import Store, migrate

# Children before parents (foreign keys).
TABLES = (
    "webhook_attempts",
    "webhook_deliveries",
    "webhooks",
    "model_aliases",
    "model_versions",
    "models",
    "artifacts",
    "log_lines",
    "metric_points",
    "attempts",
    "jobs",
    "sweeps",
    "datasets",
    "workers",
)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    migrate(store.engine)
    yield store
    with store.engine.begin() as connection:
        for table in TABLES:
            connection.execute(text(f"DELETE FROM {table}"))
    store.dispose()
