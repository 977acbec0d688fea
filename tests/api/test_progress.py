"""Metric and log paging and the live streams, over points stored as a worker stores them."""

from __future__ import annotations

import json

from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store.tables import utcnow
from tests.api.conftest import MINIMAL


def submit_with_points(client, n_points: int, *, finish: str | None = None) -> str:
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    with client.app_state.store.session() as session:
        store_jobs.claim_job(session, job_id=job_id, hostname="host", device="CPU")
        store_points.append_points(
            session,
            job_id=job_id,
            points=[
                {
                    "seq": i,
                    "kind": "epoch" if i % 10 == 0 else "step",
                    "epoch": (i - 1) // 10 + 1,
                    "step": i,
                    "time": utcnow(),
                    "values": {"loss": 1.0 / i},
                }
                for i in range(1, n_points + 1)
            ],
        )
        store_points.append_logs(
            session,
            job_id=job_id,
            lines=[
                {"seq": i, "time": utcnow(), "level": "info", "message": f"line {i}"} for i in range(1, 4)
            ],
        )
        if finish:
            store_jobs.finish_job(session, job_id=job_id, status=finish, summary={"loss": 0.1})
    return job_id


def test_metrics_page_by_cursor_without_gaps(client):
    job_id = submit_with_points(client, 25)
    seqs, after = [], 0
    while True:
        page = client.get(f"/jobs/{job_id}/metrics", params={"after": after, "limit": 7}).json()
        if not page["points"]:
            break
        seqs += [p["seq"] for p in page["points"]]
        after = page["next"]
    assert seqs == list(range(1, 26))
    assert page == {"job_id": job_id, "status": "running", "points": [], "next": 25}
    point = client.get(f"/jobs/{job_id}/metrics", params={"after": 9, "limit": 1}).json()["points"][0]
    assert point["seq"] == 10 and point["kind"] == "epoch" and point["values"] == {"loss": 0.1}
    assert point["time"].endswith("Z") or "+00:00" in point["time"]


def test_progress_and_worker_show_on_the_job(client):
    job_id = submit_with_points(client, 25)
    job = client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "running" and job["attempts"] == 1
    assert job["progress"] == {"epoch": 2, "epochs": 5, "step": 25, "values": {"loss": 0.05}}
    assert job["worker"] == {"hostname": "host", "device": "CPU"}


def test_bad_cursor_values_are_422(client):
    job_id = submit_with_points(client, 1)
    for params in ({"after": -1}, {"after": "x"}, {"limit": 0}, {"limit": 10**9}):
        assert client.get(f"/jobs/{job_id}/metrics", params=params).status_code == 422


def test_logs_page(client):
    job_id = submit_with_points(client, 1)
    page = client.get(f"/jobs/{job_id}/logs", params={"after": 1}).json()
    assert [line["message"] for line in page["lines"]] == ["line 2", "line 3"] and page["next"] == 3


def parse_sse(text: str) -> list[dict]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":") and ": " in line
        )
        if "event" in fields:
            events.append(fields)
    return events


def test_stream_sends_every_point_then_ends_with_the_status(client):
    job_id = submit_with_points(client, 12, finish="succeeded")
    with client.stream("GET", f"/jobs/{job_id}/metrics/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.read().decode())
    points = [e for e in events if e["event"] == "point"]
    assert [int(e["id"]) for e in points] == list(range(1, 13))
    assert json.loads(points[0]["data"])["seq"] == 1
    assert events[-1]["event"] == "end" and json.loads(events[-1]["data"]) == {"status": "succeeded"}


def test_stream_resumes_from_last_event_id(client):
    job_id = submit_with_points(client, 12, finish="failed")
    with client.stream("GET", f"/jobs/{job_id}/metrics/stream", headers={"Last-Event-ID": "9"}) as r:
        events = parse_sse(r.read().decode())
    assert [int(e["id"]) for e in events if e["event"] == "point"] == [10, 11, 12]


def test_log_stream(client):
    job_id = submit_with_points(client, 1, finish="succeeded")
    with client.stream("GET", f"/jobs/{job_id}/logs/stream") as r:
        events = parse_sse(r.read().decode())
    assert [json.loads(e["data"])["message"] for e in events if e["event"] == "log"] == [
        "line 1",
        "line 2",
        "line 3",
    ]
