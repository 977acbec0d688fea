"""The dashboard's pages as the API serves them (the browser tests are in tests/ui): open
without a token even with auth on (they hold no data), strict CSP, static assets served,
and the data behind them still closed."""

from __future__ import annotations

import re

import pytest

from tests.api.test_auth import secured  # noqa: F401 - the auth-on client fixture

PAGES = (
    "/ui/",
    "/ui/jobs/0123456789abcdef",
    "/ui/compare?ids=a,b",
    "/ui/new",
    "/ui/sweeps",
    "/ui/sweeps/0123456789abcdef",
    "/ui/models",
    "/ui/models/houses",
)


def test_root_and_bare_ui_redirect_to_the_dashboard(secured):  # noqa: F811
    client, _, _ = secured
    for path in ("/", "/ui"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 307 and answer.headers["location"] == "/ui/"


@pytest.mark.parametrize("path", PAGES)
def test_pages_open_without_a_token_and_forbid_inline_script(secured, path):  # noqa: F811
    client, _, _ = secured
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "{{" not in page.text and not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert client.head(path).status_code == 200


def test_a_page_never_echoes_its_address(secured):  # noqa: F811
    client, _, _ = secured
    page = client.get("/ui/jobs/%3Cscript%3Ealert(1)%3Cb%3E")
    assert page.status_code == 200 and "<script>alert" not in page.text and "alert(1)" not in page.text


def test_the_scripts_are_served_but_the_data_still_needs_a_token(secured):  # noqa: F811
    client, alice, _ = secured
    for asset in ("/static/ui/main.js", "/static/ui/ui.css", "/static/vendor/uplot/uPlot.iife.min.js"):
        assert client.get(asset).status_code == 200, asset
    assert "javascript" in client.get("/static/ui/main.js").headers["content-type"]
    assert client.get("/jobs").status_code == 401
    assert client.get("/jobs", headers=alice).status_code == 200
