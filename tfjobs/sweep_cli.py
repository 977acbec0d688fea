"""``tfjobs sweep …``: start a sweep from a file, watch its leaderboard live, list, cancel.

Joined to the root by ``tfjobs/cli.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from tfjobs.sweeps import FINAL_SWEEP_STATUSES, Sweep
from tfjobs.terminal import EXIT_JOB_FAILED, EXIT_OK, _client, _fail, console, short_ids

__all__ = ["leaderboard", "sweep_app"]

sweep_app = typer.Typer(help="Hyperparameter sweeps: trials are jobs.", no_args_is_help=True)


def _value(value: float | None) -> str:
    return f"{value:.5g}" if value is not None else ""


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def leaderboard(sweep: dict[str, Any], trials: list[dict[str, Any]]) -> Table:
    """Trials ranked by the sweep's metric (best first; trials with no value yet last)."""
    sign = 1 if sweep["mode"] == "min" else -1
    ranked = sorted(trials, key=lambda t: (t["value"] is None, sign * (t["value"] or 0.0), t["number"]))
    counts = ", ".join(f"{n} {s}" for s, n in sorted(sweep["counts"].items())) or "no trials yet"
    title = (
        f"sweep {sweep['id'][:8]} {sweep['status']}: {sweep['method']}, {sweep['metric']} ({sweep['mode']}), "
        f"{len(trials)}/{sweep['max_trials']} trials — {counts}"
    )
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for name, justify in (("rank", "right"), ("trial", "right"), ("params", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "params")  # type: ignore[arg-type]
    table.add_column(sweep["metric"], justify="right", no_wrap=True)
    table.add_column("epochs", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("job", no_wrap=True)
    short = short_ids([t["job_id"] for t in trials])
    for rank, t in enumerate(ranked, 1):
        table.add_row(
            str(rank) if t["value"] is not None else "",
            str(t["number"]),
            _params(t["params"]),
            _value(t["value"]),
            str(t["epochs_trained"]),
            t["status"],
            short[t["job_id"]],
        )
    return table


def _watch(sweep: Sweep, every: float = 1.0) -> int:
    """The leaderboard, redrawn in place until the sweep ends; the exit code."""
    try:
        with Live(leaderboard(sweep.data, sweep.trials()), console=console, auto_refresh=False) as live:
            while sweep.refresh().status not in FINAL_SWEEP_STATUSES:
                live.update(leaderboard(sweep.data, sweep.trials()), refresh=True)
                time.sleep(every)
            live.update(leaderboard(sweep.data, sweep.trials()), refresh=True)
        if not console.is_terminal:
            console.line()  # a pipe gets the last table without its final newline
    except KeyboardInterrupt:
        console.print(
            f"stopped watching; the sweep goes on: tfjobs sweep follow {sweep.id[:8]}", highlight=False
        )
        return 130
    best = sweep.data.get("best")
    if best:
        console.print(
            f"best: trial job {best['job_id'][:8]} {_params(best['params'])} "
            f"{sweep.data['metric']}={_value(best['value'])} — tfjobs download {best['job_id'][:8]}",
            highlight=False,
        )
    return EXIT_OK if sweep.status == "succeeded" else EXIT_JOB_FAILED


@sweep_app.command("submit")
def sweep_submit(
    file: Annotated[Path, typer.Argument(help="the sweep: spec, space, method, … (YAML or JSON)")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="watch the leaderboard until it ends")
    ] = False,
) -> None:
    """Start a sweep from a YAML or JSON file."""
    if not file.is_file():
        raise _fail(f"no such file: {file}")
    with _client() as client:
        sweep = client.sweeps.submit(file)
        d = sweep.data
        console.print(
            f"sweep [bold]{d['id']}[/bold]: {d['method']} over {', '.join(d['space'])}, "
            f"{d['max_trials']} trials, {d['max_concurrent']} at a time, "
            f"{d['mode']}imising {d['metric']}" + (f", {d['pruner']['type']} pruning" if d["pruner"] else ""),
            highlight=False,
        )
        if follow:
            raise typer.Exit(_watch(sweep))
        console.print(f"watch it: tfjobs sweep follow {d['id'][:8]}", highlight=False)


@sweep_app.command("follow")
def sweep_follow(sweep_id: str) -> None:
    """Watch a sweep's leaderboard live until it ends (exit 1 unless it succeeded)."""
    with _client() as client:
        raise typer.Exit(_watch(client.sweeps.get(sweep_id)))


@sweep_app.command("list")
def sweep_list() -> None:
    """Your sweeps, newest first."""
    with _client() as client:
        rows = [s.data for s in client.sweeps]
    short = short_ids([d["id"] for d in rows])
    table = Table(box=None, pad_edge=False)
    widest = max((len(s) for s in short.values()), default=2)
    for name in ("id", "status", "method", "metric", "trials", "best", "created"):
        # An id is never cut (it is what you type next): the other columns give way.
        table.add_column(
            name,
            no_wrap=True,
            min_width=widest if name == "id" else None,
            justify="right" if name in ("trials", "best") else "left",
        )
    for d in rows:
        done = sum(n for s, n in d["counts"].items() if s not in ("queued", "running"))
        table.add_row(
            short[d["id"]],
            d["status"],
            d["method"] + (f"+{d['pruner']['type']}" if d["pruner"] else ""),
            f"{d['metric']} ({d['mode']})",
            f"{done}/{d['max_trials']}",
            _value((d.get("best") or {}).get("value")),
            d["created_at"][:16].replace("T", " "),
        )
    console.print(table, soft_wrap=False)


@sweep_app.command("status")
def sweep_status(sweep_id: str) -> None:
    """Show one sweep (JSON)."""
    with _client() as client:
        console.print_json(json.dumps(client.sweeps.get(sweep_id).data))


@sweep_app.command("trials")
def sweep_trials(sweep_id: str) -> None:
    """The sweep's trials as a leaderboard, best first."""
    with _client() as client:
        sweep = client.sweeps.get(sweep_id)
        console.print(leaderboard(sweep.data, sweep.trials()), soft_wrap=False)


@sweep_app.command("cancel")
def sweep_cancel(sweep_id: str) -> None:
    """Cancel a sweep: queued trials never start, running ones stop."""
    with _client() as client:
        sweep = client.sweeps.get(sweep_id).cancel()
    console.print(f"sweep {sweep.id} cancelled", highlight=False)
