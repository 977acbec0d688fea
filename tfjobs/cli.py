"""The ``tfjobs`` command line: the one root. The client's commands live here; the
server's (``up``, ``api``, ``worker``, ``token``) come from the ``tfjobs.commands``
entry points and load only when listed or run, so this module never imports the server
and the client installs without it (``pip install tfjobs``).

Exit codes: 0 the command did its work (a followed job succeeded); 1 a followed job
failed or was cancelled; 2 usage errors, bad spec files, an unreachable server or a
4xx answer. Errors are one line, never a traceback. Ctrl-C while following stops
following (the job goes on) and says how to resume.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
import time
from collections.abc import Iterator
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from typer.core import TyperGroup

from tfjobs import FINAL_STATUSES, JobStatus, __version__
from tfjobs.errors import JobFailed, TfjobsError
from tfjobs.helptext import readable
from tfjobs.plot import line_chart
from tfjobs.registry_cli import models_app, webhooks_app
from tfjobs.sdk import DEFAULT_URL, Job, load_spec
from tfjobs.sweep_cli import sweep_app
from tfjobs.terminal import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    _client,
    _fail,
    connection,
    console,
    errors,
    short_ids,
)

__all__ = ["app", "main"]

COMMANDS_GROUP = "tfjobs.commands"  # entry points: each a Typer app whose commands join the root


@cache
def plugin_commands() -> dict[str, Any]:
    """The commands other installed packages add to ``tfjobs`` (the server's, for one).

    A plugin that cannot load is left out rather than breaking the client's commands.
    """
    commands: dict[str, Any] = {}
    for entry in entry_points(group=COMMANDS_GROUP):
        try:
            group = typer.main.get_command(entry.load())
        except ImportError:
            continue
        if isinstance(group, TyperGroup):
            commands.update(group.commands)
    return commands


# The server's commands (tfjobs_server adds them): on a client-only install they are still
# listed, and say what to install instead of "No such command".
SERVER_COMMANDS = {
    "up": "Run the API and workers here (needs tfjobs_server[train])",
    "api": "Run the HTTP API (needs tfjobs_server)",
    "worker": "Run a training worker (needs tfjobs_server[train])",
    "token": "Create, list and revoke API tokens (needs tfjobs_server)",
}
INSTALL_SERVER = (
    "`tfjobs {name}` comes with the server: pip install tfjobs_server "
    "(or 'tfjobs_server[train]' to train here: tfjobs up, tfjobs worker)"
)


def _needs_server(name: str) -> typer.core.TyperCommand:
    def refuse() -> None:
        raise TfjobsError(INSTALL_SERVER.format(name=name))

    return typer.core.TyperCommand(
        name,
        callback=refuse,
        help=SERVER_COMMANDS[name],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class Root(TyperGroup):
    """The client's own commands first, then the plugins' (read lazily), then what the
    server would add when it is not installed."""

    def list_commands(self, ctx: Any) -> list[str]:
        own = super().list_commands(ctx)
        plugins = [name for name in plugin_commands() if name not in own]
        return own + plugins + [name for name in SERVER_COMMANDS if name not in own + plugins]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        readable(self)  # the global options

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name) or plugin_commands().get(cmd_name)
        if found is None and cmd_name in SERVER_COMMANDS:
            return _needs_server(cmd_name)
        return readable(found)


# --set key=value, repeatable: submit and resubmit
SetOption = Annotated[
    list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="override a field (repeatable)")
]

app = typer.Typer(
    cls=Root,
    help="tfjobs: remote TensorFlow training jobs.",
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"tfjobs {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _options(
    url: Annotated[
        str, typer.Option(envvar="TFJOBS_URL", help="the tfjobs server (host:port or a URL)")
    ] = DEFAULT_URL,
    token: Annotated[str | None, typer.Option(envvar="TFJOBS_TOKEN", help="API token")] = None,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="print the version and exit"),
    ] = False,
) -> None:
    """tfjobs: remote TensorFlow training jobs."""
    connection.update(url=url, token=token)


# --- submit and follow --------------------------------------------------------------


def _parse_set(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` overrides; values are JSON when they parse (3, 0.1, true, {"l1": 0.01})."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise _fail(f"--set expects key=value, got {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = overrides
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return overrides


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@app.command()
def submit(
    spec: Annotated[str, typer.Argument(help="a JSON or YAML spec file, or - for stdin")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="show live progress")] = False,
    set_: SetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only the job id (for scripts)")] = False,
    architecture: Annotated[
        Path | None,
        typer.Option(help="your Keras model's config (a model.to_json() file): model_type keras"),
    ] = None,
) -> None:
    """Submit a training job; prints its id at once."""
    try:
        body = _merge(load_spec(spec), _parse_set(set_ or []))
        if architecture is not None:
            body = {"model_type": "keras", **body, "architecture": _architecture_file(architecture)}
    except ValueError as err:
        raise _fail(str(err)) from None
    with _client() as client:
        job = client.submit(body)
        if job.data.get("notice") and not quiet:
            errors.print(f"[yellow]note:[/yellow] {escape(job.data['notice'])}", highlight=False)
        if quiet:
            sys.stdout.write(job.id + "\n")
        else:
            replicas = int(job.data["spec"].get("replicas") or 1)
            on = f", {replicas} replicas" if replicas > 1 else ""
            console.print(
                f"submitted job [bold]{job.id}[/bold] ({body.get('model_type')}, "
                f"{body.get('loss')}, {body.get('epochs')} epochs{on})",
                highlight=False,
            )
        place = job.data.get("queue")
        if (
            place
            and not quiet
            and (place["ahead"] > 0 or place["reason"] not in ("waiting for a worker", "starting"))
        ):
            console.print(f"  {queue_line(place)}", highlight=False)
        if follow:
            raise typer.Exit(_follow(job))


def _architecture_file(path: Path) -> dict[str, Any]:
    try:
        architecture = json.loads(path.read_text())
    except OSError as err:
        raise ValueError(f"cannot read architecture file {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON (save it with model.to_json()): {err}") from None
    if not isinstance(architecture, dict):
        raise ValueError(f"{path} must hold a model's config, a JSON object (model.to_json())")
    return architecture


@app.command()
def resubmit(
    job_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="show live progress")] = False,
    set_: SetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only the new job's id")] = False,
) -> None:
    """Submit a job again with the same spec (any job, failed and cancelled ones too), with
    --set overrides."""
    with _client() as client:
        old = client.job(job_id)
        body = _merge(dict(old.data["spec"]), _parse_set(set_ or []))
        job = client.submit(body)
        if quiet:
            sys.stdout.write(job.id + "\n")
        else:
            console.print(f"submitted job [bold]{job.id}[/bold] (a copy of {old.id[:8]})", highlight=False)
        if follow:
            raise typer.Exit(_follow(job))


@app.command()
def follow(job_id: str) -> None:
    """Follow a job live: a progress bar per epoch, then a summary and the loss curve."""
    with _client() as client:
        raise typer.Exit(_follow(client.job(job_id)))


def _shown_metrics(values: dict[str, Any], limit: int = 8) -> str:
    keys = [k for k in values if k not in ("lr", "epoch_seconds", "samples_per_second")]
    # loss, val_loss, then each metric beside its validation twin
    order = sorted(
        keys, key=lambda k: (k.removeprefix("val_") != "loss", k.removeprefix("val_"), k.startswith("val_"))
    )
    return "  ".join(f"{k}={values[k]:.4g}" for k in order[:limit] if values[k] is not None)


def eta_seconds(epoch_seconds: list[float], done: int, total: int) -> float | None:
    """Seconds left at the recent epoch rate (the mean of the last 3 epochs' durations):
    the job's own pace, not how fast the points reached us (a re-follow replays them at once)."""
    if not epoch_seconds or done >= total:
        return 0.0 if done >= total else None
    recent = epoch_seconds[-3:]
    return (total - done) * sum(recent) / len(recent)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def queue_line(queue: dict[str, Any]) -> str:
    """``queued: 3 ahead (waiting for a worker)`` — a queued job's place, as the API gives it."""
    if queue["reason"] == "starting":
        return "queued: starting on a free worker"
    ahead = queue["ahead"]
    return f"queued: {ahead} job{'' if ahead == 1 else 's'} ahead ({queue['reason']})"


def _follow(job: Job) -> int:
    """Live progress from the job's real state at the first frame: its status and epoch as
    the API reports them, then every point; a watcher refreshes the status while no point
    arrives (queued → running), and the ETA comes from the epochs' own durations."""
    job.refresh()
    epochs = job.data["progress"]["epochs"]
    history: list[dict[str, Any]] = []
    durations: list[float] = []
    # At 80 columns the metrics give way (ellipsis), never the epoch, the times or the ETA.
    progress = Progress(
        TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
        BarColumn(bar_width=16),
        TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
        TimeElapsedColumn(table_column=Column(no_wrap=True)),
        TextColumn("eta {task.fields[eta]}", table_column=Column(no_wrap=True)),
        console=console,
        transient=False,
        expand=True,
    )
    last_point = [time.monotonic()]
    done_watching = threading.Event()

    def status_line() -> str:
        status = job.data["status"]
        if status == JobStatus.RUNNING and job.data["progress"]["step"] == 0:
            return "running (starting)"
        if status == JobStatus.QUEUED and job.data.get("notice"):
            return "queued: no worker is running (start one: tfjobs worker)"
        if status == JobStatus.QUEUED and job.data.get("queue"):
            return queue_line(job.data["queue"])
        return str(status)

    try:
        with progress:
            task = progress.add_task(
                f"epoch {job.data['progress']['epoch']}/{epochs}",
                total=epochs,
                completed=job.data["progress"]["epoch"],
                info=status_line(),
                eta=_clock(None),
            )

            def watch() -> None:  # the status changes between points too (queued → running)
                while not done_watching.wait(1.0):
                    if time.monotonic() - last_point[0] >= 1.0:
                        try:
                            job.refresh()
                        except TfjobsError:
                            continue
                        if not history and not durations:
                            progress.update(task, info=status_line())

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            for point in job.stream():
                last_point[0] = time.monotonic()
                values = point["values"]
                if point["kind"] == "epoch":
                    history.append({"epoch": point["epoch"], **values})
                    if values.get("epoch_seconds") is not None:
                        durations.append(float(values["epoch_seconds"]))
                    progress.update(
                        task,
                        completed=point["epoch"],
                        description=f"epoch {point['epoch']}/{epochs}",
                        info=_shown_metrics(values, limit=4),
                        eta=_clock(eta_seconds(durations, point["epoch"], epochs)),
                    )
                else:
                    progress.update(
                        task,
                        description=f"epoch {point['epoch']}/{epochs}",
                        info=f"step {point['step']}  loss={values.get('loss', float('nan')):.4g}",
                    )
            done_watching.set()
    except KeyboardInterrupt:
        errors.print(
            f"\nstopped following; job {job.id} goes on. Resume with: tfjobs follow {job.id}", highlight=False
        )
        return 130
    finally:
        done_watching.set()
    job.refresh()
    _print_outcome(job, history)
    return EXIT_OK if job.status == JobStatus.SUCCEEDED else EXIT_JOB_FAILED


def _print_outcome(job: Job, history: list[dict[str, Any]]) -> None:
    colours: dict[str, str] = {
        JobStatus.SUCCEEDED: "green",
        JobStatus.FAILED: "red",
        JobStatus.CANCELLED: "yellow",
        JobStatus.PRUNED: "yellow",
    }
    colour = colours.get(job.status, "white")
    console.print(f"job {job.id}: [{colour}]{job.status}[/{colour}]", highlight=False)
    if job.data.get("error"):
        console.print(f"  {job.data['error']['type']}: {job.data['error']['message']}", highlight=False)
    summary = job.data.get("summary") or {}
    if summary:
        table = Table(title="final metrics", show_header=True)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in summary.items():
            if value is not None and not key.startswith("stop_reason"):
                table.add_row(key, f"{value:.6g}")
        console.print(table)
    losses = [h["loss"] for h in history if h.get("loss") is not None]
    if len(losses) >= 2:
        series = {"loss": losses}
        val = [h.get("val_loss") for h in history]
        if all(v is not None for v in val):
            series["val_loss"] = val
        console.print(line_chart(series, title="loss by epoch"), highlight=False)
    if job.status == JobStatus.SUCCEEDED:
        console.print(f"download: tfjobs download {job.id} -o {job.id[:8]}/", highlight=False)


# --- reading jobs ---------------------------------------------------------------------


def _duration(data: dict[str, Any]) -> str:
    from datetime import datetime

    if not data.get("started_at"):
        return ""
    start = datetime.fromisoformat(data["started_at"].replace("Z", "+00:00"))
    end = (
        datetime.fromisoformat(data["finished_at"].replace("Z", "+00:00"))
        if data.get("finished_at")
        else None
    )
    if end is None:
        return "…"
    return _clock((end - start).total_seconds())


@app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="only jobs with this status")] = None,
    tag: Annotated[str | None, typer.Option(help="only jobs with this tag")] = None,
    name: Annotated[str | None, typer.Option("--name", help="only jobs whose name contains this")] = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="EXPR",
            help="only jobs the expression matches, e.g. \"metrics.val_loss < 0.3 and tag = 'baseline'\"",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 50,
) -> None:
    """List your jobs, newest first: the columns that matter fit 80 columns; ids are the
    unique prefixes every command accepts. --filter takes the filter language of
    GET /jobs?filter= (docs/api.md#filter-jobs)."""
    with _client() as client:
        found = client.jobs(status=status, tag=tag, q=name, filter=filter, page_size=min(limit, 100))
        jobs = [job.data for _, job in zip(range(limit), found, strict=False)]
    short = short_ids([d["id"] for d in jobs])
    table = Table(box=None, pad_edge=False)
    # An id is never cut (it is what you type next): "name / model" gives way first.
    table.add_column("id", no_wrap=True, min_width=max((len(s) for s in short.values()), default=2))
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("epoch", justify="right", no_wrap=True)
    table.add_column("val_loss", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("name / model", overflow="ellipsis", no_wrap=True)  # first to shrink
    table.add_column("created", overflow="ellipsis", no_wrap=True)
    for d in jobs:
        # a success's final value; else the last epoch's (running, pruned, cancelled, failed)
        val_loss = (d.get("summary") or d["progress"].get("values") or {}).get("val_loss")
        table.add_row(
            short[d["id"]],
            d["status"],
            f"{d['progress']['epoch']}/{d['progress']['epochs']}",
            f"{val_loss:.4g}" if val_loss is not None else "",
            _duration(d),
            d["spec"].get("name") or f"{d['spec']['model_type']} {d['spec']['loss']}",
            d["created_at"][:16].replace("T", " "),
        )
    console.print(table, soft_wrap=False)


@app.command()
def workers() -> None:
    """The workers alive now: host, pid, device, busy or idle, and your job on each."""
    with _client() as client:
        rows = client.get_json("/workers")
    if not rows:
        console.print("no worker is running: jobs wait until one starts (tfjobs worker, or tfjobs up)")
        return
    table = Table(box=None, pad_edge=False)
    for name in ("host", "pid", "device", "state", "job", "last seen"):
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for w in rows:
        table.add_row(
            w["hostname"], str(w["pid"]), w["device"], w["state"], (w["job"] or "")[:8], w["last_seen"][11:19]
        )
    console.print(table, soft_wrap=False)


@app.command()
def status(job_id: str) -> None:
    """Show one job."""
    with _client() as client:
        console.print_json(json.dumps(client.job(job_id).data))


@app.command()
def metrics(
    job_id: str,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new points")] = False,
    format_: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
) -> None:
    """Print a job's metric points."""
    if format_ not in ("table", "json", "csv"):
        raise _fail(f"--format must be table, json or csv, not {format_!r}")
    with _client() as client:
        job = client.job(job_id)
        points = job.stream() if follow_ else job.metrics()
        _print_points(points, format_, follow=follow_)


POINT_FIELDS = ("seq", "kind", "epoch", "step", "time")
EPOCH_EXTRAS = ("lr", "epoch_seconds", "samples_per_second")


def _row(point: dict[str, Any]) -> dict[str, Any]:
    return {**{k: point[k] for k in POINT_FIELDS}, **point["values"]}


def _epoch_columns(first: dict[str, Any]) -> list[str]:
    """The columns of an epoch point, known from the first point of any kind: a step point
    carries the training values; an epoch point adds each one's val_ twin and the extras."""
    values = list(first["values"])
    if first["kind"] != "epoch":
        values += [f"val_{k}" for k in values] + list(EPOCH_EXTRAS)
    return [*POINT_FIELDS, *dict.fromkeys(values)]


def _print_points(points: Iterator[dict[str, Any]], format_: str, *, follow: bool = False) -> None:
    """Points as a table, CSV or JSON. Following, each point is written (and flushed) as it
    arrives: CSV rows under a header from the first point, JSON as JSON Lines."""
    if format_ == "json" and follow:
        for point in points:
            sys.stdout.write(json.dumps(point) + "\n")
            sys.stdout.flush()
        return
    if format_ == "json":
        sys.stdout.write(json.dumps(list(points)) + "\n")
        return
    if format_ == "csv" and follow:
        writer: csv.DictWriter[str] | None = None
        for point in points:
            if writer is None:
                writer = csv.DictWriter(sys.stdout, fieldnames=_epoch_columns(point), extrasaction="ignore")
                writer.writeheader()
            writer.writerow(_row(point))
            sys.stdout.flush()
        return
    if format_ == "csv":
        buffer = [_row(p) for p in points]
        names = list(dict.fromkeys(k for row in buffer for k in row))
        out = io.StringIO()
        csv_writer = csv.DictWriter(out, fieldnames=names)
        csv_writer.writeheader()
        csv_writer.writerows(buffer)
        sys.stdout.write(out.getvalue())
        return
    for point in points:
        console.print(
            f"{point['seq']:>6} {point['kind']:<5} epoch {point['epoch']:<4} step {point['step']:<7} "
            f"{_shown_metrics(point['values'])}",
            highlight=False,
        )


@app.command()
def logs(
    job_id: str,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
) -> None:
    """Print a job's log lines."""
    with _client() as client:
        job = client.job(job_id)
        for line in job.stream(what="logs") if follow_ else job.logs():
            console.print(
                f"{line['time'][11:19]} {line['level']:<7} {line['message']}", highlight=False, markup=False
            )


@app.command()
def delete(job_id: str) -> None:
    """Delete a finished job: its record, metrics, logs and files."""
    with _client() as client:
        job = client.job(job_id)
        job.delete()
    console.print(f"deleted job {job.id}", highlight=False)


@app.command()
def cancel(job_id: str) -> None:
    """Cancel a queued or running job."""
    with _client() as client:
        job = client.job(job_id).cancel()
        console.print(
            f"job {job.id}: {job.status}"
            + (" (stopping within a few steps)" if job.status == JobStatus.RUNNING else "")
        )


@app.command()
def download(
    job_id: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="folder")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="wait for a queued or running job to finish first")
    ] = False,
) -> None:
    """Download a finished job's files (each checked against its sha256)."""
    with _client() as client:
        job = client.job(job_id)
        if wait and job.status not in FINAL_STATUSES:
            console.print(f"waiting for job {job.id} ({job.status}) to finish…", highlight=False)
            try:
                job.wait()
            except JobFailed as err:  # nothing to download: say why, exit as `follow` does
                errors.print(f"[red]tfjobs:[/red] {escape(str(err))}", highlight=False)
                raise typer.Exit(EXIT_JOB_FAILED) from None
        folder = job.download(output or Path(job_id[:8]))
        for artifact in job.artifacts():
            console.print(
                f"  {artifact['name']:<22} {artifact['size']:>10,} bytes  sha256 ok", highlight=False
            )
        console.print(f"saved to {folder}/ (saved_model/ extracted)")


