"""docker-compose.yml against the Compose Specification and the CLI (no Docker needed;
``test_compose_stack.py`` runs it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import typer
import yaml

from tfjobs.cli import app as cli

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO.parent / "shared" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_file_follows_the_compose_specification(compose):
    if not SCHEMA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the Compose Specification schema at {SCHEMA}")
        pytest.skip(f"the Compose Specification schema is not at {SCHEMA} (../shared/ is missing)")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)


def test_services_run_real_tfjobs_commands(compose):
    root = typer.main.get_command(cli)
    commands = set(root.list_commands(typer.Context(root)))  # the client's and the server's
    ours = {name: s for name, s in compose["services"].items() if "build" in s and "s3" not in name}
    assert set(ours) == {"api", "worker", "worker-gpu", "serve"}
    for name, service in ours.items():
        program, command, *_ = service["command"]
        assert program == "tfjobs" and command in commands, name


def test_gpu_worker_reserves_nvidia_devices_and_uses_the_gpu_image(compose):
    gpu = compose["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert gpu["build"]["args"]["BASE_IMAGE"].endswith("-gpu")


def test_api_and_workers_share_the_artifacts_and_data_volumes(compose):
    for name in ("api", "worker", "worker-gpu", "serve"):
        volumes = compose["services"][name]["volumes"]
        assert "artifacts:/artifacts" in volumes and "data:/data" in volumes
        assert compose["services"][name]["environment"]["TFJOBS_BROKER_URL"].startswith("redis://")


def test_dockerfiles_exist_with_the_right_bases():
    api = (REPO / "docker" / "api.Dockerfile").read_text()
    worker = (REPO / "docker" / "worker.Dockerfile").read_text()
    assert "tensorflow" not in api.split("FROM", 1)[1].splitlines()[0]
    assert "ARG BASE_IMAGE=tensorflow/tensorflow:2.21.0" in worker


def test_compose_turns_auth_on_with_a_bootstrap_token(compose):
    env = compose["services"]["api"]["environment"]
    assert env["TFJOBS_AUTH"] == "on"
    assert env["TFJOBS_BOOTSTRAP_TOKEN"].startswith("${TFJOBS_BOOTSTRAP_TOKEN:?")


def test_the_s3_profile_runs_an_s3_server_that_creates_the_bucket(compose):
    services = compose["services"]
    assert services["s3"]["profiles"] == ["s3"] and "create_bucket" in services["s3"]["command"][-1]
    assert [name for name, s in services.items() if s.get("profiles") == ["s3"]] == ["s3"]  # no one-shot
    environment = services["api"]["environment"]
    assert environment["TFJOBS_STORAGE_URL"] == "${TFJOBS_STORAGE_URL:-}"  # empty: the volumes
    assert environment is services["worker"]["environment"]  # one environment for all of them
    assert (REPO / "docker" / "s3.Dockerfile").is_file()


def test_the_api_finds_the_model_server_by_its_service_name(compose):
    assert compose["services"]["api"]["environment"]["TFJOBS_SERVE_URL"] == "http://serve:8501"
    assert compose["services"]["serve"]["command"][-1] == "8501"
