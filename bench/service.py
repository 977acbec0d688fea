"""The real service (API + workers as separate processes) for a benchmark run: the tests'
one launcher (``harness.stack``), in a temporary folder, with the default settings."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.stack import Stack, running_stack

__all__ = ["running_service"]


@contextmanager
def running_service(
    *, workers: int = 1, settings: dict[str, str] | None = None, api_workers: int = 1
) -> Iterator[Stack]:
    """API (uvicorn, ``api_workers`` processes) + ``workers`` warmed-up workers; stopped afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        with running_stack(
            Path(tmp),
            {"TF_CPP_MIN_LOG_LEVEL": "3", **(settings or {})},
            workers=workers,
            api_workers=api_workers,
            wait_ready=True,
            inherit=False,
            quick_reports=False,
        ) as stack:
            yield stack
