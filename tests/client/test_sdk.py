"""The SDK against a real running stack, with a proxy in between that drops connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tfjobs import ApiError, Client, JobFailed
from tfjobs.sdk import load_spec

MINIMAL = {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 3}


@contextmanager
def flaky_proxy(upstream_port: int, *, drop: str, after_bytes: int = 0) -> Iterator[tuple[str, dict]]:
    """A TCP proxy to the server that misbehaves once.

    drop="response": the first request whose head starts with ``POST /jobs`` reaches the
    server, but its answer is thrown away and the connection closed.
    drop="stream": the first response carrying ``event-stream`` is cut after ``after_bytes``.
    drop="download": the first request for an artifact has its answer cut after ``after_bytes``.
    ``state["requests"]`` holds every request's head, in order.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    state: dict = {"dropped": False, "requests": []}

    def pipe(client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        request = client.recv(65536)
        upstream.sendall(request)
        state["requests"].append(request.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
        first_line = request.split(b"\r\n", 1)[0]
        drop_this = not state["dropped"] and (
            (drop == "response" and request.startswith(b"POST /jobs "))
            or (drop == "stream" and b"/stream" in first_line)
            or (drop == "download" and b"/artifacts/" in first_line)
        )
        if drop_this:
            state["dropped"] = True
        sent = 0
        try:
            while data := upstream.recv(65536):
                if drop_this and drop == "response":
                    break  # the server did the work; the client never hears of it
                if drop_this and sent + len(data) > after_bytes:
                    client.sendall(data[: max(0, after_bytes - sent)])
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            upstream.close()
            client.close()

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=pipe, args=(client,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", state
    finally:
        listener.close()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_submit_retried_after_a_dropped_response_creates_one_job(up):
    with Client(up.url) as direct:
        before = {j.id for j in direct.jobs()}
        with flaky_proxy(port_of(up.url), drop="response") as (proxy, state), Client(proxy) as client:
            # one connection per request, so the retry goes through the proxy afresh
            client._http.headers["Connection"] = "close"
            job = client.submit(MINIMAL)
        assert state["dropped"]  # the first answer really was lost
        assert {j.id for j in direct.jobs()} - before == {job.id}
        direct.job(job.id).wait(timeout=120)


def test_stream_interrupted_and_resumed_yields_every_point_once(up):
    with Client(up.url) as direct:
        job = direct.submit(MINIMAL, epochs=4)
        with (
            flaky_proxy(port_of(up.url), drop="stream", after_bytes=900) as (proxy, state),
            Client(proxy) as client,
        ):
            streamed = list(client.job(job.id).stream())
        assert state["dropped"]  # the stream really was cut, and resumed
        seqs = [p["seq"] for p in streamed]
        assert seqs == list(range(1, len(seqs) + 1))
        assert [p["epoch"] for p in streamed if p["kind"] == "epoch"] == [1, 2, 3, 4]
        assert seqs == [p["seq"] for p in direct.job(job.id).metrics()]


@pytest.mark.parametrize("mixed_precision", [False, True], ids=["float32", "mixed_precision"])
def test_wait_download_and_load_model(up, tmp_path, mixed_precision):
    with Client(up.url) as client:
        job = client.submit({**MINIMAL, "mixed_precision": mixed_precision}).wait(timeout=120)
        folder = job.download(tmp_path / "job")
        assert (folder / "saved_model" / "saved_model.pb").exists()
        model = job.load_model()
        manifest = __import__("json").loads((folder / "manifest.json").read_text())
        assert manifest["dataset"]["id"] == "diabetes" and manifest["dataset"]["builtin"] is True
        assert manifest["input"]["features"][:3] == ["age", "sex", "bmi"]
        import numpy as np

        out = model.predict(np.array(manifest["examples"]["inputs"], dtype="float32"), verbose=0)
        np.testing.assert_allclose(
            out,
            manifest["examples"]["outputs"],
            rtol=manifest["examples"]["rtol"],
            atol=manifest["examples"]["atol"],
        )


def test_typed_errors(up, tmp_path):
    with Client(up.url) as client:
        with pytest.raises(ApiError) as info:
            client.submit(MINIMAL, threshold=-1)
        assert info.value.status == 422 and "threshold" in str(info.value)
        failing = client.submit(model_type="mlp", loss="mse", epochs=2, optimizer="sgd", learning_rate=10)
        with pytest.raises(JobFailed, match="diverged"):
            failing.wait(timeout=120)
    (tmp_path / "s.yaml").write_text("model_type: mlp\nloss: mse\nepochs: 2\n")
    assert load_spec(tmp_path / "s.yaml") == {"model_type": "mlp", "loss": "mse", "epochs": 2}


def test_jobs_pages_through_everything(up):
    with Client(up.url) as client:
        total = len(list(client.jobs(page_size=1000)))
        assert len(list(client.jobs(page_size=1))) == total
        # the filter language through the SDK: pages follow the filter, bad text is a 422
        finished = list(client.jobs(filter="status != 'queued' and status != 'running'", page_size=1))
        assert all(job.status not in ("queued", "running") for job in finished)
        assert len(finished) == len(list(client.jobs(filter="not (status = 'queued' or status = 'running')")))
        with pytest.raises(ApiError) as refused:
            list(client.jobs(filter="metrics.loss < 'a'"))
        assert refused.value.status == 422 and "column 16" in str(refused.value)


def test_an_interrupted_200_mb_download_resumes_where_it_broke_off(up, tmp_path):
    """A 200 MB artifact; the connection is cut at 100 MB: the SDK asks for the rest with
    Range (and If-Range on the sha256 ETag), gets 206, and the file checks out."""
    import hashlib
    import os

    from app.store import artifacts as store_artifacts
    from app.store.db import Store

    with Client(up.url) as client:
        job = client.submit(MINIMAL).wait(timeout=180)
    big = os.urandom(200 << 20)
    folder = up.data_dir / "artifacts" / job.id / "extra"
    folder.mkdir(parents=True)
    (folder / "big.bin").write_bytes(big)
    store = Store(f"sqlite:///{up.data_dir / 'tfjobs.db'}")
    with store.session() as session:  # as the worker records a file it exported
        store_artifacts.add_artifacts(
            session,
            job_id=job.id,
            files=[
                {
                    "name": "big.bin",
                    "path": f"{job.id}/extra/big.bin",
                    "size": len(big),
                    "sha256": hashlib.sha256(big).hexdigest(),
                }
            ],
        )
    store.dispose()
    with (
        flaky_proxy(port_of(up.url), drop="download", after_bytes=100 << 20) as (proxy, state),
        Client(proxy) as client,
    ):
        out = client.job(job.id).download(tmp_path / "out", extract=False)
    assert (out / "big.bin").read_bytes() == big and not (out / "big.bin.part").exists()
    fetches = [r for r in state["requests"] if "/artifacts/big.bin" in r.split("\r\n", 1)[0]]
    assert len(fetches) == 2 and state["dropped"]
    resumed = fetches[1].lower()
    assert "range: bytes=" in resumed and f'if-range: "{hashlib.sha256(big).hexdigest()}"' in resumed
    start = int(resumed.split("range: bytes=", 1)[1].split("-", 1)[0])
    assert 0 < start <= 100 << 20  # the rest only, not the whole file again


def test_a_401_says_where_a_token_goes():
    import httpx

    from tfjobs.sdk import _explain

    request = httpx.Request("GET", "http://api.example/jobs")
    refused = httpx.Response(401, json={"detail": "unknown or revoked token"}, request=request)
    assert _explain(refused, "http://api.example") == (
        "unknown or revoked token — give a token: TFJOBS_TOKEN or --token for the CLI, "
        "Client(token=...) for the SDK"
    )
    ours = httpx.Response(404, json={"detail": "no job abc"}, request=request)
    assert _explain(ours, "http://api.example") == "no job abc"  # our 404s already say what is missing
    html = httpx.Response(404, text="<html>nginx</html>", request=request)
    assert _explain(html, "http://api.example").startswith("nothing at http://api.example/jobs")
