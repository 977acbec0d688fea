"""Runs the real service as separate processes, for the tests and the benchmarks alike.

One place that spawns and polls: ``running_stack`` starts an API (uvicorn) and workers
with the given settings; ``running_up`` starts ``tfjobs up`` as a user types it. Both
stop everything they started, whatever happens.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tfjobs import FINAL_STATUSES, Client

__all__ = [
    "LONG_JOB",
    "REPO",
    "TFJOBS",
    "Compose",
    "Stack",
    "clean_env",
    "compose_stack",
    "docker_answers",
    "free_port",
    "running_stack",
    "running_up",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[1]
# A job slow enough to be caught mid-training (~400 steps per epoch at batch 4), for the
# fault tests of processes and of containers alike.
LONG_JOB = {
    "model_type": "mlp",
    "loss": "mse",
    "epochs": 25,
    "dataset": "synthetic",
    "batch_size": 4,
    "steps_per_execution": 20,
}
TFJOBS = [sys.executable, "-m", "tfjobs.cli"]  # the `tfjobs` console script, from this checkout
FINAL = FINAL_STATUSES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``TFJOBS_*`` setting, plus ``settings``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TFJOBS_")}, **settings}


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    alive: Sequence[subprocess.Popen[bytes]] = (),
    logs: Callable[[], str] = str,
) -> None:
    """Polls ``predicate`` until true; fails after ``timeout`` or when a process in ``alive`` exits."""
    deadline = time.monotonic() + timeout
    while not predicate():
        dead = [p.args for p in alive if p.poll() is not None]
        if dead:
            raise AssertionError(f"waiting for {what}: {dead[0]!r} exited\n{logs()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs()}")
        time.sleep(0.2)


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(processes: Sequence[subprocess.Popen[bytes]], grace: float = 30) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    data_dir: Path
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_files: list[IO[bytes]] = field(default_factory=list)

    @property
    def api_pid(self) -> int:
        return self.processes[0].pid

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        self.log_files.append(log)
        process = subprocess.Popen(argv, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start_worker(self, *, wait_ready: bool = False) -> subprocess.Popen[bytes]:
        """One more worker process; with ``wait_ready``, returns once it takes jobs."""
        name = f"worker-{len(self.processes)}"
        ready = self.data_dir / "run" / f"{name}.ready"
        ready.parent.mkdir(parents=True, exist_ok=True)
        process = self._spawn([sys.executable, "-m", "worker", "--ready-file", str(ready)], name)
        if wait_ready:
            wait_until(ready.exists, 180, f"{name} to warm up", alive=[process], logs=self.tail_logs)
        return process

    def wait_for_job(self, job_id: str, *, timeout: float = 180) -> dict:
        job: dict = {}
        with self.client() as client:

            def finished() -> bool:
                job.update(client.get(f"/jobs/{job_id}").json())
                return job["status"] in FINAL

            wait_until(finished, timeout, f"job {job_id} to finish", logs=self.tail_logs)
        return job

    def tail_logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.iterdir())
        )


@contextmanager
def running_stack(
    tmp_path: Path,
    settings: Mapping[str, str],
    *,
    workers: int = 1,
    api_workers: int = 1,
    wait_ready: bool = False,
    inherit: bool = True,
    quick_reports: bool = True,
) -> Iterator[Stack]:
    """API + ``workers`` workers with the given ``TFJOBS_*`` settings; all stopped afterwards.

    ``wait_ready``: yield only once every worker has warmed up (benchmarks want this);
    ``inherit=False`` drops the caller's own ``TFJOBS_*`` variables; ``quick_reports``
    makes workers report and poll for cancels every 0.2 s (tests), not the defaults.
    """
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base = dict(os.environ) if inherit else clean_env()
    env = {
        **base,
        "TFJOBS_DATA_DIR": str(tmp_path / "data"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(
            {"TFJOBS_REPORT_EVERY_SECONDS": "0.2", "TFJOBS_CANCEL_POLL_SECONDS": "0.2"}
            if quick_reports
            else {}
        ),
        **settings,
    }
    stack = Stack(f"http://127.0.0.1:{port}", env, tmp_path / "data", logs)
    api = stack._spawn([*TFJOBS, "api", "--port", str(port), "--workers", str(api_workers)], "api")
    try:
        wait_until(lambda: healthy(stack.url), 60, "the API", alive=[api], logs=stack.tail_logs)
        for _ in range(workers):
            stack.start_worker(wait_ready=wait_ready)
        yield stack
    finally:
        _stop(stack.processes)
        for log in stack.log_files:
            log.close()


@dataclass
class Up:
    """``tfjobs up`` running: its URL, data dir, process and everything it printed."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    output: Path

    def printed(self) -> str:
        return self.output.read_text(errors="replace")


