"""Readable ``--help`` for every command, the server's included: a value's metavar says
what to type (``URL``, ``FILE``, ``KEY=VALUE``) instead of a Python type (typer prints
``<str>``, ``<list[str]>``, ``<bool>``), a flag shows none, and a command's line in a
list is its docstring's first paragraph, not its first hard-wrapped line."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument

__all__ = ["readable"]


def _metavar(param: Any) -> str:
    name = str(param.name or "value").rstrip("_")
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None and descriptor.is_path:
        return "DIR" if name.endswith(("dir", "output")) else "FILE"
    return name.upper().replace("_", "-")


def readable(command: Any) -> Any:
    """``command`` (and a group's subcommands), each parameter without a metavar given one."""
    if command is None or getattr(command, "_readable", False):
        return command
    command._readable = True
    if command.help and not command.short_help:  # its line in a list: the first paragraph, unwrapped
        command.short_help = " ".join(command.help.split("\n\n")[0].split())
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:  # click makes --help when asked: a flag, no metavar
        option = make_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for param in getattr(command, "params", ()):
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = _metavar(param)
            # the rich help's type column would print <str> beside the name; the name says it
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = _metavar(param)
    for sub in getattr(command, "commands", {}).values():
        readable(sub)
    return command
