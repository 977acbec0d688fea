"""tfjobs client: a Python SDK (``Client``) and the ``tfjobs`` command line.

Imports no TensorFlow unless ``Job.load_model`` is called.
"""

from client.errors import ApiError, ConnectionFailed, JobFailed, SweepFailed, TfjobsError
from client.sdk import Client, Datasets, Job
from client.sweeps import Sweep, Sweeps

__all__ = [
    "ApiError",
    "Client",
    "ConnectionFailed",
    "Datasets",
    "Job",
    "JobFailed",
    "Sweep",
    "SweepFailed",
    "Sweeps",
    "TfjobsError",
]
