"""The adversarial battery, rerun against a real API process with auth on: every hostile
input is answered 4xx (never 5xx), nothing is created, and the service is healthy after.

The individual rules live in tests/api/ (each with the exact status and message); this
module fires all of them at a running server in one go and prints the tally that
docs/operations.md ("When things go wrong") and docs/benchmarks.md quote.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from harness.stack import running_stack
from tests.api.test_hostile_input import (
    BAD_EVENT_IDS,
    BAD_JOB_BODIES,
    BAD_QUERIES,
    HOSTILE_UPLOADS,
    MALFORMED_UPLOADS,
    PATH_TRICKS,
)

pytestmark = pytest.mark.chaos

MINIMAL = {"model_type": "residual", "loss": "huber", "threshold": 2.0, "epochs": 2}
BAD_TOKENS = [
    None,
    "Bearer tfj_forged",
    "Basic YWxpY2U6eA==",
    "Bearer",
    "bearer  tfj_",
    "Bearer " + "x" * 5000,
]


def test_the_hostile_battery_against_a_running_api(tmp_path):
    from app.core.config import Settings
    from app.store import tokens as store_tokens
    from app.store.db import Store

    settings = {"TFJOBS_AUTH": "on", "TFJOBS_MAX_UPLOAD_MB": "16"}
    with running_stack(tmp_path, settings, workers=0) as stack:
        store = Store(Settings(data_dir=stack.data_dir).sqlalchemy_url)
        with store.session() as session:
            alice, bob = (
                store_tokens.create_token(session, owner="alice"),
                store_tokens.create_token(session, owner="bob"),
            )
        store.dispose()
        tally: Counter[str] = Counter()
        codes: Counter[int] = Counter()

        def expect_4xx(kind: str, response: httpx.Response) -> None:
            tally[kind] += 1
            codes[response.status_code] += 1
            assert 400 <= response.status_code < 500, (kind, response.status_code, response.text[:200])

        as_alice = {"Authorization": f"Bearer {alice}"}
        with httpx.Client(base_url=stack.url, timeout=60, headers=as_alice) as client:
            job_id = client.post("/jobs", json=MINIMAL).json()["id"]
            for body in BAD_JOB_BODIES:
                expect_4xx(
                    "job bodies",
                    client.post("/jobs", content=body, headers={"content-type": "application/json"}),
                )
            for content_type in ("text/plain", "application/xml", "multipart/form-data; boundary=x"):
                expect_4xx(
                    "content types",
                    client.post("/jobs", content=b"{}", headers={"content-type": content_type}),
                )
            for name, content, data, *_ in [*HOSTILE_UPLOADS, *MALFORMED_UPLOADS]:
                expect_4xx("uploads", client.post("/datasets", files={"file": (name, content)}, data=data))
            for name in PATH_TRICKS:
                expect_4xx("artifact paths", client.get(f"/jobs/{job_id}/artifacts/{name}"))
            for query in BAD_QUERIES:
                expect_4xx("cursors", client.get(f"/jobs/{job_id}/metrics?{query}"))
            for value in BAD_EVENT_IDS:
                raw = value.encode("latin-1") if all(ord(c) < 256 for c in value) else value.encode()
                with client.stream(
                    "GET", f"/jobs/{job_id}/metrics/stream", headers=[(b"last-event-id", raw)]
                ) as r:
                    r.read()
                    expect_4xx("Last-Event-IDs", r)

        routes = [
            ("GET", "/jobs"),
            ("POST", "/jobs"),
            ("GET", f"/jobs/{job_id}"),
            ("POST", f"/jobs/{job_id}/cancel"),
            ("GET", f"/jobs/{job_id}/metrics"),
            ("GET", f"/jobs/{job_id}/logs"),
            ("GET", f"/jobs/{job_id}/artifacts"),
            ("GET", "/datasets"),
            ("POST", "/datasets"),
        ]
        with httpx.Client(base_url=stack.url, timeout=60) as anonymous:
            for token in BAD_TOKENS:
                headers = {"Authorization": token} if token else {}
                for method, path in routes:
                    response = anonymous.request(
                        method, path, headers=headers, json=MINIMAL if method == "POST" else None
                    )
                    expect_4xx("bad tokens", response)
                    assert response.status_code == 401
            as_bob = {"Authorization": f"Bearer {bob}"}
            for method, path in routes[2:7]:
                response = anonymous.request(method, path, headers=as_bob)
                expect_4xx("another owner's job", response)
                assert response.status_code == 404
            expect_4xx("metrics without its token", anonymous.get("/metrics", headers=as_alice))

            with httpx.Client(base_url=stack.url, timeout=60, headers=as_alice) as client:
                assert [j["id"] for j in client.get("/jobs").json()["items"]] == [job_id]  # nothing created
                assert all(d["builtin"] for d in client.get("/datasets").json())
            assert anonymous.get("/readyz").status_code == 200
        datasets = stack.data_dir / "datasets"
        assert not datasets.exists() or list(datasets.iterdir()) == []  # no upload was kept, not even half
    total = sum(tally.values())
    print(
        f"\nhostile inputs: {total} tried, {total} answered 4xx, 0 5xx — "
        + ", ".join(f"{k} {v}" for k, v in tally.items())
    )
    print("status codes: " + ", ".join(f"{code}×{n}" for code, n in sorted(codes.items())))
    assert tally["bad tokens"] == len(BAD_TOKENS) * len(routes)  # every route, every bad token
