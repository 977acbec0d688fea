from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, *, cwd: Path | None = None, timeout: float = 300) -> str:
    """Runs ``code`` in a fresh interpreter (nothing loaded); returns its stdout."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd or REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"subprocess failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture
def fresh_python():
    return run_python
