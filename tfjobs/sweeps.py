"""Sweeps from the SDK: ``client.sweeps.submit(...)`` starts a search whose trials are jobs.

>>> sweep = client.sweeps.submit("examples/sweep_grid.yaml")     # or spec=…, space=…, …
>>> sweep.wait()                                                 # every trial has ended
>>> for trial in sweep.trials():
...     print(trial["number"], trial["params"], trial["status"], trial["value"])
>>> best = sweep.best()                                          # a Job: download, load_model
>>> best.download("best/")
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfjobs.errors import SweepFailed
from tfjobs.resource import Resource

if TYPE_CHECKING:
    from tfjobs.sdk import Client, Job

__all__ = ["FINAL_SWEEP_STATUSES", "Sweep", "Sweeps"]

FINAL_SWEEP_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class Sweeps:
    """``client.sweeps``: submit, list, get."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(self, sweep: str | Path | Mapping[str, Any] | None = None, /, **fields: Any) -> Sweep:
        """Starts a sweep: ``sweep`` (a mapping, or a JSON/YAML file) with ``fields`` on top
        (``spec``, ``space``, ``method``, ``metric``, ``mode``, ``max_trials``,
        ``max_concurrent``, ``seed``, ``pruner``). Retry-safe (an Idempotency-Key)."""
        from tfjobs.sdk import load_spec

        body = {**(load_spec(sweep) if sweep is not None else {}), **fields}
        response = self._client.request(
            "POST", "/sweeps", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        return Sweep(self._client, response.json())

    def get(self, sweep_id: str) -> Sweep:
        return Sweep(self._client, self._client.get_json(f"/sweeps/{sweep_id}"))

    def __iter__(self) -> Iterator[Sweep]:
        """Every sweep, newest first."""
        cursor = None
        while True:
            page = self._client.get_json("/sweeps", cursor=cursor)
            for item in page["items"]:
                yield Sweep(self._client, item)
            cursor = page["next_cursor"]
            if cursor is None:
                return


class Sweep(Resource):
    """A sweep on the server; ``data`` is its last-read JSON (see ``refresh``)."""

    collection = "/sweeps"

    def __repr__(self) -> str:
        return f"Sweep({self.id!r}, status={self.status!r}, counts={self.data.get('counts')})"

    def wait(self, timeout: float | None = None, *, poll: float = 1.0) -> Sweep:
        """Blocks until every trial has ended; raises :class:`SweepFailed` unless it succeeded."""
        self._wait_final(FINAL_SWEEP_STATUSES, timeout, poll)
        if self.status != "succeeded":
            raise SweepFailed(self.id, self.status, self.data.get("counts") or {})
        return self

    def trials(self) -> list[dict[str, Any]]:
        """Every trial so far, in order: ``job_id``, ``number``, ``params``, ``status``,
        ``value`` (the metric at its last epoch so far) and ``epochs_trained``."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.client.get_json(f"/sweeps/{self.id}/trials", cursor=cursor)
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    def best(self) -> Job:
        """The best succeeded trial as a :class:`~tfjobs.sdk.Job` (download, load_model)."""
        best = self.refresh().data.get("best")
        if best is None:
            raise SweepFailed(
                self.id, self.status, self.data.get("counts") or {}, "no trial has succeeded yet"
            )
        return self.client.job(best["job_id"])

    def cancel(self) -> Sweep:
        self.data = self.client.request("POST", f"/sweeps/{self.id}/cancel").json()
        return self
