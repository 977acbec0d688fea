from __future__ import annotations

import base64
import json

import pytest

from app.scheduler import dispatch
from app.store import jobs as store_jobs
from app.store import workers as store_workers
from tests.api.conftest import MINIMAL


def queued_messages(client) -> list[dict]:
    folder = client.app_state.settings.broker_folder / "queue"
    return [json.loads(p.read_text()) for p in sorted(folder.iterdir())]


def test_submit_stores_enqueues_and_answers_201(client):
    response = client.post("/jobs", json=MINIMAL)
    assert response.status_code == 201
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["attempts"] == 0
    assert job["spec"]["threshold"] == 2.0 and job["spec"]["batch_size"] == 32
    assert job["progress"] == {"epoch": 0, "epochs": 5, "step": 0, "values": None}
    assert job["summary"] is None and job["error"] is None and job["worker"] is None
    assert set(job) == {
        "id",
        "status",
        "spec",
        "created_at",
        "started_at",
        "finished_at",
        "attempts",
        "progress",
        "summary",
        "error",
        "worker",
        "attempt_history",
        "notice",
        "name",
        "tags",
        "sweep_id",  # null: not a sweep's trial
        "params",
        "trial_number",
        "queue",
    }
    assert job["sweep_id"] is None and job["params"] is None and job["trial_number"] is None
    assert queued_messages(client) == []  # no worker has a free slot: the store holds it
    assert job["queue"] == {"position": 1, "ahead": 0, "reason": "waiting for a worker"}
    assert job["notice"].startswith("no worker is running")  # nothing runs a job in this test
    assert client.get(f"/jobs/{job['id']}").json() == {**job, "attempt_history": []}  # not started yet

    worker_appears(client, "tfjobs-w-test-1")  # a worker with one free slot: the job goes there
    dispatch(client.app_state.store, client.app_state.celery, client.app_state.settings)
    (message,) = queued_messages(client)
    assert message["headers"]["task"] == "tfjobs.train"
    assert message["properties"]["delivery_info"]["routing_key"] == "tfjobs-w-test-1"
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert kwargs == {"job_id": job["id"]}
    assert client.get(f"/jobs/{job['id']}").json()["queue"]["reason"] == "starting"


