"""The worker's store calls ride out a database outage for as long as the job's lease lasts.

A worker that cannot reach the store cannot prove it still owns its job, but nobody else
can take the job from it either until its lease expires (the reconciler needs the same
store). So a store call is retried, with backoff, for up to one lease; a longer outage
ends the attempt as a hand-back, not a failure: the next attempt resumes from the last
checkpoint, and the checkpoint's history reports every epoch exactly once.

Tenacity does the retrying (backoff, a deadline, which errors count) rather than a
hand-written loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential,
)

from app.store.errors import LeaseLost

__all__ = ["StoreUnavailable", "patiently"]

log = logging.getLogger(__name__)
T = TypeVar("T")
# Answers, not outages: a newer attempt owns the job, or the data itself is wrong (a spec
# that no longer validates, a bug). Retrying those would only hold the job for a lease.
NOT_AN_OUTAGE = (LeaseLost, ValueError, TypeError, KeyError, AttributeError, AssertionError)


class StoreUnavailable(Exception):
    """The store did not answer for as long as the attempt could wait: hand the job back."""


def patiently(what: str, call: Callable[[], T], *, seconds: float) -> T:
    """``call()``, retried on any error but those in ``NOT_AN_OUTAGE`` (answers, raised at
    once) with backoff from 0.2 s to 2 s, for at most ``seconds``; then
    :class:`StoreUnavailable` naming ``what`` and the last error."""

    def warn(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (%s); retrying for up to %.0f s in all", what, error, seconds)

    retrying = Retrying(
        retry=retry_if_not_exception_type(NOT_AN_OUTAGE),
        stop=stop_after_delay(seconds),
        wait=wait_exponential(multiplier=0.2, max=2.0),
        before_sleep=warn,
    )
    try:
        return retrying(call)
    except RetryError as err:
        last = err.last_attempt.exception()
        raise StoreUnavailable(f"{what}: the store did not answer for {seconds:.0f} s ({last})") from last
