"""What the benchmarks share: the machine line, the reference job and data, a temporary store."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__all__ = ["machine", "median", "percentile", "rss_mb", "temporary_store"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def rss_mb(pid: int) -> float:
    """A process's resident memory now, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@contextmanager
def temporary_store(url: str | None = None) -> Iterator[object]:
    """A migrated store (SQLite in a temp folder unless ``url``) for one benchmark run."""
    from app.store.db import Store, migrate

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(url or f"sqlite:///{tmp}/bench.db")
        migrate(store.engine)
        try:
            yield store
        finally:
            store.dispose()
