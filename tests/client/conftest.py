"""A real running stack for client tests: `tfjobs up` on a temporary data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stack import REPO, free_port


@dataclass
class Up:
    url: str
    data_dir: Path

    def tfjobs(
        self, *args: str, input: str | None = None, timeout: float = 240, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Runs the `tfjobs` CLI against this server, as a user would from a terminal."""
        full_env = {**os.environ, "TFJOBS_URL": self.url, "COLUMNS": "120", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "client.cli", *args],
            cwd=REPO,
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="package")
def up(tmp_path_factory) -> Iterator[Up]:
    tmp = tmp_path_factory.mktemp("up")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFJOBS_")}
    env["TFJOBS_REPORT_EVERY_SECONDS"] = "0.2"
    log = (tmp / "up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "client.cli", "up", "--port", str(port), "--data-dir", str(tmp / "data")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while "tfjobs is up" not in (tmp / "up.log").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "up.log").read_text())
            time.sleep(0.3)
        yield Up(f"http://127.0.0.1:{port}", tmp / "data")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
