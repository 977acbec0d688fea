"""Unknown query parameters are refused (422 naming each), never silently ignored: a
misspelt ``?limt=5`` or ``?stauts=failed`` would otherwise return the unfiltered list as
if it had worked. So is a one-value parameter given twice (``?limit=5&limit=500``: which
one counts is not the caller's to guess). The API's routers use this route class; the
check is a set difference per request, with no dependency to solve (the hot routes solve
none: app/deps.py)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, get_args, get_origin

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from app.errors import InvalidInput

__all__ = ["StrictQueryRoute"]


class StrictQueryRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        params = list(_query_params(self.dependant))
        allowed = frozenset(param.alias for param in params)
        repeatable = frozenset(param.alias for param in params if _is_sequence(param.field_info.annotation))
        takes = ", ".join(sorted(allowed)) or "none"

        async def checked(request: Request) -> Response:
            if request.url.query:
                names = [name for name, _ in request.query_params.multi_items()]
                problems = [
                    {
                        "loc": ["query", name],
                        "msg": f"unknown query parameter {name!r}{_near(name, allowed)} "
                        f"(this operation takes: {takes})",
                        "type": "extra_forbidden",
                    }
                    for name in dict.fromkeys(names)
                    if name not in allowed
                ] + [
                    {
                        "loc": ["query", name],
                        "msg": f"given {names.count(name)} times; it takes one value",
                        "type": "repeated",
                    }
                    for name in dict.fromkeys(names)
                    if name in allowed and name not in repeatable and names.count(name) > 1
                ]
                if problems:
                    raise InvalidInput(problems)
            return await handler(request)

        return checked


def _near(name: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _query_params(dependant: Dependant) -> Iterator[Any]:
    """The query parameters of a route and of every dependency it solves."""
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_params(sub)


def _is_sequence(annotation: Any) -> bool:
    """``list[str]``, ``list[str] | None``: a parameter that takes repeats."""
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_is_sequence(arg) for arg in get_args(annotation) if arg is not type(None))
