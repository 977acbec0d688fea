"""What every part of tfjobs shares: the version and the public vocabulary of the API.

This package imports nothing outside the standard library, so the client, the API, the
worker and ``tfcore`` can all depend on it without depending on each other.
"""

from tfjobs.status import FINAL_STATUSES, JobStatus, SweepStatus

__version__ = "0.2.0"

__all__ = ["FINAL_STATUSES", "JobStatus", "SweepStatus", "__version__"]
