"""The server's commands of ``tfjobs``: ``up`` (API + workers), ``api``, ``worker``, ``token``.

The ``tfjobs`` root lives in ``tfjobs.cli``; it finds these through the
``tfjobs.commands`` entry point and loads this module only when they are listed or run,
so the client installs and runs without the server. Nothing here imports TensorFlow
(the worker runs as its own process) and the module's top level imports only Typer,
so ``tfjobs --help`` works with the client's dependencies alone.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import typer

__all__ = ["app", "count_gpus", "gpu_assignment", "resolve_auth"]

app = typer.Typer(
    help="Run the service.", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
)

Host = Annotated[str, typer.Option(help="interface to listen on")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="TCP port")]
DataDir = Annotated[
    Path | None,
    typer.Option(help="store, broker, datasets, artifacts, logs (env TFJOBS_DATA_DIR; default ./data)"),
]

# The programs `up` starts: the same `tfjobs` entry point a user types (its error
# handling included), and the worker module, which loads TensorFlow once.
TFJOBS = [sys.executable, "-m", "tfjobs.cli"]
WORKER = [sys.executable, "-m", "worker"]
SERVE = [sys.executable, "-m", "worker.serve"]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"tfjobs: {message}", err=True)
    return typer.Exit(2)


@app.command()
def api(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes")] = 1,
) -> None:
    """Run the HTTP API (uvicorn) on the configured store and broker."""
    from app.core.datadir import private_umask  # here: a client-only install lists this command

    private_umask()
    import uvicorn

    from app.core.protocol import GuardedHttpProtocol  # header size and time limits

    if workers == 1:
        from app.main import create_app

        uvicorn.run(
            create_app(), host=host, port=port, log_level="info", access_log=False, http=GuardedHttpProtocol
        )
        return
    _migrate()  # once, before the processes start
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
        http=GuardedHttpProtocol,
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="jobs at once")] = 1,
    gpu: Annotated[int | None, typer.Option(min=0, help="pin to this GPU index")] = None,
    ready_file: Annotated[Path | None, typer.Option(help="touched once the worker takes jobs")] = None,
) -> None:
    """Run a Celery training worker (TensorFlow loads once, at start)."""
    from app.core.datadir import private_umask

    private_umask()
    argv = [*WORKER, f"--concurrency={concurrency}"]
    argv += [f"--gpu={gpu}"] if gpu is not None else []
    argv += [f"--ready-file={ready_file}"] if ready_file is not None else []
    os.execv(sys.executable, argv)


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


def resolve_auth(flag: bool | None, environment: str | None) -> bool:
    """Auth for `tfjobs up`: the ``--auth/--no-auth`` flag or ``TFJOBS_AUTH``, off if neither.

    Both are explicit choices, so when they disagree `up` refuses rather than pick one:
    a command line must never silently weaken what the operator's environment asked for.
    """
    from pydantic import TypeAdapter, ValidationError

    env: bool | None = None
    if environment is not None:
        try:  # read the way the settings read it: on/off, true/false, 1/0, yes/no
            env = TypeAdapter(bool).validate_python(environment)
        except ValidationError:
            raise _fail(f"TFJOBS_AUTH must be on or off, not {environment!r}") from None
    if flag is not None and env is not None and flag != env:
        raise _fail(
            f"--{'auth' if flag else 'no-auth'} contradicts TFJOBS_AUTH={environment}; drop one of them"
        )
    return flag if flag is not None else bool(env)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port(host: str) -> int:
    """A port nothing listens on now (the OS picks it): for the model server beside the API."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host if host not in ("0.0.0.0", "::") else "127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    """Whether the API could listen there: checked in a millisecond, not after 14 s of start-up."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return True  # let uvicorn report an unknown host in its own words
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError:
            return False
    return True


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
def serve(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="TCP port")] = 8501,
) -> None:
    """Run the model server: warm TensorFlow answering predictions of registered models for
    the API (which finds it at TFJOBS_SERVE_URL). `tfjobs up` starts one by itself."""
    os.execv(sys.executable, [*SERVE, "--host", host, "--port", str(port)])


@app.command()
def migrate() -> None:
    """Bring the store's schema up to date (TFJOBS_DATABASE_URL), then exit: what a
    deployment runs once before the API and workers (the API also does it at start)."""
    _migrate()
    typer.echo("tfjobs: the store's schema is up to date")


def _migrate() -> None:
    """Brings the configured store's schema up to date, quietly (Alembic logs at INFO)."""
    import logging

    from app.core.config import Settings
    from app.store.db import Store, migrate

    logging.getLogger("alembic").setLevel(logging.WARNING)
    store = Store(Settings().sqlalchemy_url)
    try:
        migrate(store.engine)
    finally:
        store.dispose()