def worker_appears(client, queue: str, kind: str = "cpu") -> None:
    with client.app_state.store.session() as session:
        store_workers.beat(
            session,
            name=f"{queue}:1",
            hostname="test",
            pid=1,
            device="CPU",
            current_job=None,
            queue=queue,
            kind=kind,
        )


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({**MINIMAL, "threshold": 0}, "threshold", "greater than 0"),
        ({**MINIMAL, "epochs": 101}, "epochs", "at most 100"),  # the configured maximum
        ({**MINIMAL, "epocs": 3}, "epocs", "unknown field; did you mean `epochs`?"),
        ({**MINIMAL, "batch_size": "big"}, "batch_size", "valid integer"),
        ({**MINIMAL, "model_type": "cnn"}, "model_type", "should be"),
        ({**MINIMAL, "dataset": "nope"}, "dataset", "no dataset 'nope'"),
        ({**MINIMAL, "dataset": "breast_cancer"}, "loss", "binary dataset"),
        ({"loss": "mse", "epochs": 1}, "model_type", "Field required"),
    ],
)
def test_bad_specs_get_422_naming_field_and_rule_and_store_nothing(client, body, field, rule):
    response = client.post("/jobs", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(err["loc"][:2] == ["body", field] and rule in err["msg"] for err in detail), detail
    assert client.get("/jobs").json()["items"] == []
    assert queued_messages(client) == []


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"null", b'"spec"', b"1e999"])
def test_malformed_bodies_are_422(client, content):
    response = client.post("/jobs", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert client.get("/jobs").json()["items"] == []


def test_huge_body_is_413(client):
    response = client.post("/jobs", json={**MINIMAL, "pad": "x" * 100_000})
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_list_is_newest_first_filtered_and_paged(client):
    ids = [client.post("/jobs", json=MINIMAL).json()["id"] for _ in range(5)]
    first = client.get("/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["items"]] == ids[::-1][:2]
    second = client.get("/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get("/jobs", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [j["id"] for j in second["items"] + third["items"]] == ids[::-1][2:]
    assert third["next_cursor"] is None
    client.post(f"/jobs/{ids[0]}/cancel")
    cancelled = client.get("/jobs", params={"status": "cancelled"}).json()["items"]
    assert [j["id"] for j in cancelled] == [ids[0]]
    assert client.get("/jobs", params={"status": "bogus"}).status_code == 422
    assert client.get("/jobs", params={"cursor": "x'; drop"}).status_code == 422


def test_unknown_job_is_404_everywhere(client):
    for path in [
        "/jobs/nope",
        "/jobs/nope/metrics",
        "/jobs/nope/logs",
        "/jobs/nope/artifacts",
        "/jobs/nope/artifacts/model.keras",
        "/jobs/nope/metrics/stream",
    ]:
        assert client.get(path).status_code == 404, path
    assert client.post("/jobs/nope/cancel").status_code == 404


def test_cancel_a_queued_job_means_it_never_starts(client):
    job = client.post("/jobs", json=MINIMAL).json()
    response = client.post(f"/jobs/{job['id']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    with client.app_state.store.session() as session:
        assert store_jobs.claim_job(session, job_id=job["id"], hostname="h", device="CPU") is None
    assert client.post(f"/jobs/{job['id']}/cancel").status_code == 409


def test_cancel_a_running_job_flags_it(client):
    job = client.post("/jobs", json=MINIMAL).json()
    with client.app_state.store.session() as session:
        store_jobs.claim_job(session, job_id=job["id"], hostname="h", device="CPU")
    response = client.post(f"/jobs/{job['id']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "running"
    with client.app_state.store.session() as session:
        assert store_jobs.is_cancel_requested(session, job_id=job["id"])


def test_idempotency_key_returns_the_same_job(client):
    headers = {"Idempotency-Key": "abc-123"}
    first = client.post("/jobs", json=MINIMAL, headers=headers)
    again = client.post("/jobs", json=MINIMAL, headers=headers)
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert len(client.get("/jobs").json()["items"]) == 1
    other = client.post("/jobs", json={**MINIMAL, "epochs": 6}, headers=headers)
    assert other.status_code == 409


def test_with_the_broker_down_a_job_is_kept_and_sent_once_it_is_back(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("broker gone")

    worker_appears(client, "tfjobs-w-test-1")
    monkeypatch.setattr(client.app_state.celery, "send_task", refuse)
    response = client.post("/jobs", json=MINIMAL)
    assert response.status_code == 201  # stored: the store is the queue
    job = response.json()
    assert job["status"] == "queued" and job["queue"]["reason"] == "waiting for a worker"
    monkeypatch.undo()
    sent = dispatch(client.app_state.store, client.app_state.celery, client.app_state.settings)
    assert sent == [(job["id"], "tfjobs-w-test-1")]
    assert len(queued_messages(client)) == 1


def test_a_unique_id_prefix_finds_the_job_everywhere(client):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    for prefix in (job_id[:8], job_id[:6], job_id[:8].upper()):
        assert client.get(f"/jobs/{prefix}").json()["id"] == job_id
    assert client.get(f"/jobs/{job_id[:8]}/metrics").json()["job_id"] == job_id
    assert client.get(f"/jobs/{job_id[:8]}/logs").status_code == 200
    assert client.get(f"/jobs/{job_id[:8]}/artifacts").json() == {"items": []}
    short = client.get(f"/jobs/{job_id[:5]}")  # too short to be safe, and it says so
    assert short.status_code == 404 and "is too short to name a job; give at least 6 characters" in short.text
    assert client.get("/jobs/zzzzzzzz").status_code == 404


def test_an_ambiguous_prefix_is_409_listing_the_candidates(client, monkeypatch):
    from app.store import jobs as store_jobs  # where create_job takes its ids from

    ids = iter(["abcdef01" + "0" * 24, "abcdef02" + "0" * 24])
    monkeypatch.setattr(store_jobs, "new_id", lambda: next(ids))
    first, second = (client.post("/jobs", json=MINIMAL).json()["id"] for _ in range(2))
    response = client.get("/jobs/abcdef")
    assert response.status_code == 409
    assert first in response.json()["detail"] and second in response.json()["detail"]
    assert client.get("/jobs/abcdef02").json()["id"] == second


def test_a_spec_may_name_an_uploaded_dataset_by_its_name_or_an_id_prefix(client):
    csv = b"a,b,y\n" + b"".join(f"{i},{i % 5},{i * 3}\n".encode() for i in range(20))
    dataset = client.post("/datasets", files={"file": ("houses.csv", csv)}, data={"target": "y"}).json()
    for name in ("houses.csv", dataset["id"][:8]):
        job = client.post("/jobs", json={**MINIMAL, "loss": "mse", "dataset": name}).json()
        assert job["spec"]["dataset"] == dataset["id"]  # stored as the id: the worker needs no guessing
    client.post("/datasets", files={"file": ("houses.csv", csv)}, data={"target": "y"})
    response = client.post("/jobs", json={**MINIMAL, "loss": "mse", "dataset": "houses.csv"})
    assert response.status_code == 422
    assert "2 of your datasets are named 'houses.csv'" in response.json()["detail"][0]["msg"]


def test_a_job_lists_its_attempts_and_how_each_ended(client):
    from app.store import jobs as store_jobs

    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    store = client.app_state.store
    for number, (host, outcome) in enumerate([("node-a", "handed_back"), ("node-b", "lease_lost")], start=1):
        with store.session() as session:
            store_jobs.claim_job(session, job_id=job_id, hostname=host, device="CPU")
            store_jobs.release_job(session, job_id=job_id, attempt=number, outcome=outcome)
    with store.session() as session:
        store_jobs.claim_job(session, job_id=job_id, hostname="node-c", device="GPU:0 H200")
        store_jobs.finish_job(session, job_id=job_id, status="succeeded", attempt=3)
    job = client.get(f"/jobs/{job_id}").json()
    assert job["attempts"] == 3
    history = job["attempt_history"]
    assert [(a["number"], a["worker"]["hostname"], a["ended_as"]) for a in history] == [
        (1, "node-a", "handed_back"),
        (2, "node-b", "lease_lost"),
        (3, "node-c", "succeeded"),
    ]
    assert history[2]["worker"]["device"] == "GPU:0 H200" and all(a["finished_at"] for a in history)
    assert client.get("/jobs").json()["items"][0]["attempt_history"] is None  # the list stays light


def test_jobs_have_names_and_tags_to_find_them_by(client):
    made = {
        name: client.post("/jobs", json={**MINIMAL, "name": name, "tags": tags}).json()["id"]
        for name, tags in [
            ("Huber sweep 1", ["sweep", "huber"]),
            ("baseline", ["mse"]),
            ("huber again", ["sweep"]),
        ]
    }
    unnamed = client.post("/jobs", json=MINIMAL).json()["id"]

    def ids(**params) -> set[str]:
        return {j["id"] for j in client.get("/jobs", params=params).json()["items"]}

    assert ids(tag="sweep") == {made["Huber sweep 1"], made["huber again"]}
    assert ids(tag="swe") == set()  # a tag matches whole
    assert ids(q="HUBER") == {made["Huber sweep 1"], made["huber again"]}
    assert ids(q="%") == set()  # wildcards are plain characters
    assert unnamed in ids() and len(ids()) == 4
    # the filter language, combined with the older parameters
    assert ids(filter="tag = 'sweep' and name ~ 'again'") == {made["huber again"]}
    assert ids(filter="name = null") == {unnamed}
    assert ids(filter="tag = 'sweep' or tag = 'mse'", q="huber") == {
        made["Huber sweep 1"],
        made["huber again"],
    }
    job = client.get(f"/jobs/{made['baseline']}").json()
    assert job["spec"]["name"] == "baseline" and job["spec"]["tags"] == ["mse"]
    assert (job["name"], job["tags"]) == ("baseline", ["mse"])  # at the top too, as lists show them
    for bad in (
        {"name": ""},
        {"name": "x" * 65},
        {"tags": ["has space"]},
        {"tags": ["t"] * 11},
        {"name": "<b>"},
    ):
        response = client.post("/jobs", json={**MINIMAL, **bad})
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][:2] == ["body", next(iter(bad))]


def test_a_gpu_job_with_only_cpu_workers_says_why_it_waits(client):
    with client.app_state.store.session() as session:
        store_workers.beat(
            session, name="h:1", hostname="h", pid=1, device="CPU", current_job=None, queue="q", kind="cpu"
        )
    waiting = client.post("/jobs", json={**MINIMAL, "device": "gpu"}).json()
    job = client.get(f"/jobs/{waiting['id']}").json()
    assert job["notice"].startswith("no GPU worker is running") and "device auto" in job["notice"]
    assert job["queue"]["reason"] == "waiting for a GPU worker: none is running"
    other = client.post("/jobs", json=MINIMAL).json()
    assert client.get(f"/jobs/{other['id']}").json()["notice"] is None


def test_a_misspelled_field_says_which_one_was_meant(client):
    refused = client.post("/jobs", json={**MINIMAL, "learning_rat": 0.01, "zzz": 1})
    assert refused.status_code == 422
    by_field = {tuple(e["loc"]): e["msg"] for e in refused.json()["detail"]}
    assert by_field[("body", "learning_rat")] == "unknown field; did you mean `learning_rate`?"
    assert by_field[("body", "zzz")] == "unknown field"
    sweep = client.post(
        "/sweeps",
        json={"spec": {**MINIMAL, "epoch": 3}, "space": {"seed": {"choice": [1, 2]}}, "method": "grid"},
    )
    assert "did you mean `epochs`?" in json.dumps(sweep.json())


def test_no_error_message_starts_with_pydantics_value_error_prefix(client):
    refused = client.post("/jobs", json={**MINIMAL, "metrics": ["mae", "mae"]})
    assert refused.status_code == 422
    assert all(not e["msg"].startswith("Value error") for e in refused.json()["detail"])


def test_an_empty_idempotency_key_is_no_key(client):
    """Schemathesis found it: an empty key was stored as a key, so the second such submit
    hit the unique index and answered 500."""
    ids = {client.post("/jobs", json=MINIMAL, headers={"Idempotency-Key": ""}).json()["id"] for _ in range(2)}
    assert len(ids) == 2


def test_a_filter_that_does_not_parse_is_a_422_that_says_where(client):
    response = client.get("/jobs", params={"filter": "learning_rate < "})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["query", "filter"], "msg": "column 17: expected a value", "type": "filter"}
    ]
    response = client.get("/jobs", params={"filter": "lerning_rate < 0.1"})
    assert "did you mean 'learning_rate'?" in response.json()["detail"][0]["msg"]
    assert client.get("/jobs", params={"filter": "x" * 1001}).status_code == 422