# --- datasets -------------------------------------------------------------------------

datasets = typer.Typer(help="Upload and list datasets.", no_args_is_help=True)
app.add_typer(datasets, name="datasets")


@datasets.command("upload")
def datasets_upload(
    file: Path, target: Annotated[str | None, typer.Option(help="the CSV's label column")] = None
) -> None:
    """Upload a CSV (with --target) or an NPZ (arrays x and y)."""
    if not file.is_file():
        raise _fail(f"no such file: {file}")
    with _client() as client:
        d = client.datasets.upload(file, target=target)
    console.print(
        f"dataset [bold]{d['id']}[/bold]: {d['rows']} rows × {d['features']} features, "
        f"target {d['target']!r} ({d['task']}). Use it with: --set dataset={d['id']}",
        highlight=False,
    )


@datasets.command("delete")
def datasets_delete(dataset_id: str) -> None:
    """Delete an uploaded dataset (refused while a queued or running job uses it)."""
    with _client() as client:
        client.datasets.delete(dataset_id)
    console.print(f"deleted dataset {dataset_id}", highlight=False)


@datasets.command("list")
def datasets_list() -> None:
    """List built-in and uploaded datasets (uploaded ones by their unique id prefix)."""
    with _client() as client:
        rows = client.datasets.list()
    short = short_ids([d["id"] for d in rows if not d.get("builtin")])
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("name", overflow="ellipsis", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("features", justify="right", no_wrap=True)
    table.add_column("target", overflow="ellipsis", no_wrap=True)
    table.add_column("task", no_wrap=True)
    for d in rows:
        table.add_row(
            short.get(d["id"], d["id"]), d["name"], str(d["rows"]), str(d["features"]), d["target"], d["task"]
        )
    console.print(table, soft_wrap=False)


app.add_typer(sweep_app, name="sweep")
app.add_typer(models_app, name="models")
app.add_typer(webhooks_app, name="webhooks")


def usage_message(err: typer.TyperException) -> str:
    """``missing job id (see: tfjobs status --help)`` rather than a parser's class name."""
    param = getattr(err, "param", None)
    ctx = getattr(err, "ctx", None)
    where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    if type(err).__name__ == "MissingParameter" and param is not None:
        return f"missing {(param.name or 'argument').replace('_', ' ')}{where}"
    message = err.format_message().rstrip(".")
    return message[:1].lower() + message[1:] + where


GLOBAL_OPTIONS = ("--url", "--token")


def global_options_first(args: list[str]) -> list[str]:
    """``tfjobs list --url X`` as ``tfjobs --url X list``: the connection options belong to
    the root, but people put them after the command too."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":  # everything after is an argument, as given
            rest += args[i:]
            break
        if arg in GLOBAL_OPTIONS and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        if arg.startswith(tuple(f"{o}=" for o in GLOBAL_OPTIONS)):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    """Entry point: one clear line for every expected error."""
    args = global_options_first(sys.argv[1:]) or ["--help"]  # `tfjobs` alone: the help, and success
    try:
        # Outside standalone mode click returns the code of a typer.Exit instead of exiting.
        code = app(args, prog_name="tfjobs", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except TfjobsError as err:
        errors.print(f"[red]tfjobs:[/red] {err}", highlight=False)
        sys.exit(EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except ModuleNotFoundError as err:  # a server command on a client-only install
        errors.print(
            "[red]tfjobs:[/red] "
            + escape(
                f"this command needs the server's packages (missing module {err.name!r}): "
                "pip install tfjobs_server, or 'tfjobs_server[train]' for a worker"
            ),
            highlight=False,
        )
        sys.exit(EXIT_USAGE)
    except typer.TyperException as err:  # usage errors: one line in the CLI's own words
        errors.print(f"[red]tfjobs:[/red] {escape(usage_message(err))}", highlight=False)
        sys.exit(EXIT_USAGE)
    except Exception as err:  # anything unexpected: one line, exit 2
        first_line = (str(err).splitlines() or [""])[0]
        errors.print(f"[red]tfjobs:[/red] {type(err).__name__}: {escape(first_line)}", highlight=False)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
