"""The API's side of predictions: a request for a registered version is forwarded to the
model server (``tfjobs serve``: worker/serve.py, warm TensorFlow), which loads each
version's model.keras once and keeps it. The API itself imports no TensorFlow; it names
the file (storage key and sha256) and relays the answer: the server's 422 (instances that
do not fit the model) as a 422, no server or no answer as a 503."""

from __future__ import annotations

from typing import Any

import httpx

from app.core.config import Settings
from app.errors import InvalidInput, Unavailable
from app.store.tables import Artifact

__all__ = ["model_server_client", "predict"]


def model_server_client() -> httpx.AsyncClient:
    """The API process's one connection pool to the model server (app.state, closed with the app)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=3.0))


async def predict(
    settings: Settings, client: httpx.AsyncClient, artifact: Artifact, instances: list[Any]
) -> list[Any]:
    if not settings.serve_url:
        raise Unavailable(
            "no model server is configured: run `tfjobs serve`, set TFJOBS_SERVE_URL (`tfjobs up` does both)"
        )
    body = {"key": artifact.path, "sha256": artifact.sha256, "instances": instances}
    try:
        response = await client.post(f"{settings.serve_url.rstrip('/')}/v1/predict", json=body)
    except httpx.HTTPError as err:
        raise Unavailable(
            f"the model server did not answer ({type(err).__name__}); try again in a moment"
        ) from None
    if response.status_code == 422:
        raise InvalidInput(
            [{"loc": ["body", "instances"], "msg": response.json()["detail"], "type": "value_error"}]
        )
    if response.status_code != 200:
        raise Unavailable(f"the model server answered {response.status_code}; try again in a moment")
    return list(response.json()["predictions"])
