from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.core.config import Settings
from app.main import create_app
from app.store import tokens as store_tokens


@pytest.fixture
def settings(tmp_path) -> Settings:
    # dispatch_seconds: no background scheduler pass; a test runs its own (submits still do)
    return Settings(data_dir=tmp_path / "data", max_upload_mb=1, max_epochs=100, dispatch_seconds=3600)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app on a real SQLite store and the embedded folder broker."""
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost") as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client
    app.state.store.dispose()


MINIMAL = {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 5}


@contextmanager
def two_owners(
    settings: Settings, tables: tuple[str, ...]
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """The app with auth on and Bearer headers for owners alice and bob; ``tables`` (children
    first) are emptied afterwards, with the jobs and tokens (PostgreSQL's test database is
    shared), and the audit log before and after (every earlier test's writes are in it)."""
    app = create_app(settings.model_copy(update={"auth": True}))
    with app.state.store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))
    with TestClient(app, base_url="http://localhost") as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        with app.state.store.session() as session:
            heads = {
                who: {"Authorization": f"Bearer {store_tokens.create_token(session, owner=who)}"}
                for who in ("alice", "bob")
            }
        yield client, heads
    with app.state.store.engine.begin() as connection:
        for table in (*tables, "audit_log", "artifacts", "attempts", "jobs", "api_tokens"):
            connection.execute(text(f"DELETE FROM {table}"))
    app.state.store.dispose()
