"""The real docker-compose.yml, run in Docker: build, start, train, kill, scale, tear down.

Marker ``docker``. Skipped (with the reason) when no Docker daemon answers; on CI,
``.ci/run`` starts one with ``../shared/docker/setup.sh``, so there it must not skip.
Each run uses a throwaway project name and removes its containers and volumes.
"""

from __future__ import annotations

import csv
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from harness.stack import LONG_JOB, Compose, compose_stack, docker_answers, wait_until
from tests.roundtrip import keras_reloads
from tfjobs import JobStatus

pytestmark = pytest.mark.docker

LONG = {**LONG_JOB, "epochs": 12}  # caught mid-training, and short enough for a container run


@pytest.fixture(scope="module")
def compose() -> Iterator[Compose]:
    if not docker_answers():
        if os.environ.get("CI"):
            pytest.fail(
                "CI must run the compose tests: no Docker daemon answers (run ../shared/docker/setup.sh)"
            )
        pytest.skip("no Docker daemon answers `docker info` (../shared/docker/setup.sh starts one)")
    # a killed worker's job is resumed within seconds
    with compose_stack("tfjobs-test", TFJOBS_LEASE_SECONDS="5") as stack:
        print(f"\ncompose: up --build --wait took {stack.seconds_to_healthy:.1f} s")
        yield stack


def test_containers_run_as_non_root_and_the_api_image_has_no_tensorflow(compose):
    for service in ("api", "worker"):
        uid = compose.exec(service, "id", "-u")
        assert uid.returncode == 0 and uid.stdout.strip() != "0", (service, uid.stdout, uid.stderr)
        helped = compose.exec(service, "tfjobs", "--help")
        assert helped.returncode == 0 and " up " in helped.stdout, helped.stderr
    probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('tensorflow') is None else 1)"
    assert compose.exec("api", "python", "-c", probe).returncode == 0, "the API image has TensorFlow"
    assert compose.exec("worker", "python", "-c", probe).returncode == 1  # the probe can tell


def test_a_job_trains_streams_its_metrics_and_downloads_verified(compose, tmp_path):
    started = time.monotonic()
    with compose.client() as client:
        job = client.submit(model_type="residual", loss="huber", threshold=2.0, epochs=4)
        points = list(job.stream())  # live, until the job ends
        job.wait()
        seconds = time.monotonic() - started
        print(f"\ncompose: submit → succeeded in {seconds:.1f} s")
        assert [p["epoch"] for p in points if p["kind"] == "epoch"] == [1, 2, 3, 4]
        assert [p["seq"] for p in points] == list(range(1, len(points) + 1))
        folder = job.download(tmp_path / "model")  # raises if any sha256 differs
        names = {a["name"] for a in job.artifacts()}
        # registered and served by the serve container, through an alias
        version = client.models.register(job, "compose-model")
        client.models.get("compose-model").alias("production", version)
        answer = client.models.get("compose-model").predict([[0.0] * 10, [0.5] * 10])
        assert answer["version"] == version and len(answer["predictions"]) == 2
    assert {"model.keras", "saved_model.tar.gz", "manifest.json", "history.csv"} <= names
    assert all((folder / name).is_file() for name in names)
    assert keras_reloads([folder], cwd=tmp_path) == ["ResidualRegressor"]


def test_a_killed_worker_container_resumes_the_job_from_its_checkpoint(compose):
    with compose.http() as http:
        job_id = http.post("/jobs", json=LONG).json()["id"]

        def epoch() -> int:
            return http.get(f"/jobs/{job_id}").json()["progress"]["epoch"]

        wait_until(lambda: epoch() >= 2, 300, "epoch 2", logs=compose.logs)
        compose.run("kill", "-s", "SIGKILL", "worker")
        killed_at = epoch()
        compose.run("up", "--detach", "--wait", "--wait-timeout", "300", "worker", timeout=600)

        def finished() -> bool:
            return http.get(f"/jobs/{job_id}").json()["status"] in (
                JobStatus.SUCCEEDED,
                JobStatus.FAILED,
                JobStatus.CANCELLED,
            )

        wait_until(finished, 600, "the resumed job", logs=compose.logs)
        job = http.get(f"/jobs/{job_id}").json()
        assert job["status"] == JobStatus.SUCCEEDED, job
        assert job["attempts"] == 2
        lines = [
            x["message"] for x in http.get(f"/jobs/{job_id}/logs", params={"limit": 1000}).json()["lines"]
        ]
        assert any("resumed from the checkpoint after epoch" in line for line in lines), lines
        points = http.get(f"/jobs/{job_id}/metrics", params={"limit": 1000}).json()["points"]
        history = http.get(f"/jobs/{job_id}/artifacts/history.csv").text
    epochs = list(range(1, LONG["epochs"] + 1))
    assert killed_at < LONG["epochs"]
    assert [p["seq"] for p in points] == list(range(1, len(points) + 1))  # no gap, no repeat
    assert [p["epoch"] for p in points if p["kind"] == "epoch"] == epochs  # each epoch reported once
    assert [int(row["epoch"]) for row in csv.DictReader(history.splitlines())] == epochs  # trained once


