"""A real Celery worker process on the machine's Redis, the store on SQLite and on PostgreSQL,
and the API as its own uvicorn process: submit → follow → download → reload."""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from collections.abc import Iterator

import pytest

from harness.stack import Stack, running_stack
from tests.roundtrip import keras_reloads, saved_models_serve_without_tfcore

MINIMAL = {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 5}
ARTIFACTS = {"model.keras", "saved_model.tar.gz", "manifest.json", "history.csv", "tensorboard.tar.gz"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"stack-{request.param}")
    redis_url = request.getfixturevalue("redis_url_module")
    database = (
        f"sqlite:///{tmp / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with running_stack(tmp, {"TFJOBS_BROKER_URL": redis_url, "TFJOBS_DATABASE_URL": database}) as s:
        yield s


@pytest.fixture(scope="module")
def redis_url_module() -> Iterator[str]:
    import redis

    from harness.services import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def follow_stream(stack: Stack, job_id: str) -> list[dict]:
    """Every point of the job through the SSE stream, which ends when the job does."""
    points, ended = [], None
    with (
        stack.client() as client,
        client.stream("GET", f"/jobs/{job_id}/metrics/stream", timeout=180) as response,
    ):
        event: dict[str, str] = {}
        for line in response.iter_lines():
            if line:
                key, _, value = line.partition(": ")
                event[key] = value
                continue
            if event.get("event") == "point":
                points.append(json.loads(event["data"]))
            elif event.get("event") == "end":
                ended = json.loads(event["data"])["status"]
                break
            event = {}
    assert ended is not None, stack.tail_logs()
    return points


def test_minimal_spec_trains_streams_and_downloads_verified_models(stack, tmp_path):
    with stack.client() as client:
        job = client.post("/jobs", json=MINIMAL).json()
    points = follow_stream(stack, job["id"])
    job = stack.wait_for_job(job["id"])
    assert job["status"] == "succeeded", (job, stack.tail_logs())
    assert job["attempts"] == 1 and job["worker"]["device"] == "CPU"
    assert job["progress"]["epoch"] == 5 and job["summary"]["val_loss"] > 0

    # the stream's cursor is contiguous from 1, with an epoch point per epoch
    assert [p["seq"] for p in points] == list(range(1, len(points) + 1))
    epochs = [p for p in points if p["kind"] == "epoch"]
    assert [p["epoch"] for p in epochs] == [1, 2, 3, 4, 5]
    assert {
        "loss",
        "val_loss",
        "mae",
        "val_mae",
        "huber",
        "lr",
        "epoch_seconds",
        "samples_per_second",
    } <= set(epochs[-1]["values"])
    with stack.client() as client:
        page = client.get(f"/jobs/{job['id']}/metrics", params={"after": 0}).json()
        assert [p["seq"] for p in page["points"]] == [p["seq"] for p in points]
        logs = client.get(f"/jobs/{job['id']}/logs").json()["lines"]
        assert any("epoch 5" in line["message"] for line in logs)

        # download every artifact and check it against the listing
        listing = client.get(f"/jobs/{job['id']}/artifacts").json()["items"]
        assert {a["name"] for a in listing} == ARTIFACTS
        folder = tmp_path / "download"
        folder.mkdir()
        for artifact in listing:
            response = client.get(f"/jobs/{job['id']}/artifacts/{artifact['name']}")
            assert response.status_code == 200
            assert int(response.headers["content-length"]) == artifact["size"] == len(response.content)
            assert hashlib.sha256(response.content).hexdigest() == artifact["sha256"]
            (folder / artifact["name"]).write_bytes(response.content)

    manifest = json.loads((folder / "manifest.json").read_text())
    assert {k: v for k, v in manifest["files"].items()} == {
        a["name"]: a["sha256"] for a in listing if a["name"] != "manifest.json"
    }
    with tarfile.open(folder / "tensorboard.tar.gz") as tar:
        names = tar.getnames()
    # under the job's id, so several jobs' runs unpack side by side in one logdir
    assert any(n.startswith(f"tensorboard/{job['id']}/train/") for n in names), names
    assert any(n.startswith(f"tensorboard/{job['id']}/validation/") for n in names)
    assert keras_reloads([folder], cwd=tmp_path) == ["ResidualRegressor"]
    assert saved_models_serve_without_tfcore([folder], cwd=tmp_path)


def test_each_model_type_and_a_binary_job_end_to_end(stack):
    specs = [{"model_type": t, "loss": "mse", "epochs": 2} for t in ("mlp", "reconstructing", "wide_deep")]
    specs.append(
        {
            "model_type": "mlp",
            "loss": "binary_crossentropy",
            "epochs": 2,
            "activation": "stable_softplus",
            "kernel_initializer": "glorot_normal_variant",
            "kernel_regularizer": {"l1": 0.001},
            "kernel_constraint": "positive",
        }
    )
    with stack.client() as client:
        ids = [client.post("/jobs", json=spec).json()["id"] for spec in specs]
    jobs = [stack.wait_for_job(i) for i in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 4, stack.tail_logs()
    assert "reconstruction_error" in jobs[1]["summary"]
    assert {"accuracy", "precision", "recall"} <= set(jobs[3]["summary"])


def test_a_diverging_job_fails_with_a_reason(stack):
    spec = {"model_type": "mlp", "loss": "mse", "epochs": 3, "optimizer": "sgd", "learning_rate": 10}
    with stack.client() as client:
        job_id = client.post("/jobs", json=spec).json()["id"]
        job = stack.wait_for_job(job_id)
        assert job["status"] == "failed"
        assert job["error"]["type"] == "diverged" and "learning_rate" in job["error"]["message"]
        assert client.get(f"/jobs/{job_id}/artifacts").json()["items"] == []


def test_cancel_stops_a_running_job_within_a_few_steps(stack):
    spec = {
        "model_type": "mlp",
        "loss": "mse",
        "epochs": 1000,
        "dataset": "synthetic",
        "steps_per_execution": 10,
    }
    with stack.client() as client:
        job_id = client.post("/jobs", json=spec).json()["id"]
        for _ in range(300):
            if client.get(f"/jobs/{job_id}/metrics").json()["points"]:
                break
            time.sleep(0.1)
        assert client.post(f"/jobs/{job_id}/cancel").status_code == 202
        job = stack.wait_for_job(job_id, timeout=30)
        assert job["status"] == "cancelled", stack.tail_logs()
        assert job["progress"]["epoch"] < 1000
        assert client.get(f"/jobs/{job_id}/artifacts").json()["items"] == []
        assert any(
            "cancelled" in line["message"] for line in client.get(f"/jobs/{job_id}/logs").json()["lines"]
        )
