"""The ``tfjobs`` command: ``up`` (API + workers), ``api``, ``worker``.

Nothing here imports TensorFlow: the worker runs as its own process
(``python -m worker``), so the CLI and the API stay light.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="tfjobs: remote TensorFlow training jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

Host = Annotated[str, typer.Option(help="interface to listen on")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="TCP port")]


@app.command()
def api(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes")] = 1,
) -> None:
    """Run the HTTP API (uvicorn) on the configured store and broker."""
    import uvicorn

    if workers == 1:
        from app.main import create_app

        uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=False)
        return
    from app.core.config import Settings
    from app.store.db import Store, migrate

    store = Store(Settings().sqlalchemy_url)
    migrate(store.engine)  # once, before the processes start
    store.dispose()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="jobs at once")] = 1,
    gpu: Annotated[int | None, typer.Option(min=0, help="pin to this GPU index")] = None,
) -> None:
    """Run a Celery training worker (TensorFlow loads once, at start)."""
    argv = [sys.executable, "-m", "worker", f"--concurrency={concurrency}"]
    os.execv(sys.executable, argv + ([f"--gpu={gpu}"] if gpu is not None else []))


def count_gpus() -> int:
    """NVIDIA GPUs on this machine, from `nvidia-smi -L` (0 without the driver)."""
    import shutil

    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def gpu_assignment(workers: int, gpus: int) -> list[int | None]:
    """One GPU per worker, round-robin; None for every worker when there is no GPU."""
    return [i % gpus if gpus else None for i in range(workers)]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_ready(
    url: str, ready_files: list[Path], children: list[subprocess.Popen[bytes]], timeout: float
) -> bool:
    """True once the API answers and every worker has warmed up and takes jobs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        if all(f.exists() for f in ready_files) and _api_healthy(url):
            return True
        time.sleep(0.2)
    return False


def _stop(children: list[subprocess.Popen[bytes]], grace: float = 20.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@app.command()
def up(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: Annotated[Path, typer.Option(help="store, broker, datasets, artifacts")] = Path("data"),
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
    auth: Annotated[bool, typer.Option("--auth", help="require API tokens")] = False,
) -> None:
    """Run the API and N workers on the embedded default (SQLite, a folder broker, local
    artifacts) until Ctrl-C or SIGTERM, which stop them all."""
    if not auth and not _is_loopback(host):
        typer.echo(
            f"refusing to listen on {host}: authentication is off in `tfjobs up`, so it only "
            "listens on loopback (127.0.0.1)",
            err=True,
        )
        raise typer.Exit(2)
    data_dir = data_dir.expanduser().resolve()
    env = {
        **os.environ,
        "TFJOBS_DATA_DIR": str(data_dir),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TFJOBS_AUTH": "on" if auth else "off",
    }
    os.environ.update(env)

    from app.core.config import Settings
    from app.store.db import Store, migrate

    store = Store(Settings().sqlalchemy_url)
    migrate(store.engine)  # once, before the children start, so they never race to create tables
    store.dispose()

    children: list[subprocess.Popen[bytes]] = []

    def shutdown(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    url = f"http://{host}:{port}"
    try:
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", "api", "--host", host, "--port", str(port)], env=env
            )
        )
        run_dir = data_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        ready_files = [run_dir / f"worker-{i}.ready" for i in range(workers)]
        for ready, gpu in zip(ready_files, gpu_assignment(workers, count_gpus()), strict=True):
            ready.unlink(missing_ok=True)
            pin = [f"--gpu={gpu}"] if gpu is not None else []
            children.append(
                subprocess.Popen([sys.executable, "-m", "worker", "--ready-file", str(ready), *pin], env=env)
            )
        typer.echo(f"tfjobs: starting the API and {workers} worker(s) (TensorFlow loads once)...", err=True)
        if not _wait_ready(url, ready_files, children, timeout=300):
            typer.echo("tfjobs: the service did not start; see the messages above", err=True)
            raise typer.Exit(1)
        access = "auth on: tfjobs token create --owner NAME" if auth else "auth off, loopback only"
        typer.echo(
            f"\ntfjobs is up: API {url}  docs {url}/docs  ({workers} worker"
            f"{'s' if workers > 1 else ''}, data in {data_dir}; {access})\n"
            "Ctrl-C stops everything.\n"
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        typer.echo("tfjobs: a process exited; stopping the others", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("\ntfjobs: stopping...", err=True)
    finally:
        _stop(children)


token = typer.Typer(help="Manage API tokens (stored hashed in the job store).", no_args_is_help=True)
app.add_typer(token, name="token")


@token.command("create")
def token_create(owner: Annotated[str, typer.Option(help="who the token acts as")]) -> None:
    """Print a new API token for OWNER (uses the same TFJOBS_* store settings as the API)."""
    from app.core.config import Settings
    from app.store import crud
    from app.store.db import Store, migrate

    if not owner.strip() or len(owner) > 64:
        typer.echo("tfjobs: --owner must be 1 to 64 characters", err=True)
        raise typer.Exit(2)
    store = Store(Settings().sqlalchemy_url)
    migrate(store.engine)
    with store.session() as session:
        typer.echo(crud.create_token(session, owner=owner.strip()))
    store.dispose()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
