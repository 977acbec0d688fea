"""`tfjobs up` as a new user runs it: no Redis, no PostgreSQL configured, one command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from tests.stack import REPO, free_port

TFJOBS = [sys.executable, "-m", "client.cli"]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TFJOBS_")}


def test_up_runs_api_and_worker_on_the_embedded_default_and_stops_cleanly(tmp_path):
    port = free_port()
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [*TFJOBS, "up", "--port", str(port), "--data-dir", str(tmp_path / "d")],
        cwd=tmp_path,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while "tfjobs is up" not in (tmp_path / "up.log").read_text():
            assert up.poll() is None and time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.3)
        banner = (tmp_path / "up.log").read_text()
        assert f"API {url}" in banner and f"docs {url}/docs" in banner
        with httpx.Client(base_url=url, timeout=30) as client:
            job = client.post(
                "/jobs", json={"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 2}
            ).json()
            while (job := client.get(f"/jobs/{job['id']}").json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline + 120
                time.sleep(0.3)
            assert job["status"] == "succeeded", (tmp_path / "up.log").read_text()[-3000:]
            model = client.get(f"/jobs/{job['id']}/artifacts/model.keras")
            assert model.status_code == 200 and model.content[:2] == b"PK"
        assert (tmp_path / "d" / "tfjobs.db").exists()
        assert (tmp_path / "d" / "artifacts" / job["id"]).is_dir()
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=40)
        log.close()
    assert code == 0
    children = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True)
    assert children.stdout.strip() == ""
    assert "stopping" in (tmp_path / "up.log").read_text()


def test_up_refuses_to_listen_beyond_loopback_with_auth_off(tmp_path):
    done = subprocess.run(
        [*TFJOBS, "up", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0" in done.stderr


def test_cli_help_lists_the_commands():
    done = subprocess.run([*TFJOBS, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("up", "api", "worker"):
        assert command in done.stdout


def test_token_create_prints_a_token_the_api_accepts(tmp_path):
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app

    env = {**clean_env(), "TFJOBS_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [*TFJOBS, "token", "create", "--owner", "alice"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("tfj_") and len(token) > 40
    app = create_app(Settings(data_dir=tmp_path, auth=True))
    with TestClient(app) as client:
        assert client.get("/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/jobs").status_code == 401
    app.state.store.dispose()


def test_workers_are_pinned_one_gpu_each_round_robin():
    from app.cli import gpu_assignment

    assert gpu_assignment(3, 0) == [None, None, None]  # CPU-only machine: no pinning
    assert gpu_assignment(4, 2) == [0, 1, 0, 1]
    assert gpu_assignment(1, 8) == [0]
