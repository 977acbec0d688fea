"""The model registry from the SDK: a name, its versions (succeeded jobs) and aliases.

>>> model = client.models.create("houses")                   # or client.models.get("houses")
>>> v = model.register(job)                                  # the next version: 1, 2, …
>>> model.alias("production", v)                             # point production at it
>>> model.predict([[0.1] * 10])                              # through production: {"predictions", "version"}
>>> model.download("prod/", alias="production")              # the version's files, sha256-checked
>>> client.models.register(job, "houses")                    # create-if-missing, then register
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfjobs.errors import ApiError

if TYPE_CHECKING:
    from tfjobs.sdk import Client, Job

__all__ = ["Model", "Models"]


class Models:
    """``client.models``: create, get, list, register."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, name: str, *, description: str | None = None, tags: Sequence[str] = ()) -> Model:
        body = {"name": name, "description": description, "tags": list(tags)}
        return Model(self._client, self._client.request("POST", "/models", json=body, retry=False).json())

    def get(self, name: str) -> Model:
        return Model(self._client, self._client.get_json(f"/models/{name}"))

    def __iter__(self) -> Iterator[Model]:
        for item in self._client.get_json("/models")["items"]:
            yield Model(self._client, item)

    def register(self, job: Job | str, name: str) -> int:
        """Registers ``job``'s model as the next version of ``name`` (created if you have no
        model of that name); returns the version number."""
        try:
            model = self.get(name)
        except ApiError as err:
            if err.status != 404:
                raise
            model = self.create(name)
        return model.register(job)


class Model:
    """A registered model; ``data`` is its last-read JSON (versions, aliases)."""

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self.client, self.data = client, data

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def aliases(self) -> dict[str, int]:
        return dict(self.data["aliases"])

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}, aliases={self.aliases}, latest_version={self.data.get('latest_version')})"
        )

    def refresh(self) -> Model:
        self.data = self.client.get_json(f"/models/{self.name}")
        return self

    def versions(self) -> list[dict[str, Any]]:
        return list(self.refresh().data["versions"])

    def register(self, job: Job | str) -> int:
        job_id = job if isinstance(job, str) else job.id
        made = self.client.request(
            "POST", f"/models/{self.name}/versions", json={"job_id": job_id}, retry=False
        )
        self.refresh()
        return int(made.json()["version"])

    def alias(self, alias: str, version: int) -> int | None:
        """Points ``alias`` at ``version``; returns where it pointed before (None: new)."""
        moved = self.client.request("PUT", f"/models/{self.name}/aliases/{alias}", json={"version": version})
        self.refresh()
        previous = moved.json()["previous"]
        return int(previous) if previous is not None else None

    def _where(self, alias: str | None, version: int | None) -> str:
        if (alias is None) == (version is None):
            raise ValueError("give one of alias= or version=")
        return (
            f"/models/{self.name}/aliases/{alias}"
            if alias is not None
            else f"/models/{self.name}/versions/{version}"
        )

    def predict(
        self, instances: Any, *, alias: str | None = "production", version: int | None = None
    ) -> dict[str, Any]:
        """``{"predictions": [...], "version": n}`` for ``instances`` (a list of rows, or
        anything with ``tolist()``, e.g. a NumPy array), through ``alias`` (default
        ``production``) or a fixed ``version``."""
        rows = instances.tolist() if hasattr(instances, "tolist") else list(instances)
        where = self._where(None if version is not None else alias, version)
        return dict(self.client.request("POST", f"{where}/predict", json={"instances": rows}).json())

    def download(
        self, directory: str | Path, *, alias: str | None = None, version: int | None = None
    ) -> Path:
        """The version's files (those of the job that made it), each sha256-checked, with
        ``saved_model/`` unpacked — as ``Job.download`` does."""
        if (alias is None) == (version is None):
            raise ValueError("give one of alias= or version=")
        if alias is not None:
            if alias not in self.refresh().aliases:
                raise ApiError(404, f"model {self.name!r} has no alias {alias!r}")
            version = self.aliases[alias]
        found = self.client.get_json(f"/models/{self.name}/versions/{version}")
        return self.client.job(found["job_id"]).download(directory)
