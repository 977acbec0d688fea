"""The machine's Redis and PostgreSQL, as tests and benchmarks reach them (environment
variables point elsewhere)."""

from __future__ import annotations

import os

__all__ = ["PG_ADMIN_URL", "REDIS_URL"]

PG_ADMIN_URL = os.environ.get("TFJOBS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TFJOBS_TEST_REDIS", "redis://127.0.0.1:6379/9")