@contextmanager
def running_up(
    tmp_path: Path, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Up]:
    """``tfjobs up --port P --data-dir TMP/data ARGS`` until its banner says it is up; stopped
    with SIGTERM (as Ctrl-C would) afterwards."""
    port = free_port()
    data = tmp_path / "data"
    output = tmp_path / "up.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [*TFJOBS, "up", "--port", str(port), "--data-dir", str(data), *args],
            cwd=cwd or REPO,
            env=dict(env) if env is not None else clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        up = Up(f"http://127.0.0.1:{port}", data, process, output)
        try:
            wait_until(
                lambda: "tfjobs is up" in up.printed(), 180, "tfjobs up", alive=[process], logs=up.printed
            )
            yield up
        finally:
            _stop([process], grace=60)


def docker_answers() -> bool:
    """True when a Docker daemon answers ``docker info``."""
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclass
class Compose:
    """The real docker-compose.yml running under a throwaway project name."""

    project: str
    env: dict[str, str]
    url: str
    token: str
    seconds_to_healthy: float = 0.0
    build_seconds: float | None = None  # only when compose_stack was asked to build first

    def run(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["docker", "compose", "-p", self.project, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, (
                f"docker compose {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        return done

    def exec(self, service: str, *command: str) -> subprocess.CompletedProcess[str]:
        return self.run("exec", "-T", service, *command, check=False, timeout=120)

    def logs(self) -> str:
        return self.run("logs", "--no-color", "--tail", "60", check=False).stdout

    def client(self) -> Client:
        return Client(self.url, self.token)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)


@contextmanager
def compose_stack(prefix: str, *, build_args: Sequence[str] = (), **settings: str) -> Iterator[Compose]:
    """``docker compose up --build --wait`` of the real file, with a fresh bootstrap token and
    API port and the given ``TFJOBS_*`` settings; ``down --volumes`` afterwards, always, and
    a check that it left no volume behind."""
    token = "tfj_" + secrets.token_hex(24)
    port = free_port()
    env = clean_env(TFJOBS_BOOTSTRAP_TOKEN=token, TFJOBS_API_PORT=str(port), **settings)
    stack = Compose(f"{prefix}-{secrets.token_hex(4)}", env, f"http://127.0.0.1:{port}", token)
    try:
        if build_args:
            started = time.monotonic()
            stack.run("build", *build_args, timeout=1800)
            stack.build_seconds = time.monotonic() - started
        started = time.monotonic()
        done = stack.run(
            "up", "--build", "--detach", "--wait", "--wait-timeout", "600", timeout=1200, check=False
        )
        assert done.returncode == 0, f"docker compose up failed:\n{done.stderr[-2000:]}\n{stack.logs()}"
        stack.seconds_to_healthy = time.monotonic() - started
        yield stack
    finally:
        # --rmi local: drop this project's image tags (the layers stay cached for the next build)
        stack.run(
            "down",
            "--volumes",
            "--remove-orphans",
            "--rmi",
            "local",
            "--timeout",
            "10",
            check=False,
            timeout=300,
        )
        left = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert left == [], f"docker compose down -v left volumes behind: {left}"