def _tail(paths: list[Path], lines: int = 15) -> str:
    return "\n".join(
        f"--- {p}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
        for p in paths
        if p.exists()
    )


@app.command()
def up(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth", show_default=False, help="require API tokens (env TFJOBS_AUTH; default off)"
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show the API's and workers' logs here")
    ] = False,
) -> None:
    """Run the API and N workers on the embedded default (SQLite, a folder broker, local artifacts).

    Ctrl-C or SIGTERM stops them all. Their logs go to DATA_DIR/logs/ (--verbose shows them).
    """
    from app.core.datadir import private_umask

    private_umask()  # the data dir and everything the children write: this user's only
    auth_on = resolve_auth(auth, os.environ.get("TFJOBS_AUTH"))
    if not auth_on and not _is_loopback(host):
        raise _fail(
            f"refusing to listen on {host}: authentication is off, so `tfjobs up` only "
            "listens on loopback (127.0.0.1); add --auth to serve other hosts"
        )
    if not _port_free(host, port):
        raise _fail(f"port {port} is in use on {host} (try --port {port + 1})")
    data_dir = (data_dir or Path(os.environ.get("TFJOBS_DATA_DIR", "data"))).expanduser().resolve()
    env = {
        **os.environ,
        "TFJOBS_DATA_DIR": str(data_dir),
        "TFJOBS_AUTH": "on" if auth_on else "off",
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3"),
    }
    os.environ.update(env)
    _migrate()  # once, before the children start, so they never race to create tables

    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    run_dir = data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    # The model server listens on a free port of its own; the API is told where.
    serve_port = _free_port(host)
    env["TFJOBS_SERVE_URL"] = os.environ["TFJOBS_SERVE_URL"] = f"http://{host}:{serve_port}"
    supervisor = Supervisor(env, logs=None if verbose else logs)

    def shutdown(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    url = f"http://{host}:{port}"
    try:
        supervisor.start("api", [*TFJOBS, "api", "--host", host, "--port", str(port)])
        ready_files = [run_dir / f"worker-{i}.ready" for i in range(workers)]
        for i, (ready, gpu) in enumerate(
            zip(ready_files, gpu_assignment(workers, count_gpus()), strict=True)
        ):
            ready.unlink(missing_ok=True)
            pin = [f"--gpu={gpu}"] if gpu is not None else []
            supervisor.start(f"worker-{i}", [*WORKER, "--ready-file", str(ready), *pin])
        serve_ready = run_dir / "serve.ready"
        serve_ready.unlink(missing_ok=True)
        supervisor.start(
            "serve", [*SERVE, "--host", host, "--port", str(serve_port), "--ready-file", str(serve_ready)]
        )
        typer.echo(f"tfjobs: starting the API and {workers} worker(s) (TensorFlow loads once)...", err=True)
        if not _wait_ready(url, [*ready_files, serve_ready], supervisor.processes(), timeout=300):
            typer.echo("tfjobs: the service did not start" + supervisor.tail(), err=True)
            raise typer.Exit(1)
        access = (
            f"auth on: create a token with `tfjobs token create --owner NAME --data-dir {data_dir}`"
            if auth_on
            else "auth off, loopback only"
        )
        typer.echo(
            f"\ntfjobs is up: dashboard {url}/ui/  API {url}  docs {url}/docs  ({workers} worker"
            f"{'s' if workers > 1 else ''}, data in {data_dir}; {access})\n"
            + ("" if verbose else f"Logs: {logs}/ (--verbose shows them here)\n")
            + "Ctrl-C stops everything.\n"
        )
        while True:  # until Ctrl-C or SIGTERM: a child that dies is started again
            supervisor.watch()
            time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("\ntfjobs: stopping...", err=True)
    finally:
        supervisor.stop()


class Supervisor:
    """`tfjobs up`'s children: started, watched, restarted with backoff when they die (the
    OOM killer, a crash), and stopped together. A restart never touches the others, so a
    dying worker does not take the API down with it."""

    BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before the 1st, 2nd, … restart in a row
    STABLE_SECONDS = 60.0  # a child that ran this long starts its backoff over

    def __init__(self, env: dict[str, str], *, logs: Path | None) -> None:
        self.env, self.logs = env, logs
        self.children: dict[str, _Child] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        child = self.children.setdefault(name, _Child(name, argv))
        # Third-party start-up noise (the Celery banner, TensorFlow's device probing)
        # goes to a file unless --verbose; `up` itself says what a user needs.
        out: IO[bytes] | None = None
        if self.logs is not None:
            out = (self.logs / f"{name}.log").open("ab")
        child.process = subprocess.Popen(
            argv, env=self.env, stdout=out, stderr=subprocess.STDOUT if out else None
        )
        if out is not None:
            out.close()  # the child has its own copy of the descriptor
        child.started = time.monotonic()
        child.restart_at = None
        return child.process

    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [c.process for c in self.children.values() if c.process is not None]

    def watch(self) -> None:
        """Schedules a restart for each child that exited, and starts those that are due."""
        now = time.monotonic()
        for child in self.children.values():
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            if child.restart_at is None:
                if now - child.started >= self.STABLE_SECONDS:
                    child.restarts = 0
                delay = self.BACKOFF[min(child.restarts, len(self.BACKOFF) - 1)]
                child.restarts += 1
                child.restart_at = now + delay
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
                where = f" (its log: {self.logs / (child.name + '.log')})" if self.logs else ""
                typer.echo(
                    f"tfjobs: {child.name} (pid {child.process.pid}) exited with {how}; "
                    f"restarting it in {delay:g} s{where}",
                    err=True,
                )
            elif now >= child.restart_at:
                process = self.start(child.name, child.argv)
                typer.echo(f"tfjobs: {child.name} restarted (pid {process.pid})", err=True)

    def tail(self) -> str:
        if self.logs is None:
            return "; see the messages above"
        return "; the end of its logs:\n" + _tail([self.logs / f"{name}.log" for name in self.children])

    def stop(self) -> None:
        _stop(self.processes())


@dataclass
class _Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    restart_at: float | None = None


token = typer.Typer(
    help="Create, list and revoke API tokens (stored hashed in the job store).", no_args_is_help=True
)
app.add_typer(token, name="token")

TokenDataDir = Annotated[
    Path | None,
    typer.Option(
        help="the store of this data dir, as `tfjobs up --data-dir` (env TFJOBS_DATA_DIR; default ./data)"
    ),
]


def _token_store(data_dir: Path | None, *, create: bool = False) -> tuple[Any, str]:
    """The store the API of ``data_dir`` uses (or TFJOBS_DATABASE_URL), and how to name it.
    A SQLite store that does not exist yet is only made with ``create``: a token written
    into a new, empty store is a token no running server will ever accept."""
    from app.core.config import Settings
    from app.store.db import Store

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    url = settings.sqlalchemy_url
    from sqlalchemy.engine import make_url

    # a database URL is named without its password
    where = (
        make_url(url).render_as_string(hide_password=True)
        if settings.database_url
        else str(settings.resolved_data_dir / "tfjobs.db")
    )
    if not settings.database_url and not (settings.resolved_data_dir / "tfjobs.db").exists():
        if not create:
            raise _fail(
                f"no tfjobs store at {where}: pass the server's --data-dir (or set TFJOBS_DATA_DIR / "
                "TFJOBS_DATABASE_URL), or --create to start a new store there"
            )
    store = Store(url)
    _migrate_store(store)  # a new store gets its tables; an existing one is brought up to date
    return store, where


@app.command()
def audit(
    actor: Annotated[str | None, typer.Option(help="only this actor's requests")] = None,
    action: Annotated[str | None, typer.Option(help="only this action, e.g. job.cancel")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many rows, newest first")] = 50,
    data_dir: TokenDataDir = None,
) -> None:
    """The audit log, for the server's operator, from the store (--data-dir, or the TFJOBS_*
    settings): every request that asked to change something, allowed or refused."""
    from app.store import audit as store_audit

    store, where = _token_store(data_dir)
    with store.session() as session:
        found = store_audit.rows(session, limit=limit, actor=actor, action=action)
        lines = [
            f"{r.time:%Y-%m-%d %H:%M:%S}  {r.actor:<16} {r.action:<22} {r.status:>3}  "
            f"{(r.target or '')[:40]:<40}  {r.client or ''}  {r.request_id}"
            for r in found
        ]
    store.dispose()
    typer.echo(f"{'time':<21}{'actor':<17}{'action':<23}{'st':>3}  {'target':<40}  client  request")
    for line in lines:
        typer.echo(line)
    typer.echo(f"tfjobs: {len(lines)} row(s) from {where}", err=True)


@token.command("create")
def token_create(
    owner: Annotated[str, typer.Option(help="who the token acts as")],
    data_dir: TokenDataDir = None,
    create: Annotated[bool, typer.Option("--create", help="make the store if it does not exist yet")] = False,
) -> None:
    """Print a new API token for OWNER (the store: --data-dir, or the TFJOBS_* settings)."""
    from app.store import tokens as store_tokens

    if not owner.strip() or len(owner) > 64:
        raise _fail("--owner must be 1 to 64 characters")
    store, where = _token_store(data_dir, create=create)
    with store.session() as session:
        new = store_tokens.create_token(session, owner=owner.strip())
    store.dispose()
    typer.echo(new)
    typer.echo(f"tfjobs: token for {owner.strip()!r} stored in {where}", err=True)


@token.command("list")
def token_list(data_dir: TokenDataDir = None) -> None:
    """List the tokens: an id (the start of the token's hash), owner, created."""
    from app.store import tokens as store_tokens

    store, where = _token_store(data_dir)
    with store.session() as session:
        rows = [(t.token_hash[:12], t.owner, t.created_at) for t in store_tokens.list_tokens(session)]
    store.dispose()
    typer.echo(f"{'id':<14}{'owner':<24}created")
    for token_id, owner, created in rows:
        typer.echo(f"{token_id:<14}{owner:<24}{created:%Y-%m-%d %H:%M:%S}")
    typer.echo(f"tfjobs: {len(rows)} token(s) in {where}", err=True)


@token.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="the id `tfjobs token list` shows (at least 8 characters)")],
    data_dir: TokenDataDir = None,
) -> None:
    """Revoke a token: requests with it get 401 from then on."""
    from app.store import tokens as store_tokens

    token_id = token_id.strip().lower()
    if len(token_id) < 8 or not all(c in "0123456789abcdef" for c in token_id):
        raise _fail("give the token's id as `tfjobs token list` shows it (at least 8 hex characters)")
    store, where = _token_store(data_dir)
    with store.session() as session:
        matches = [
            t.token_hash for t in store_tokens.list_tokens(session) if t.token_hash.startswith(token_id)
        ]
        if len(matches) > 1:
            raise _fail(f"{token_id!r} is the start of {len(matches)} token ids; give more of it")
        revoked = store_tokens.revoke_tokens(session, hash_prefix=token_id) if matches else []
    store.dispose()
    if not revoked:
        raise _fail(f"no token {token_id!r} in {where}")
    typer.echo(f"revoked token {token_id} of {revoked[0].owner!r} in {where}")


def _migrate_store(store: Any) -> None:
    import logging

    from app.store.db import migrate

    logging.getLogger("alembic").setLevel(logging.WARNING)
    migrate(store.engine)
