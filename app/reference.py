"""The docs site's reference pages, generated from the code so they cannot drift from it:
every setting (from ``Settings``: one description per field), every route (from the
app's OpenAPI schema) and every CLI command (from the Typer app's own help).

``docs/hooks/reference.py`` puts them into the pages at build time (``mkdocs build``,
which ``scripts/check`` runs); ``tests/test_docs.py`` checks nothing is undocumented.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from app.core.config import Settings

__all__ = ["api_reference", "cli_reference", "settings_reference"]

_METHODS = ("get", "post", "put", "patch", "delete", "head")


def _default(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"


def settings_reference() -> str:
    """A Markdown table: variable, default, meaning — one row per ``Settings`` field."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `TFJOBS_{name.upper()}` | {_default(field.default)} | {description} |")
    return "\n".join(rows)


def api_reference() -> str:
    """A Markdown table of every operation: method, path, summary (from /openapi.json)."""
    from app.main import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp)), run_migrations=False)
        schema = app.openapi()
        app.state.store.dispose()
        app.state.probe_store.dispose()
    rows = ["| method | path | what it does |", "| --- | --- | --- |"]
    for path, operations in schema["paths"].items():
        for method in _METHODS:
            if method in operations:
                summary = operations[method].get("summary", "").replace("|", "\\|")
                rows.append(f"| `{method.upper()}` | `{path}` | {summary} |")
    return "\n".join(rows)


def cli_reference() -> str:
    """Each ``tfjobs`` command's own ``--help``, the client's and the server's alike."""
    import typer
    from typer.testing import CliRunner

    from tfjobs.cli import app

    root = typer.main.get_command(app)
    runner = CliRunner()
    names: list[list[str]] = []
    # typer carries its own click: contexts and groups come from the command objects.
    with root.context_class(root, info_name="tfjobs") as ctx:
        for name in root.list_commands(ctx):  # type: ignore[attr-defined]
            command = root.get_command(ctx, name)  # type: ignore[attr-defined]
            names.append([name])
            if hasattr(command, "list_commands"):  # a group: its commands too
                with command.context_class(command, info_name=name, parent=ctx) as group_ctx:
                    names += [[name, sub] for sub in command.list_commands(group_ctx)]
    sections = []
    for words in names:
        shown = runner.invoke(app, [*words, "--help"], prog_name="tfjobs", env={"COLUMNS": "100"})
        text = "\n".join(line.rstrip() for line in shown.output.strip().splitlines())
        sections.append(f"### `tfjobs {' '.join(words)}`\n\n```text\n{text}\n```")
    return "\n\n".join(sections)
