"""The docs site's reference pages are generated from the code; nothing may be left out."""

from __future__ import annotations

import re

from app.core.config import Settings
from app.reference import api_reference, cli_reference, settings_reference


def test_every_setting_has_a_description_and_a_row():
    table = settings_reference()
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 10, f"TFJOBS_{name.upper()} has no description"
        assert f"| `TFJOBS_{name.upper()}` |" in table


def test_every_route_is_in_the_api_page(tmp_path):
    from fastapi.routing import APIRoute

    from app.main import create_app

    page = api_reference()
    app = create_app(Settings(data_dir=tmp_path), run_migrations=False)
    try:
        for route in app.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                for method in route.methods - {"OPTIONS"}:
                    assert f"| `{method}` | `{route.path}` |" in page, (method, route.path)
    finally:
        app.state.store.dispose()
        app.state.probe_store.dispose()


def test_every_command_has_its_help_in_the_cli_page():
    page = cli_reference()
    for command in (
        "submit",
        "follow",
        "list",
        "download",
        "sweep submit",
        "up",
        "api",
        "worker",
        "token create",
    ):
        assert f"### `tfjobs {command}`" in page, command
    assert not re.search(r"```text\n\n```", page)  # no empty help
