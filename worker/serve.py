"""``python -m worker.serve [--host H] [--port P]`` (``tfjobs serve``): the model server.

Warm TensorFlow behind a small HTTP API that only the tfjobs API calls: ``POST
/v1/predict`` with a registered version's file (its storage key and sha256) and the
instances. Each model.keras is fetched from the artifact storage once, its sha256
checked, loaded with Keras' safe mode (tfcore's registered components, no code from the
file) and kept — the most recently used ``TFJOBS_SERVE_MODELS`` of them. The API decides
which version an alias means on every request, so moving an alias needs no restart here:
the next request names the other file.

Instances are checked against the model's input before anything runs: a ragged list,
a value that is not a number or a row of the wrong shape is a 422 that says which.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.core.config import Settings, get_settings
from app.storage import open_storage

__all__ = ["ModelCache", "check_instances", "create_app", "main"]

log = logging.getLogger("tfjobs.serve")


class BadInstances(ValueError):
    """Instances that do not fit the model; the message says how."""


def check_instances(instances: list[Any], input_shape: Any) -> np.ndarray:
    """The instances as one float32 batch shaped for the model, or :class:`BadInstances`."""
    if isinstance(input_shape, list):
        raise BadInstances("this model takes several inputs; the server serves single-input models")
    try:
        batch = np.asarray(instances, dtype=np.float32)
    except ValueError as err:
        ragged = "inhomogeneous" in str(err) or "sequence" in str(err)
        raise BadInstances(
            "instances are ragged: every row must have the same shape"
            if ragged
            else "every value in instances must be a number"
        ) from None
    except TypeError:
        raise BadInstances("every value in instances must be a number") from None
    if not np.isfinite(batch).all():
        raise BadInstances("instances hold NaN or infinity")
    wanted = tuple(input_shape[1:])
    got = batch.shape[1:]
    fits = len(got) == len(wanted) and all(w is None or w == g for w, g in zip(wanted, got, strict=True))
    if not fits:
        shown = (
            "("
            + ", ".join("any" if w is None else str(w) for w in wanted)
            + ("," if len(wanted) == 1 else "")
            + ")"
        )
        raise BadInstances(f"each instance must have shape {shown}; these have {tuple(got)}")
    return batch


def input_shape_of(model: Any) -> Any:
    """A functional or Sequential model's ``input_shape``; a subclassed one (tfcore's
    residual, wide-and-deep, …) has none, but its build config keeps the shape it was built for."""
    try:
        return model.input_shape
    except AttributeError:
        config = model.get_build_config() or {}
        shape = config.get("input_shape")
        if shape is None:
            raise BadInstances("this model does not say what input it takes") from None
        return list(shape) if isinstance(shape[0], (list, tuple)) else tuple(shape)


class ModelCache:
    """Loaded models by sha256, least recently used out first; one load per file at a time."""

    def __init__(self, settings: Settings, size: int) -> None:
        self.settings, self.size = settings, size
        self.models: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.Lock()
        self.loading: dict[str, threading.Lock] = {}
        self.folder = settings.resolved_data_dir / "serve-cache"
        self.folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str, sha256: str) -> Any:
        with self.lock:
            if sha256 in self.models:
                self.models.move_to_end(sha256)
                return self.models[sha256]
            gate = self.loading.setdefault(sha256, threading.Lock())
        with gate:  # a second request for the same new file waits for the first's load
            with self.lock:
                if sha256 in self.models:
                    return self.models[sha256]
            model = self._load(key, sha256)
            with self.lock:
                self.models[sha256] = model
                while len(self.models) > self.size:
                    self.models.popitem(last=False)
                self.loading.pop(sha256, None)
            return model

    def _load(self, key: str, sha256: str) -> Any:
        import keras

        import tfcore  # noqa: F401 - registers the custom layers and losses safe mode may load

        storage = open_storage(self.settings, "artifacts")
        path = storage.local_path(key)
        if path is None:
            path = self.folder / f"{sha256}.keras"
            if not path.exists():
                partial = path.with_suffix(".partial")
                storage.get_to_file(key, partial)
                partial.rename(path)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if digest != sha256:
            raise RuntimeError(f"{key}: sha256 {digest} is not the registered {sha256}")
        model = keras.models.load_model(path, safe_mode=True)
        log.info("loaded %s (%s)", key, sha256[:12])
        return model


def create_app(settings: Settings | None = None, ready_file: Path | None = None) -> Starlette:
    settings = settings or get_settings()
    cache = ModelCache(settings, int(os.environ.get("TFJOBS_SERVE_MODELS", "8")))

    def run(key: str, sha256: str, instances: list[Any]) -> list[Any]:
        model = cache.get(key, sha256)
        batch = check_instances(instances, input_shape_of(model))
        out = model(batch, training=False)
        return np.asarray(out, dtype=np.float64).tolist()

    async def predict(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            predictions = await run_in_threadpool(run, body["key"], body["sha256"], body["instances"])
        except BadInstances as err:
            return JSONResponse({"detail": str(err)}, status_code=422)
        return JSONResponse({"predictions": predictions})

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "models": len(cache.models)})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if ready_file is not None:
            ready_file.touch()  # listening: `tfjobs up` may tell the API where
        yield

    return Starlette(
        routes=[Route("/v1/predict", predict, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tfjobs serve", description="Run the model server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--ready-file", type=Path, help="touched once TensorFlow is loaded")
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # noqa: F401 - TensorFlow loads now, not on the first request
    import uvicorn

    app = create_app(ready_file=args.ready_file)
    asyncio.run(
        uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")).serve()
    )


if __name__ == "__main__":
    main()
