from __future__ import annotations

from tests.api.conftest import MINIMAL


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {
        "store": "ok",
        "broker": "ok",
        "workers": "none alive: jobs wait until one starts (tfjobs worker)",
    }


def test_readyz_is_503_when_the_store_is_gone(client, monkeypatch):
    def broken():
        raise ConnectionError("database went away")

    monkeypatch.setattr(client.app_state.probe_store, "ping", broken)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["store"].startswith("unreachable")


def test_prometheus_metrics(client):
    client.post("/jobs", json=MINIMAL)
    text = client.get("/metrics").text
    assert 'tfjobs_jobs{status="queued"} 1.0' in text
    assert "tfjobs_queue_depth 1.0" in text
    assert 'tfjobs_http_request_duration_seconds_count{method="POST",route="/jobs",status="201"} 1.0' in text


def test_openapi_documents_every_route_and_the_job_spec(client):
    schema = client.get("/openapi.json").json()
    assert {
        "/jobs",
        "/jobs/{job_id}",
        "/jobs/{job_id}/cancel",
        "/jobs/{job_id}/metrics",
        "/jobs/{job_id}/metrics/stream",
        "/jobs/{job_id}/logs",
        "/jobs/{job_id}/artifacts",
        "/jobs/{job_id}/artifacts/{name}",
        "/datasets",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(schema["paths"])
    assert "threshold" in schema["components"]["schemas"]["JobSpec"]["properties"]
    assert client.get("/docs").status_code == 200
