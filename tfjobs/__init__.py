"""tfjobs: the Python SDK, the ``tfjobs`` command line, and the vocabulary every part shares.

>>> from tfjobs import Client, JobFailed
>>> with Client("http://127.0.0.1:8000") as client:
...     job = client.submit({"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 5})

``import tfjobs`` itself loads only the standard library: the API, the worker and
``tfcore`` import the statuses and the version from here without loading the SDK's HTTP
client. The SDK's names (``Client``, ``JobFailed``, …) load on first use. Nothing here
imports the server or TensorFlow (``Job.load_model`` imports TensorFlow when called).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tfjobs.status import FINAL_STATUSES, AttemptOutcome, Device, JobStatus, SweepStatus

if TYPE_CHECKING:
    from tfjobs.errors import ApiError, ConnectionFailed, JobFailed, SweepFailed, TfjobsError
    from tfjobs.sdk import Client, Datasets, Job
    from tfjobs.sweeps import Sweep, Sweeps

__version__ = "0.2.0"

# The SDK's public names and the module each lives in, imported on first use.
_SDK = {
    "ApiError": "tfjobs.errors",
    "ConnectionFailed": "tfjobs.errors",
    "JobFailed": "tfjobs.errors",
    "SweepFailed": "tfjobs.errors",
    "TfjobsError": "tfjobs.errors",
    "Client": "tfjobs.sdk",
    "Datasets": "tfjobs.sdk",
    "Job": "tfjobs.sdk",
    "Sweep": "tfjobs.sweeps",
    "Sweeps": "tfjobs.sweeps",
}

__all__ = [
    "FINAL_STATUSES",
    "ApiError",
    "AttemptOutcome",
    "Client",
    "ConnectionFailed",
    "Datasets",
    "Device",
    "Job",
    "JobFailed",
    "JobStatus",
    "Sweep",
    "SweepFailed",
    "SweepStatus",
    "Sweeps",
    "TfjobsError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _SDK.get(name)
    if module is None:
        raise AttributeError(f"module 'tfjobs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value
