"""`tfjobs up` as a new user runs it: no Redis, no PostgreSQL configured, one command."""

from __future__ import annotations

import re
import subprocess

import httpx
import pytest

from app.cli import gpu_assignment, resolve_auth
from harness.stack import REPO, TFJOBS, clean_env, running_up, wait_until
from tfjobs import FINAL_STATUSES, JobStatus


def test_up_honours_the_environment_prints_little_and_leaves_the_working_directory_clean(tmp_path):
    """The operator's TFJOBS_AUTH=on wins (no flag given), third-party logs go to the data
    dir, nothing is written where the command was typed, and a job trains end to end."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = clean_env(TFJOBS_AUTH="on")
    with running_up(tmp_path, env=env, cwd=cwd) as up:
        banner = up.printed()
        assert f"API {up.url}" in banner and f"docs {up.url}/docs" in banner
        assert "auth on" in banner and f"Logs: {up.data_dir}/logs/" in banner
        assert f"tfjobs token create --owner NAME --data-dir {up.data_dir}" in banner  # the line to type
        for noise in ("alembic", "celery@", "Context impl", "cuInit", "superuser", " INFO "):
            assert noise not in banner, f"{noise!r} reached the terminal:\n{banner}"
        assert "celery" in (up.data_dir / "logs" / "worker-0.log").read_text().lower()

        assert httpx.get(up.url + "/jobs").status_code == 401  # the environment's auth=on held
        made = subprocess.run(
            [*TFJOBS, "token", "create", "--owner", "alice"],
            cwd=cwd,
            env={**env, "TFJOBS_DATA_DIR": str(up.data_dir)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
        with httpx.Client(base_url=up.url, headers=headers, timeout=30) as client:
            job = client.post(
                "/jobs", json={"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 2}
            ).json()

            def finished() -> bool:
                job.update(client.get(f"/jobs/{job['id']}").json())
                return job["status"] in FINAL_STATUSES

            wait_until(finished, 180, "the job", alive=[up.process], logs=up.printed)
            assert job["status"] == JobStatus.SUCCEEDED, up.printed()
            model = client.get(f"/jobs/{job['id']}/artifacts/model.keras")
            assert model.status_code == 200 and model.content[:2] == b"PK"
        assert (up.data_dir / "tfjobs.db").exists()
        assert (up.data_dir / "broker" / "control").is_dir()  # kombu's control folder, under the data dir
        private = [up.data_dir, *up.data_dir.rglob("*")]  # the store, logs, artifacts: this user's only
        opened = [p for p in private if p.stat().st_mode & 0o077 and not p.is_symlink()]
        assert opened == [], [(str(p), oct(p.stat().st_mode)) for p in opened[:5]]
    assert up.process.returncode == 0
    assert "stopping" in up.printed()
    assert list(cwd.iterdir()) == []  # no control/, no data/, nothing
    children = subprocess.run(
        ["pgrep", "-f", f"--port {up.url.rsplit(':', 1)[1]}"], capture_output=True, text=True
    )
    assert children.stdout.strip() == ""


def test_up_refuses_to_listen_beyond_loopback_with_auth_off(tmp_path):
    done = subprocess.run(
        [*TFJOBS, "up", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0" in done.stderr


def test_up_refuses_a_flag_that_contradicts_the_environment(tmp_path):
    done = subprocess.run(
        [*TFJOBS, "up", "--no-auth", "--data-dir", str(tmp_path / "d")],
        cwd=tmp_path,
        env=clean_env(TFJOBS_AUTH="on"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "--no-auth contradicts TFJOBS_AUTH=on" in done.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was created


@pytest.mark.parametrize(
    ("flag", "environment", "expected"),
    [
        (None, None, False),
        (True, None, True),
        (False, None, False),
        (None, "on", True),
        (None, "off", False),
        (True, "on", True),
        (None, "true", True),
        (False, "0", False),
    ],
)
def test_auth_comes_from_the_flag_or_the_environment(flag, environment, expected):
    assert resolve_auth(flag, environment) is expected


@pytest.mark.parametrize(("flag", "environment"), [(False, "on"), (True, "off"), (None, "maybe")])
def test_auth_contradictions_and_nonsense_are_refused(flag, environment):
    import typer

    with pytest.raises(typer.Exit) as refused:
        resolve_auth(flag, environment)
    assert refused.value.exit_code == 2


def test_cli_help_lists_the_client_and_server_commands():
    done = subprocess.run([*TFJOBS, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("submit", "follow", "up", "api", "worker", "token"):
        assert f" {command} " in done.stdout


def tfjobs(*args: str, cwd, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TFJOBS, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=60
    )


def test_token_create_refuses_to_invent_a_store(tmp_path):
    """Run from the wrong directory it once wrote into a new ./data/tfjobs.db that no
    server read, and printed a token that only ever got 401."""
    done = tfjobs("token", "create", "--owner", "alice", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert (
        f"no tfjobs store at {tmp_path / 'data' / 'tfjobs.db'}" in done.stderr and "--create" in done.stderr
    )
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_tokens_are_created_listed_and_revoked_in_the_store_the_api_reads(tmp_path):
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app

    store = tmp_path / "server-data"
    made = tfjobs("token", "create", "--owner", "alice", "--data-dir", str(store), "--create", cwd=REPO)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("tfj_") and len(token) > 40
    assert f"stored in {store / 'tfjobs.db'}" in made.stderr
    listed = tfjobs("token", "list", "--data-dir", str(store), cwd=tmp_path)
    (row,) = listed.stdout.splitlines()[1:]
    token_id, owner, _ = row.split(maxsplit=2)
    assert owner == "alice" and len(token_id) == 12

    app = create_app(Settings(data_dir=store, auth=True))
    with TestClient(app, base_url="http://localhost") as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/jobs", headers=headers).status_code == 200
        revoked = tfjobs("token", "revoke", token_id, cwd=tmp_path, env=clean_env(TFJOBS_DATA_DIR=str(store)))
        assert revoked.returncode == 0 and "revoked token" in revoked.stdout, revoked.stderr
        response = client.get("/jobs", headers=headers)
        assert response.status_code == 401 and response.json()["detail"] == "unknown or revoked token"
        refused = client.post("/jobs", json={"model_type": "mlp", "loss": "mse"}, headers=headers)
        assert refused.status_code == 401
    app.state.store.dispose()
    # the operator reads the audit log from the store: the refused submit is on record
    audit = tfjobs("audit", "--data-dir", str(store), "--action", "job.create", cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr
    (line,) = audit.stdout.splitlines()[1:]
    assert "anonymous" in line and "job.create" in line and " 401 " in line
    assert refused.headers["x-request-id"] in line
    assert tfjobs("token", "revoke", token_id, "--data-dir", str(store), cwd=tmp_path).returncode == 2


def test_workers_are_pinned_one_gpu_each_round_robin():
    assert gpu_assignment(3, 0) == [None, None, None]  # CPU-only machine: no pinning
    assert gpu_assignment(4, 2) == [0, 1, 0, 1]
    assert gpu_assignment(1, 8) == [0]


def test_up_restarts_a_killed_worker_and_the_api_keeps_serving(tmp_path):
    """The OOM killer sends SIGKILL: `up` says so, starts the worker again, and the API
    answers throughout; a job submitted afterwards trains on the new worker."""
    import os
    import signal

    with running_up(tmp_path) as up:
        ready = up.data_dir / "run" / "worker-0.ready"
        found = subprocess.run(
            ["pgrep", "-P", str(up.process.pid), "-f", str(ready)], capture_output=True, text=True
        )
        (pid,) = map(int, found.stdout.split())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: "worker-0 restarted" in up.printed(), 30, "the restart", alive=[up.process])
        with httpx.Client(base_url=up.url, timeout=30) as client:
            assert client.get("/healthz").status_code == 200
            wait_until(ready.exists, 120, "the new worker to warm up", alive=[up.process], logs=up.printed)
            job = client.post("/jobs", json={"model_type": "mlp", "loss": "mse", "epochs": 2}).json()

            def finished() -> bool:
                job.update(client.get(f"/jobs/{job['id']}").json())
                return job["status"] in FINAL_STATUSES

            wait_until(finished, 120, "the job", alive=[up.process], logs=up.printed)
        assert job["status"] == JobStatus.SUCCEEDED
        printed = up.printed()
    assert f"worker-0 (pid {pid}) exited with signal SIGKILL; restarting it in 1 s" in printed
    assert "stopping the others" not in printed


def test_up_on_a_port_in_use_says_so_at_once(tmp_path):
    import socket
    import time

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = tfjobs("up", "--port", str(port), "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
        seconds = time.monotonic() - started
    assert done.returncode == 2
    assert done.stderr.strip() == f"tfjobs: port {port} is in use on 127.0.0.1 (try --port {port + 1})"
    assert seconds < 5  # the interpreter's start-up; the check itself takes a millisecond
    assert not (tmp_path / "d").exists()


def test_help_shows_what_to_type_not_python_types():
    """typer's own metavars are Python types (<str>, <list[str]>, <bool>); ours say what to
    type, a flag shows none, and a command's line in a list is one unwrapped sentence."""
    for command in (["--help"], ["submit", "--help"], ["up", "--help"], ["token", "create", "--help"]):
        done = subprocess.run(
            [*TFJOBS, *command],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(COLUMNS="100"),
        )
        assert done.returncode == 0, done.stderr
        assert not re.search(r"<(str|bool|int|float|path|list)", done.stdout), (command, done.stdout)
    submit = subprocess.run(
        [*TFJOBS, "submit", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(COLUMNS="100"),
    ).stdout
    assert "KEY=VALUE" in submit and "SPEC" in submit and "FILE" in submit
    root = subprocess.run(
        [*TFJOBS, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(COLUMNS="200"),
    ).stdout
    assert "then exit: what a deployment runs once" in root  # not cut at its docstring's line break
