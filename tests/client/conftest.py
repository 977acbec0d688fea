"""A real running stack for client tests: `tfjobs up` on a temporary data dir."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.stack import REPO, TFJOBS, clean_env, running_up


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
            [*TFJOBS, *args],
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
    # webhooks to a receiver on loopback: what an operator opens with this setting
    env = clean_env(TFJOBS_REPORT_EVERY_SECONDS="0.2", TFJOBS_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")
    with running_up(tmp, env=env) as running:
        yield Up(running.url, running.data_dir)
