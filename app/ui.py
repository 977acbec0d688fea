"""The web dashboard's pages: ``/`` → ``/ui/``, the job list, one job, compare, new job,
the sweeps and one sweep.

Every page is the same static shell (``app/static/ui/page.html``) naming which view to
draw; the view's script then reads the API with the caller's token (kept in the tab's
``sessionStorage``, sent as a Bearer header). So the HTML holds nothing from a user: no
job name, dataset name or log line is ever rendered by the server, and the browser's
scripts only ever put them in the page as text. The pages themselves need no token
(a browser cannot send a header on navigation); the data behind them does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

__all__ = ["UI_CSP", "UI_PREFIX", "router"]

UI_PREFIX = "/ui"
SHELL = Path(__file__).with_name("static") / "ui" / "page.html"
# No inline script or style, nothing from another origin; blob: only for the download of
# an artifact fetched with the token (an <a download> of an object URL).
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {  # nosniff and Referrer-Policy: on every response (app/core/hardening.py)
    "Content-Security-Policy": UI_CSP,
    "Cache-Control": "no-cache",
}
VIEWS = {
    "jobs": "Jobs",
    "job": "Job",
    "compare": "Compare",
    "new": "New job",
    "sweeps": "Sweeps",
    "sweep": "Sweep",
    "models": "Models",
    "model": "Model",
}

router = APIRouter(include_in_schema=False)


@cache
def _shell(view: str) -> str:
    # The view name and title are ours (VIEWS), never the request's.
    return SHELL.read_text().replace("{{view}}", view).replace("{{title}}", VIEWS[view])


def _page(view: str) -> HTMLResponse:
    return HTMLResponse(_shell(view), headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def root() -> RedirectResponse:
    return RedirectResponse(f"{UI_PREFIX}/", status_code=307)


@router.api_route(UI_PREFIX, methods=["GET", "HEAD"])
def ui_without_slash() -> RedirectResponse:
    return RedirectResponse(f"{UI_PREFIX}/", status_code=307)


@router.api_route(f"{UI_PREFIX}/", methods=["GET", "HEAD"])
def jobs_page() -> HTMLResponse:
    return _page("jobs")


@router.api_route(f"{UI_PREFIX}/jobs/{{job_id}}", methods=["GET", "HEAD"])
def job_page(job_id: str) -> HTMLResponse:  # the script reads the id from the address
    return _page("job")


@router.api_route(f"{UI_PREFIX}/compare", methods=["GET", "HEAD"])
def compare_page() -> HTMLResponse:
    return _page("compare")


@router.api_route(f"{UI_PREFIX}/new", methods=["GET", "HEAD"])
def new_job_page() -> HTMLResponse:
    return _page("new")


@router.api_route(f"{UI_PREFIX}/sweeps", methods=["GET", "HEAD"])
def sweeps_page() -> HTMLResponse:
    return _page("sweeps")


@router.api_route(f"{UI_PREFIX}/sweeps/{{sweep_id}}", methods=["GET", "HEAD"])
def sweep_page(sweep_id: str) -> HTMLResponse:  # the script reads the id from the address
    return _page("sweep")


@router.api_route(f"{UI_PREFIX}/models", methods=["GET", "HEAD"])
def models_page() -> HTMLResponse:
    return _page("models")


@router.api_route(f"{UI_PREFIX}/models/{{name}}", methods=["GET", "HEAD"])
def model_page(name: str) -> HTMLResponse:  # the script reads the name from the address
    return _page("model")
