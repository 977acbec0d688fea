"""The API's own documentation: Swagger UI at /docs and ReDoc at /redoc, served from the
package's vendored copies (app/static/vendor, with their licenses) so they work on an
offline machine, and the OpenAPI details FastAPI cannot infer: the bearer scheme and the
errors every route can answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_PREFIX", "document_errors_and_security", "mount_docs"]

STATIC_PREFIX = "/static"
VENDOR = f"{STATIC_PREFIX}/vendor"
PUBLIC_OPERATIONS = {"/healthz", "/readyz", "/metrics"}  # no user token (/metrics has its own)
# Nothing from another origin, whatever the vendored code asks for (ReDoc's bundle links a
# Redocly logo on a CDN: the browser refuses it here, and ReDoc then hides the image).
# Swagger UI starts from one inline <script> written by FastAPI: hence 'unsafe-inline' there.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)

BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "With TFJOBS_AUTH=on every route but the probes needs `Authorization: Bearer <token>` "
    "(`tfjobs token create --owner NAME`). With auth off the header is ignored.",
}
COMMON_ERRORS = {
    "400": "A malformed request (a NUL byte in the path or query, or an unreadable header).",
    "401": "No token, or one the store does not know (only with TFJOBS_AUTH=on).",
    "404": "No such thing of yours (another owner's is 404 too).",
    "503": "The API is at capacity (TFJOBS_MAX_CONCURRENT_REQUESTS) or a service it needs is out "
    "of reach; `Retry-After` says when to try again.",
    "413": "The request body is over its limit (TFJOBS_MAX_BODY_KB; uploads: TFJOBS_MAX_UPLOAD_MB).",
    "422": "A parameter or the body breaks a rule; `detail` lists each field (`loc`) and rule (`msg`).",
}


def mount_docs(app: FastAPI) -> None:
    app.mount(STATIC_PREFIX, StaticFiles(directory=Path(__file__).with_name("static")), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _with_csp(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="tfjobs — API",
                swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
                swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
                swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _with_csp(
            get_redoc_html(
                openapi_url="/openapi.json",
                title="tfjobs — API",
                redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
                redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
                with_google_fonts=False,
            )
        )


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


# Collections whose POST creates a thing with an ``id`` that the operations under
# ``/<collection>/{<param>}`` take: OpenAPI links from the 201 to each of them.
CREATED_IDS = {"/jobs": "job_id", "/sweeps": "sweep_id", "/datasets": "dataset_id"}


def link_created_ids(schema: dict[str, Any]) -> None:
    """OpenAPI links from each POST's 201 to the operations on what it created (the new id
    as their path parameter): generated clients and stateful test tools follow them."""
    paths = schema.get("paths", {})
    for collection, param in CREATED_IDS.items():
        created = paths.get(collection, {}).get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links = created.setdefault("links", {})
        for path, operations in paths.items():
            if path.startswith(f"{collection}/{{{param}}}") and path.count("{") == 1:
                for operation in operations.values():
                    links[operation["operationId"]] = {
                        "operationId": operation["operationId"],
                        "parameters": {param: "$response.body#/id"},
                    }


def document_errors_and_security(schema: dict[str, Any], *, auth: bool) -> None:
    """Declares the bearer scheme (Swagger UI's Authorize button) and, on every operation,
    the errors any request can meet, next to the ones each route documents itself. With
    auth off (the embedded default) no operation needs a token, and the schema says so."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = BEARER
    link_created_ids(schema)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if path in PUBLIC_OPERATIONS or not auth:
                operation["security"] = []
            else:
                operation["security"] = [{"bearer": []}]
                responses.setdefault("401", {"description": COMMON_ERRORS["401"]})
            if operation.get("requestBody"):
                responses.setdefault("413", {"description": COMMON_ERRORS["413"]})
            if operation.get("requestBody") or operation.get("parameters"):
                responses.setdefault("422", {"description": COMMON_ERRORS["422"]})
            if "{" in path:
                responses.setdefault("404", {"description": COMMON_ERRORS["404"]})
            responses.setdefault("400", {"description": COMMON_ERRORS["400"]})
            responses.setdefault("503", {"description": COMMON_ERRORS["503"]})
