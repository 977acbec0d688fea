"""tfjobs client: a Python SDK (``Client``) and the ``tfjobs`` command line.

Imports no TensorFlow unless ``Job.load_model`` is called.
"""

from client.errors import ApiError, ConnectionFailed, JobFailed, TfjobsError
from client.sdk import Client, Datasets, Job

__all__ = ["ApiError", "Client", "ConnectionFailed", "Datasets", "Job", "JobFailed", "TfjobsError"]