def test_two_worker_containers_run_two_jobs_at_once(compose):
    compose.run("up", "--detach", "--wait", "--wait-timeout", "300", "--scale", "worker=2", timeout=600)
    with compose.http() as http:
        ids = [http.post("/jobs", json={**LONG, "epochs": 4}).json()["id"] for _ in range(2)]

        def both_running() -> bool:
            jobs = [http.get(f"/jobs/{i}").json() for i in ids]
            assert not any(j["status"] == JobStatus.SUCCEEDED for j in jobs), (
                "one finished before the other began"
            )
            return all(j["status"] == JobStatus.RUNNING for j in jobs)

        wait_until(both_running, 300, "both jobs to run at once", logs=compose.logs)
        jobs = [http.get(f"/jobs/{i}").json() for i in ids]
    assert jobs[0]["worker"]["hostname"] != jobs[1]["worker"]["hostname"]


def test_one_job_trains_across_two_worker_containers_and_survives_losing_one(compose):
    """replicas: 2 — a rank in each worker container, reaching each other at their
    container IPs; one container killed mid-run: the gang restarts and resumes."""
    compose.run("up", "--detach", "--wait", "--wait-timeout", "300", "--scale", "worker=2", timeout=600)
    spec = {
        "model_type": "mlp",
        "loss": "mse",
        "dataset": "synthetic",
        "epochs": 8,
        "batch_size": 16,
        "steps_per_execution": 10,
        "replicas": 2,
    }
    with compose.http() as http:
        job_id = http.post("/jobs", json=spec).json()["id"]

        def epoch() -> int:
            return http.get(f"/jobs/{job_id}").json()["progress"]["epoch"]

        wait_until(lambda: epoch() >= 2, 600, "the gang's epoch 2", logs=compose.logs)
        ranks = http.get(f"/jobs/{job_id}").json()["attempt_history"][-1]["ranks"]
        assert len({r["worker"]["hostname"] for r in ranks}) == 2  # two containers
        victim = compose.run("ps", "--quiet", "worker").stdout.split()[-1]
        subprocess.run(["docker", "kill", "--signal", "SIGKILL", victim], check=True, capture_output=True)
        compose.run("up", "--detach", "--wait", "--wait-timeout", "300", "--scale", "worker=2", timeout=600)

        def finished() -> bool:
            return http.get(f"/jobs/{job_id}").json()["status"] in (
                JobStatus.SUCCEEDED,
                JobStatus.FAILED,
                JobStatus.CANCELLED,
            )

        wait_until(finished, 900, "the resumed gang", logs=compose.logs)
        job = http.get(f"/jobs/{job_id}").json()
        points = http.get(f"/jobs/{job_id}/metrics", params={"limit": 1000}).json()["points"]
    assert job["status"] == JobStatus.SUCCEEDED, job
    assert job["attempts"] >= 2
    assert [p["epoch"] for p in points if p["kind"] == "epoch"] == list(range(1, 9))  # each once


def test_the_gpu_profile_is_a_valid_configuration(compose):
    config = compose.run("--profile", "gpu", "config", "--format", "json").stdout
    assert '"worker-gpu"' in config and '"nvidia"' in config


def test_the_s3_profile_serves_every_file_from_the_bucket(compose, tmp_path):
    """``--profile s3`` (COMPOSE_PROFILES) with the storage URL set: a job's files are read
    back from the bucket even after the worker's local copies are gone."""
    settings = {
        "COMPOSE_PROFILES": "s3",
        "TFJOBS_STORAGE_URL": "s3://tfjobs/compose",
        "TFJOBS_S3_ENDPOINT_URL": "http://s3:5000",
        "AWS_ACCESS_KEY_ID": "tfjobs",
        "AWS_SECRET_ACCESS_KEY": "tfjobs-secret",
    }
    with compose_stack("tfjobs-s3", **settings) as stack, stack.client() as client:
        job = client.submit(model_type="mlp", loss="mse", epochs=3).wait(timeout=300)
        gone = stack.exec("worker", "sh", "-c", f"rm -rf /artifacts/{job.id}")
        assert gone.returncode == 0, gone.stderr
        folder = job.download(tmp_path / "model")  # every sha256 checked: from the bucket
        listed = stack.exec(
            "api",
            "python",
            "-c",
            "from app.core.config import Settings; from app.storage import open_storage; "
            f"print(open_storage(Settings(), 'artifacts').list('{job.id}/'))",
        )
    assert (folder / "model.keras").is_file()
    assert f"{job.id}/artifacts-1/model.keras" in listed.stdout, listed.stdout + listed.stderr
