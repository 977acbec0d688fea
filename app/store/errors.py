"""The store's own error: not an HTTP answer, a fact about who may still write a job."""

from __future__ import annotations

__all__ = ["LeaseLost"]


class LeaseLost(Exception):
    """The job moved on to a newer attempt (or ended): this attempt must write nothing more."""
