"""The Python SDK: submit jobs, follow their metrics, download and load their models.

>>> from tfjobs import Client
>>> client = Client()                                    # TFJOBS_URL, TFJOBS_TOKEN
>>> job = client.submit(model_type="residual", loss="huber", threshold=2.0, epochs=5)
>>> for point in job.stream():                           # live, resumes after a drop
...     print(point["epoch"], point["values"]["loss"])
>>> job.wait().download("out/")                          # verified against sha256
>>> model = job.load_model()
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from tfjobs.errors import ApiError, ConnectionFailed, JobFailed, TfjobsError, describe_detail
from tfjobs.models import Models
from tfjobs.resource import Resource
from tfjobs.status import FINAL_STATUSES, JobStatus
from tfjobs.sweeps import Sweeps
from tfjobs.webhooks import Webhooks

__all__ = ["DEFAULT_URL", "Client", "Datasets", "Job", "load_spec", "normalize_url"]

DEFAULT_URL = "http://127.0.0.1:8000"


def load_spec(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A spec from a mapping, a JSON or YAML file, or ``-`` (standard input)."""
    if isinstance(source, Mapping):
        return dict(source)
    if str(source) == "-":
        import sys

        text, name = sys.stdin.read(), "standard input"
    else:
        path = Path(source)
        try:
            text, name = path.read_text(), str(path)
        except OSError as err:
            raise ValueError(f"cannot read spec file {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as json_error:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" (line {where.line + 1})" if where else ""
            raise ValueError(
                f"{name} is neither valid JSON ({json_error.msg}, line "
                f"{json_error.lineno}) nor valid YAML{line}"
            ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{name} must hold a JSON/YAML object (a mapping of spec fields)")
    return data


def normalize_url(url: str) -> str:
    """``localhost:8100`` → ``http://localhost:8100``: a URL typed without a scheme is HTTP."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


class Client:
    """A connection to a tfjobs server.

    Args:
        url: the server. Defaults to ``$TFJOBS_URL`` or ``http://127.0.0.1:8000``.
        token: an API token. Defaults to ``$TFJOBS_TOKEN``.
        timeout: seconds per request. Defaults to 30.
        retries: extra tries for a request that failed to connect. Defaults to 3.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = normalize_url(url or os.environ.get("TFJOBS_URL") or DEFAULT_URL)
        token = token or os.environ.get("TFJOBS_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.retries = retries
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)
        self.datasets = Datasets(self)
        self.sweeps = Sweeps(self)
        self.models = Models(self)
        self.webhooks = Webhooks(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests ------------------------------------------------------------------

    def request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> httpx.Response:
        """One API call; connection errors retried (with backoff) when ``retry``."""
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except httpx.TransportError as err:
                if attempt == attempts - 1:
                    raise ConnectionFailed(
                        f"cannot reach tfjobs at {self.url} ({type(err).__name__}: {err}); start one "
                        "with `tfjobs up`, or point at yours with --url or TFJOBS_URL"
                    ) from None
                time.sleep(min(2.0, 0.2 * 2**attempt))
        if response.status_code >= 400:
            raise ApiError(response.status_code, _explain(response, self.url))
        return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    # --- jobs ----------------------------------------------------------------------

    def submit(
        self, spec: str | Path | Mapping[str, Any] | None = None, /, *, model: Any = None, **fields: Any
    ) -> Job:
        """Submits a job; ``spec`` (a mapping or a JSON/YAML file) with ``fields`` on top.

        ``model``: a Keras model you built (``keras.Sequential`` or a functional ``Model``):
        its architecture is sent as data (``model.to_json()``: no weights, no code) with
        ``model_type: keras``, e.g. ``client.submit(model=cnn, loss=
        "sparse_categorical_crossentropy", dataset=images_id, epochs=10)``.

        The POST carries an ``Idempotency-Key``, so retrying after a lost answer can
        never create a second job.
        """
        body = {**(load_spec(spec) if spec is not None else {}), **fields}
        if model is not None:
            body = {"model_type": "keras", **body, "architecture": architecture_of(model)}
        key = uuid.uuid4().hex
        response = self.request("POST", "/jobs", json=body, headers={"Idempotency-Key": key})
        return Job(self, response.json())

    def job(self, job_id: str) -> Job:
        return Job(self, self.get_json(f"/jobs/{job_id}"))

    def jobs(
        self,
        status: str | None = None,
        *,
        tag: str | None = None,
        q: str | None = None,
        filter: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Job]:
        """Every job (newest first), following the cursor across pages; ``tag``, ``q``
        (a part of the name) and ``filter`` narrow it. ``filter`` is the server's filter
        language: ``client.jobs(filter="metrics.val_loss < 0.3 and tag = 'baseline'")``;
        one that does not parse raises :class:`~tfjobs.errors.ApiError` (422) naming the column."""
        cursor = None
        while True:
            page = self.get_json(
                "/jobs", status=status, tag=tag, q=q, filter=filter, limit=page_size, cursor=cursor
            )
            for item in page["items"]:
                yield Job(self, item)
            cursor = page["next_cursor"]
            if cursor is None:
                return


class Datasets:
    """``client.datasets``: upload, list and delete."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(self, path: str | Path, *, target: str | None = None) -> dict[str, Any]:
        path = Path(path)
        with path.open("rb") as f:
            data = {"target": target} if target else {}
            return self._client.request(
                "POST", "/datasets", files={"file": (path.name, f)}, data=data, retry=False
            ).json()

    def list(self) -> list[dict[str, Any]]:
        return self._client.get_json("/datasets")

    def delete(self, dataset_id: str) -> None:
        """Deletes an uploaded dataset (409 while a queued or running job uses it)."""
        self._client.request("DELETE", f"/datasets/{dataset_id}")


class Job(Resource):
    """A job on the server; ``data`` is its last-read JSON (see ``refresh``)."""

    collection = "/jobs"

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        super().__init__(client, data)
        self._downloaded: Path | None = None

    def __repr__(self) -> str:
        return f"Job({self.id!r}, status={self.status!r})"

    def wait(self, timeout: float | None = None, *, poll: float = 0.5) -> Job:
        """Blocks until the job ends; raises :class:`JobFailed` unless it succeeded."""
        self._wait_final(FINAL_STATUSES, timeout, poll)
        if self.status != JobStatus.SUCCEEDED:
            raise JobFailed(self)
        return self

    def cancel(self) -> Job:
        self.data = self.client.request("POST", f"/jobs/{self.id}/cancel").json()
        return self

    def delete(self) -> None:
        """Deletes the finished job with its metrics, logs and files (409 while it runs)."""
        self.client.request("DELETE", f"/jobs/{self.id}")

    def _pages(self, path: str, key: str, after: int) -> Iterator[dict[str, Any]]:
        while True:
            page = self.client.get_json(f"/jobs/{self.id}/{path}", after=after)
            yield from page[key]
            if not page[key]:
                return
            after = page["next"]

    def metrics(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """Every stored point after ``after``, across pages (a snapshot; see ``stream``)."""
        return self._pages("metrics", "points", after)

    def logs(self, after: int = 0) -> Iterator[dict[str, Any]]:
        return self._pages("logs", "lines", after)

    def stream(self, after: int = 0, *, what: str = "metrics") -> Iterator[dict[str, Any]]:
        """Points (or log lines, ``what="logs"``) live as they are stored, until the job ends.

        A dropped connection is reopened with ``Last-Event-ID``: every item comes
        exactly once, in order.
        """
        last, failures = after, 0
        while True:
            try:
                headers = {"Last-Event-ID": str(last)} if last else {}
                with self.client._http.stream(
                    "GET",
                    f"/jobs/{self.id}/{what}/stream",
                    headers=headers,
                    timeout=httpx.Timeout(30, read=60),
                ) as r:
                    if r.status_code >= 400:
                        r.read()
                        raise ApiError(r.status_code, r.json().get("detail", r.text))
                    for event, data, event_id in _sse_events(r.iter_lines()):
                        failures = 0
                        if event == "end":
                            self.data["status"] = json.loads(data)["status"]
                            return
                        if event_id is not None and int(event_id) <= last:
                            continue  # already yielded before a reconnect
                        item = json.loads(data)
                        last = item["seq"]
                        yield item
            except httpx.TransportError as err:
                failures += 1
                if failures > self.client.retries:
                    raise ConnectionFailed(f"lost the stream of job {self.id}: {err}") from None
                time.sleep(min(2.0, 0.2 * 2**failures))

    def artifacts(self) -> list[dict[str, Any]]:
        return self.client.get_json(f"/jobs/{self.id}/artifacts")["items"]

    def download(self, directory: str | Path, *, extract: bool = True) -> Path:
        """Downloads every artifact into ``directory``, checking each sha256 and resuming
        any file an earlier, interrupted call left half done; unpacks
        ``saved_model.tar.gz`` into ``directory/saved_model`` when ``extract``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        listing = self.artifacts()
        if not listing:
            status = self.refresh().status
            if status not in FINAL_STATUSES:
                raise ApiError(
                    409,
                    f"job {self.id} is {status}: its files come when it succeeds; wait for it "
                    "(`tfjobs download --wait`, or job.wait() first)",
                )
            raise ApiError(409, f"job {self.id} has no artifacts: it ended {status}")
        for artifact in listing:
            self._fetch(artifact, directory / Path(artifact["name"]).name)
        archive = directory / "saved_model.tar.gz"
        if extract and archive.exists():
            with tarfile.open(archive) as tar:
                tar.extractall(directory, filter="data")  # refuses absolute paths and ../ tricks
        self._downloaded = directory
        return directory

    def _fetch(self, artifact: dict[str, Any], target: Path, *, attempts: int = 5) -> None:
        """One file, verified against its sha256. An interrupted transfer leaves
        ``NAME.part``; the next try (here, or a later ``download``) asks only for the rest
        (``Range``, with ``If-Range`` on the file's ETag so a changed file comes whole). A
        file already there with the right sha256 is not fetched again."""
        if target.is_file() and _sha256_of(target) == artifact["sha256"]:
            return
        partial = target.with_name(target.name + ".part")
        path = f"/jobs/{self.id}/artifacts/{artifact['name']}"
        for attempt in range(attempts):
            have = partial.stat().st_size if partial.is_file() else 0
            headers = {"Range": f"bytes={have}-", "If-Range": f'"{artifact["sha256"]}"'} if have else {}
            try:
                with self.client._http.stream("GET", path, headers=headers) as r:
                    if r.status_code == 416:  # nothing more to send: the part is whole (or wrong)
                        r.read()
                    elif r.status_code >= 400:
                        r.read()
                        raise ApiError(r.status_code, r.text)
                    else:
                        mode = "ab" if r.status_code == 206 else "wb"  # 200: the whole file again
                        with partial.open(mode) as out:
                            for chunk in r.iter_bytes():
                                out.write(chunk)
            except httpx.TransportError:
                if attempt == attempts - 1:
                    raise ConnectionFailed(
                        f"the download of {artifact['name']} broke off {attempts} times; "
                        "run download again to resume it"
                    ) from None
                time.sleep(min(2.0, 0.2 * 2**attempt))
                continue
            break
        if _sha256_of(partial) != artifact["sha256"]:
            partial.unlink()
            raise ApiError(502, f"{artifact['name']} arrived corrupted (sha256 mismatch); run download again")
        partial.replace(target)

    def load_model(self, directory: str | Path | None = None) -> Any:
        """The trained Keras model (downloads first if needed). Imports TensorFlow."""
        if directory is None and self._downloaded is None:
            import tempfile

            self.download(tempfile.mkdtemp(prefix=f"tfjobs-{self.id[:8]}-"), extract=False)
        folder = Path(directory) if directory is not None else self._downloaded
        assert folder is not None
        # TensorFlow's C++ start-up lines ("failed call to cuInit" on a machine with no GPU)
        # say nothing to someone loading a model; TF_CPP_MIN_LOG_LEVEL set by the user wins.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            import keras

            import tfcore  # noqa: F401 - registers tfcore's Keras objects for loading
        except ModuleNotFoundError as err:  # a client-only install: say what loading needs
            raise TfjobsError(
                f"loading the model needs TensorFlow and tfcore (missing {err.name!r}): "
                "pip install 'tfjobs_server[train]'; or load saved_model.tar.gz with TensorFlow alone"
            ) from None
        return keras.models.load_model(folder / "model.keras", safe_mode=True)


def architecture_of(model: Any) -> dict[str, Any]:
    """A Keras model's architecture as the API takes it: ``json.loads(model.to_json())``.
    (Duck-typed: the SDK itself never imports TensorFlow.)"""
    to_json = getattr(model, "to_json", None)
    if not callable(to_json):
        raise TfjobsError(
            f"model must be a Keras model (something with to_json()), not {type(model).__name__}"
        )
    architecture = json.loads(to_json())
    if not isinstance(architecture, dict):
        raise TfjobsError("model.to_json() did not give a model's config")
    return architecture


def _explain(response: httpx.Response, base: str) -> Any:
    """The error's detail, with what a person can do about the two that puzzle people:
    a 401 (which token) and a 404 from something that is not a tfjobs route."""
    try:
        body = response.json()
        detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
    except ValueError:
        detail = None
    if response.status_code == 401:
        return (
            f"{describe_detail(detail)} — give a token: TFJOBS_TOKEN or --token for the CLI, "
            "Client(token=...) for the SDK"
        )
    if response.status_code == 404 and detail in (None, "Not Found"):
        # Not one of ours (they say what is missing): a wrong --url, or not a tfjobs server.
        return f"nothing at {response.request.url} — is {base} a tfjobs server? (check --url or TFJOBS_URL)"
    return detail if detail is not None else (response.text or response.reason_phrase)


def _sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str, str | None]]:
    """(event, data, id) for each Server-Sent Event; comments and retry lines skipped."""
    event, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data), event_id
            event, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
