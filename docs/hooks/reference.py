"""mkdocs hook: fills the reference pages' markers with what app/reference.py generates
from the code (settings, routes, CLI help), so the site cannot drift from it."""

from __future__ import annotations

from typing import Any

from app.reference import api_reference, cli_reference, settings_reference

MARKERS = {
    "<!-- reference:settings -->": settings_reference,
    "<!-- reference:api -->": api_reference,
    "<!-- reference:cli -->": cli_reference,
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
