"""What every ``tfjobs`` command shares: the consoles, the exit codes, the connection the
root options chose, and how ids are shortened for a terminal."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from tfjobs.sdk import Client

__all__ = ["EXIT_JOB_FAILED", "EXIT_OK", "EXIT_USAGE", "connection", "console", "errors", "short_ids"]

# soft_wrap: a long line stays one line (a pipe or a log file must never get hard breaks)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)  # one line per error, never wrapped

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2
connection: dict[str, Any] = {}  # --url and --token, set by the root's options


def _client() -> Client:
    return Client(connection.get("url"), connection.get("token"))


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    errors.print(f"[red]tfjobs:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def short_ids(ids: list[str], *, minimum: int = 8) -> dict[str, str]:
    """Each id's shortest prefix (at least ``minimum`` long) that no other listed id shares:
    what the API and every command accept, and what fits in 80 columns."""
    short = {}
    for full in ids:
        n = minimum
        while n < len(full) and any(other != full and other.startswith(full[:n]) for other in ids):
            n += 1
        short[full] = full[:n]
    return short
