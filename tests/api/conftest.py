from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app


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
