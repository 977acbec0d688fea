"""Starts the real service (API + workers as separate processes) for a benchmark run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["Service", "running_service"]


@dataclass
class Service:
    url: str
    data_dir: Path
    api_pid: int
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(
    *, workers: int = 1, settings: dict[str, str] | None = None, api_workers: int = 1
) -> Iterator[Service]:
    """API (uvicorn) + ``workers`` worker processes on the embedded default in a temp dir,
    each worker warmed up before this yields; all stopped afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TFJOBS_")},
            "TFJOBS_DATA_DIR": str(data),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **(settings or {}),
        }
        log = (data / "service.log").open("wb")
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", str(api_workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        ]
        ready = [data / f"worker-{i}.ready" for i in range(workers)]
        procs += [
            subprocess.Popen(
                [sys.executable, "-m", "worker", "--ready-file", str(r), "--loglevel", "WARNING"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for r in ready
        ]
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while not (all(r.exists() for r in ready) and _healthy(url)):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError((data / "service.log").read_text()[-3000:])
                time.sleep(0.2)
            yield Service(url, data, procs[0].pid, env)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
