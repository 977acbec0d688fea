"""The API documents itself: every operation described, every spec field described with
its bounds, the bearer scheme declared, errors listed; /docs and /redoc work offline."""

from __future__ import annotations

import re


def test_every_operation_has_a_summary_a_description_and_its_errors(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            if not operation.get("summary") or len(operation.get("description", "")) < 20:
                missing.append(f"{where}: summary/description")
            codes = set(operation["responses"])
            if path != "/healthz" and not any(code[0] in "45" for code in codes):  # liveness cannot fail
                missing.append(f"{where}: no error response documented")
            # auth is off here (the embedded default): no operation needs a token
            if path not in ("/healthz", "/readyz", "/metrics"):  # (these document their own)
                assert operation["security"] == [] and "401" not in codes, where
    assert missing == []


def test_with_auth_on_every_operation_but_the_probes_needs_a_token(settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(settings.model_copy(update={"auth": True}))
    with TestClient(app, base_url="http://localhost") as client:
        schema = client.get("/openapi.json").json()
    app.state.store.dispose()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            public = path in ("/healthz", "/readyz", "/metrics")
            needs = operation["security"] == [{"bearer": []}] and "401" in operation["responses"]
            assert needs != public, f"{method.upper()} {path}"


def test_every_job_spec_field_has_a_description_and_the_body_an_example(client):
    components = client.get("/openapi.json").json()["components"]["schemas"]
    spec = components["JobSpec"]
    undocumented = [name for name, field in spec["properties"].items() if not field.get("description")]
    assert undocumented == []
    assert spec["properties"]["epochs"]["minimum"] == 1  # bounds are in the schema
    assert spec["examples"][0] == {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 5}


def test_the_docs_pages_load_nothing_from_another_origin(client):
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert "img-src 'self' data:" in response.headers["content-security-policy"]
        html = response.text
        assert "http://" not in html and "https://" not in html, page
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
        assert assets, page
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 500, asset
    assert client.get("/static/vendor/swagger-ui/LICENSE").status_code == 200
    assert client.get("/static/vendor/redoc/LICENSE").status_code == 200
