"""``tfjobs models …`` and ``tfjobs webhooks …``: the registry and webhooks from a shell.

Joined to the root by ``tfjobs/cli.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tfjobs.terminal import _client, _fail, console

__all__ = ["models_app", "serving_config", "webhooks_app"]

models_app = typer.Typer(help="The model registry: versions, aliases, predictions.", no_args_is_help=True)
webhooks_app = typer.Typer(
    help="Webhooks: signed POSTs when jobs, sweeps and models change.", no_args_is_help=True
)


@models_app.command("list")
def models_list() -> None:
    """Your models: aliases and latest version."""
    with _client() as client:
        models = list(client.models)
    if not models:
        console.print("no models yet: tfjobs models register JOB NAME")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "latest", "aliases"):
        table.add_column(column, no_wrap=True)
    for m in models:
        aliases = " ".join(f"{a}→{v}" for a, v in m.aliases.items())
        table.add_row(m.name, str(m.data.get("latest_version") or "–"), aliases)
    console.print(table, soft_wrap=False)


@models_app.command("show")
def models_show(name: str) -> None:
    """A model's versions: the job that made each, its final val_loss, its aliases."""
    with _client() as client:
        versions = client.models.get(name).versions()
    table = Table(box=None, pad_edge=False)
    for column in ("version", "job", "val_loss", "aliases", "created"):
        table.add_column(column, no_wrap=True)
    for v in versions:
        val_loss = (v.get("summary") or {}).get("val_loss")
        table.add_row(
            str(v["version"]),
            v["job_id"][:8],
            f"{val_loss:.4g}" if val_loss is not None else "",
            ", ".join(v["aliases"]),
            v["created_at"][:16].replace("T", " "),
        )
    console.print(table, soft_wrap=False)


@models_app.command("register")
def models_register(job_id: str, name: str) -> None:
    """Register a succeeded job's model as the next version of NAME (created if new)."""
    with _client() as client:
        version = client.models.register(job_id, name)
    console.print(f"registered job {job_id} as {name} version {version}", highlight=False)


@models_app.command("alias")
def models_alias(name: str, alias: str, version: int) -> None:
    """Point ALIAS (production, staging, …) of NAME at VERSION."""
    with _client() as client:
        previous = client.models.get(name).alias(alias, version)
    was = f" (was version {previous})" if previous is not None else ""
    console.print(f"{name}: {alias} → version {version}{was}", highlight=False)


@models_app.command("predict")
def models_predict(
    name: str,
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help='JSON: a list of rows, or {"instances": [...]}; - reads stdin'),
    ],
    alias: Annotated[str, typer.Option(help="predict through this alias")] = "production",
    version: Annotated[int | None, typer.Option(help="a fixed version instead of the alias")] = None,
) -> None:
    """Predictions for the rows in FILE, printed as JSON: {"predictions": [...], "version": n}."""
    text = sys.stdin.read() if str(file) == "-" else file.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise _fail(f"{file}: not JSON ({err})") from None
    rows = data["instances"] if isinstance(data, dict) and "instances" in data else data
    with _client() as client:
        answer = client.models.get(name).predict(rows, alias=None if version else alias, version=version)
    typer.echo(json.dumps(answer))


def serving_config(models: list[dict]) -> str:
    """TF Serving's model_config_list for ``models`` (each with its versions and aliases),
    every version under ``/models/NAME/VERSION`` as TF Serving expects."""
    blocks = []
    for model in models:
        versions = [v["version"] for v in model["versions"]]
        lines = [
            "  config {",
            f'    name: "{model["name"]}"',
            f'    base_path: "/models/{model["name"]}"',
            '    model_platform: "tensorflow"',
            "    model_version_policy { specific { " + " ".join(f"versions: {v}" for v in versions) + " } }",
        ]
        for alias, version in sorted(model["aliases"].items()):
            if version in versions:
                lines.append(f'    version_labels {{ key: "{alias}" value: {version} }}')
        lines.append("  }")
        blocks.append("\n".join(lines))
    return "model_config_list {\n" + "\n".join(blocks) + "\n}\n"


@models_app.command("export-serving-config")
def models_export_serving_config(
    output: Annotated[Path, typer.Option("-o", "--output", metavar="DIR", help="where to write it")] = Path(
        "serving"
    ),
) -> None:
    """Lay out every registered version for TensorFlow Serving: DIR/NAME/VERSION/ holds the
    version's SavedModel and DIR/models.config its model_config_list (aliases become
    version_labels). Then: docker run -p 8501:8501 -v $PWD/DIR:/models tensorflow/serving
    --model_config_file=/models/models.config"""
    with _client() as client:
        models = [client.models.get(m.name).data for m in client.models]
        for model in models:
            for version in model["versions"]:
                target = output / model["name"] / str(version["version"])
                if (target / "saved_model.pb").is_file():
                    continue
                staging = output / ".download" / model["name"] / str(version["version"])
                client.job(version["job_id"]).download(staging)
                shutil.rmtree(target, ignore_errors=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(staging / "saved_model"), target)
        shutil.rmtree(output / ".download", ignore_errors=True)
    output.mkdir(parents=True, exist_ok=True)
    (output / "models.config").write_text(serving_config(models))
    count = sum(len(m["versions"]) for m in models)
    console.print(f"wrote {output}/models.config: {len(models)} models, {count} versions", highlight=False)


@webhooks_app.command("add")
def webhooks_add(
    url: str,
    event: Annotated[
        list[str], typer.Option("--event", "-e", help="job.succeeded, model.alias_moved, … (repeat)")
    ],
    secret: Annotated[str, typer.Option(help="at least 16 characters; signs every body")],
) -> None:
    """Subscribe URL to events; each delivery is signed with the secret (HMAC-SHA256)."""
    with _client() as client:
        hook = client.webhooks.add(url, event, secret=secret)
    console.print(f"webhook {hook['id']}: {', '.join(hook['events'])} → {hook['url']}", highlight=False)


@webhooks_app.command("list")
def webhooks_list() -> None:
    with _client() as client:
        hooks = client.webhooks.list()
    for hook in hooks:
        console.print(f"{hook['id']}  {hook['url']}  {', '.join(hook['events'])}", highlight=False)


@webhooks_app.command("deliveries")
def webhooks_deliveries(webhook_id: str) -> None:
    """Every delivery, newest first, and every attempt at it (status code or error, time taken)."""
    with _client() as client:
        items = client.webhooks.deliveries(webhook_id)
    table = Table(box=None, pad_edge=False)
    for column in ("delivery", "event", "status", "attempts"):
        table.add_column(column, no_wrap=column != "attempts")
    for d in items:
        tries = "; ".join(
            f"{a['time'][11:19]} {a['status_code'] or a['error']} {a['duration_ms']:.0f} ms"
            for a in d["attempts"]
        )
        table.add_row(d["id"][:8], d["event"], d["status"], tries)
    console.print(table, soft_wrap=False)
