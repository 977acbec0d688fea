"""Runs the real service as separate processes for integration tests: API (uvicorn) and workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

REPO = Path(__file__).resolve().parents[1]
FINAL = {"succeeded", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    data_dir: Path
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_files: list[IO[bytes]] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.processes)}.log").open("wb")
        self.log_files.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def wait_for_job(self, job_id: str, *, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while time.monotonic() < deadline:
                job = client.get(f"/jobs/{job_id}").json()
                if job["status"] in FINAL:
                    return job
                time.sleep(0.3)
        raise AssertionError(f"job {job_id} did not finish in {timeout}s:\n{self.tail_logs()}")

    def tail_logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.iterdir())
        )


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"API exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("API did not become healthy")


@contextmanager
def running_stack(tmp_path: Path, settings: Mapping[str, str], *, workers: int = 1) -> Iterator[Stack]:
    """API + workers with the given ``TFJOBS_*`` settings; all stopped afterwards."""
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TFJOBS_DATA_DIR": str(tmp_path / "data"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TFJOBS_REPORT_EVERY_SECONDS": "0.2",
        "TFJOBS_CANCEL_POLL_SECONDS": "0.2",
        **settings,
    }
    stack = Stack(f"http://127.0.0.1:{port}", env, tmp_path / "data", logs)
    api_log = (logs / "api.log").open("wb")
    stack.log_files.append(api_log)
    api = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=api_log,
        stderr=subprocess.STDOUT,
    )
    stack.processes.append(api)
    try:
        _wait_http(stack.url, api)
        for _ in range(workers):
            stack.start_worker()
        yield stack
    finally:
        for process in stack.processes:
            if process.poll() is None:
                process.terminate()
        for process in stack.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in stack.log_files:
            log.close()
