"""/sweeps on SQLite and PostgreSQL, with Optuna's storage beside ours: the contract,
validation before anything is stored, owners, cancel, and the driver moving a sweep on as
its trials end (trials here are finished through the store, as a worker would; the real
workers are in tests/integration/test_sweeps_live.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.core.config import Settings
from app.main import create_app
from app.store import jobs as store_jobs
from app.store import points as store_points
from app.store import sweeps as store_sweeps
from app.store import tokens as store_tokens
from app.store.tables import utcnow
from app.sweeps.driver import _create_trial as create_trial
from app.sweeps.driver import advance, advance_all
from tfjobs import JobStatus, SweepStatus

BASE = {"model_type": "mlp", "loss": "huber", "epochs": 3}
GRID = {
    "spec": BASE,
    "space": {"threshold": {"choice": [0.5, 1.0, 2.0]}, "learning_rate": {"choice": [0.001, 0.01]}},
    "method": "grid",
    "max_concurrent": 2,
}
SWEEP_KEYS = {
    "id",
    "status",
    "spec",
    "space",
    "method",
    "pruner",
    "metric",
    "mode",
    "max_trials",
    "max_concurrent",
    "seed",
    "counts",
    "best",
    "created_at",
    "finished_at",
}


@pytest.fixture
def client(tmp_path, database_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url))
    with TestClient(app, base_url="http://localhost") as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client
    with app.state.store.engine.begin() as connection:  # PostgreSQL's database is shared: empty it
        for table in ("log_lines", "metric_points", "attempts", "jobs", "sweeps"):
            connection.execute(text(f"DELETE FROM {table}"))
    app.state.store.dispose()  # Optuna's studies stay: each is named by its sweep's unique id


def trials(client, sweep_id: str) -> list[dict]:
    return client.get(f"/sweeps/{sweep_id}/trials").json()["items"]


def end_trial(client, job_id: str, losses: list[float], status: JobStatus = JobStatus.SUCCEEDED) -> None:
    """What a worker does for a trial: claim, one epoch point per loss, the final status."""
    state = client.app_state
    with state.store.session() as session:
        job = store_jobs.claim_job(session, job_id=job_id, hostname="test", device="CPU")
        assert job is not None
        points = [
            {
                "seq": i + 1,
                "kind": "epoch",
                "epoch": i + 1,
                "step": i + 1,
                "time": utcnow(),
                "values": {"loss": loss, "val_loss": loss},
            }
            for i, loss in enumerate(losses)
        ]
        store_points.append_points(session, job_id=job_id, points=points, attempt=1)
        store_jobs.finish_job(session, job_id=job_id, status=status, attempt=1)


def move_on(client, sweep_id: str) -> None:
    state = client.app_state
    advance(state.store, state.celery, state.settings, sweep_id)


def test_a_grid_sweep_starts_its_first_trials_as_jobs(client):
    made = client.post("/sweeps", json=GRID)
    assert made.status_code == 201, made.text
    sweep = made.json()
    assert set(sweep) == SWEEP_KEYS and made.headers["location"] == f"/sweeps/{sweep['id']}"
    assert sweep["status"] == "queued" and sweep["max_trials"] == 6 and sweep["metric"] == "val_loss"
    assert sweep["counts"] == {"queued": 2} and sweep["best"] is None
    first = trials(client, sweep["id"])
    assert [t["number"] for t in first] == [0, 1] and first[0]["params"] != first[1]["params"]
    job = client.get(f"/jobs/{first[0]['job_id']}").json()
    assert job["sweep_id"] == sweep["id"] and job["params"] == first[0]["params"]
    assert job["spec"]["threshold"] == first[0]["params"]["threshold"]
    assert job["spec"]["learning_rate"] == first[0]["params"]["learning_rate"]
    assert client.get(f"/sweeps/{sweep['id'][:8]}").json()["id"] == sweep["id"]  # a prefix works
    assert [s["id"] for s in client.get("/sweeps").json()["items"]] == [sweep["id"]]


def test_a_grid_sweep_runs_every_point_once_and_its_best_is_the_lowest_value(client):
    sweep_id = client.post("/sweeps", json=GRID).json()["id"]
    value = {}
    for _round in range(10):
        running = [t for t in trials(client, sweep_id) if t["status"] == "queued"]
        if not running:
            break
        assert len(running) <= 2  # max_concurrent
        for trial in running:
            final = trial["params"]["threshold"] * 10 + trial["params"]["learning_rate"]
            value[trial["job_id"]] = final
            end_trial(client, trial["job_id"], [final + 1, final])
        move_on(client, sweep_id)
    done = trials(client, sweep_id)
    assert len(done) == 6 and all(t["status"] == "succeeded" for t in done)
    points = {tuple(sorted(t["params"].items())) for t in done}
    assert len(points) == 6  # every grid point, none twice
    sweep = client.get(f"/sweeps/{sweep_id}").json()
    assert sweep["status"] == "succeeded" and sweep["finished_at"] and sweep["counts"] == {"succeeded": 6}
    lowest = min(done, key=lambda t: t["value"])
    assert sweep["best"] == {"job_id": lowest["job_id"], "params": lowest["params"], "value": lowest["value"]}
    assert lowest["params"] == {"threshold": 0.5, "learning_rate": 0.001}
    assert all(t["value"] == value[t["job_id"]] and t["epochs_trained"] == 2 for t in done)


def test_a_sweep_whose_trials_all_fail_fails_and_pruned_trials_count_as_neither(client):
    body = {**GRID, "space": {"threshold": {"choice": [0.5, 1.0]}}, "max_concurrent": 2}
    sweep_id = client.post("/sweeps", json=body).json()["id"]
    first, second = trials(client, sweep_id)
    end_trial(client, first["job_id"], [3.0], JobStatus.PRUNED)
    end_trial(client, second["job_id"], [], JobStatus.FAILED)
    move_on(client, sweep_id)
    sweep = client.get(f"/sweeps/{sweep_id}").json()
    assert sweep["status"] == "failed" and sweep["counts"] == {"pruned": 1, "failed": 1}
    assert sweep["best"] is None  # a pruned trial's early value is no result
    pruned = trials(client, sweep_id)[0]
    assert pruned["status"] == "pruned" and pruned["value"] == 3.0  # its last reported value
    assert client.get("/jobs", params={"status": "pruned"}).json()["items"][0]["id"] == first["job_id"]


def test_asha_prunes_a_lagging_trial_early_but_never_at_its_last_epoch(client):
    """ASHA's top rung sits at the budget (rungs 1, 3, 9 for 9 epochs): a trial behind the
    others there has trained every epoch, so it must end succeeded, not pruned."""
    from app.store import sweeps as store_sweeps
    from worker.pruning import TrialPruning

    body = {
        "spec": {**BASE, "epochs": 9},
        "space": {"learning_rate": {"log_uniform": [1e-5, 3e-2]}},
        "method": "random",
        "max_trials": 5,
        "max_concurrent": 5,
        "pruner": {"type": "asha", "min_epochs": 1, "reduction_factor": 3},
    }
    sweep_id = client.post("/sweeps", json=body).json()["id"]
    state = client.app_state
    with state.store.session() as session:
        sweep = store_sweeps.get_sweep(session, sweep_id=sweep_id)
        session.expunge(sweep)
    url = state.settings.sqlalchemy_url
    numbers = sorted(t["number"] for t in trials(client, sweep_id))
    # Three trials ahead at rung 1, each the best so far when it reports (Optuna prunes any
    # but the best of the first reduction_factor - 1 trials at a rung).
    for number, loss in zip(numbers[:3], (0.3, 0.2, 0.1), strict=True):
        ahead = TrialPruning(url, sweep, number, epochs=9)
        ahead.epoch_ended(1, {"val_loss": loss})
        assert not ahead.pruned.is_set()
    lagging = TrialPruning(url, sweep, numbers[3], epochs=9)
    lagging.epoch_ended(1, {"val_loss": 5.0})  # the worst at rung 1, with 8 epochs to go
    assert lagging.pruned.is_set() and lagging.at_epoch == 1
    finished = TrialPruning(url, sweep, numbers[4], epochs=1)  # as far behind, at its last epoch
    finished.epoch_ended(1, {"val_loss": 5.0})
    assert not finished.pruned.is_set() and finished.at_epoch is None


def test_random_and_tpe_sweeps_draw_from_ranges_within_bounds(client):
    for method in ("random", "tpe"):
        body = {
            "spec": BASE,
            "space": {
                "learning_rate": {"log_uniform": [1e-4, 1e-1]},
                "hidden_units": {"int_uniform": [8, 64]},
                "dropout": {"uniform": [0.0, 0.5]},
            },
            "method": method,
            "max_trials": 4,
            "max_concurrent": 4,
            "seed": 7,
        }
        sweep_id = client.post("/sweeps", json=body).json()["id"]
        drawn = [t["params"] for t in trials(client, sweep_id)]
        assert len(drawn) == 4 and len({p["learning_rate"] for p in drawn}) == 4
        for p in drawn:
            assert 1e-4 <= p["learning_rate"] <= 1e-1 and 8 <= p["hidden_units"] <= 64
            assert isinstance(p["hidden_units"], int) and 0.0 <= p["dropout"] <= 0.5


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (
            {"space": {"learning_rate": {"uniform": [-1, 0.1]}}},
            ["space", "learning_rate", "uniform", 0],
            "greater than 0",
        ),
        (
            {"space": {"epochs": {"choice": [2, 0]}}},
            ["space", "epochs", "choice", 1],
            "greater than or equal to 1",
        ),
        ({"space": {"wings": {"choice": [1, 2]}}}, ["space", "wings"], "not a job spec field"),
        ({"space": {"name": {"choice": ["a"]}}}, ["space", "name"], "not searchable"),
        ({"space": {"dropout": {"uniform": [0.4, 0.1]}}}, [], "low end must be below"),
        (
            {"method": "grid", "space": {"dropout": {"uniform": [0.0, 0.1]}}},
            ["space", "dropout"],
            "only `choice`",
        ),
        ({"metric": "val_auc"}, ["metric"], "not an epoch metric"),
        ({"max_concurrent": 99}, ["max_concurrent"], "at most 8"),
        ({"max_trials": 100_000}, ["max_trials"], "over the limit"),
        (
            {"pruner": {"type": "asha", "reduction_factor": 1}},
            ["pruner", "asha", "reduction_factor"],
            "greater than or equal to 2",
        ),
        ({"spec": {**BASE, "epochs": 0}}, ["spec", "epochs"], "greater than or equal to 1"),
        ({"mode": "sideways"}, ["mode"], "'min' or 'max'"),
    ],
)
def test_a_bad_sweep_is_422_naming_the_field_and_nothing_is_stored(client, change, where, says):
    body = {"spec": BASE, "space": {"threshold": {"choice": [1.0, 2.0]}}, "method": "random", **change}
    answer = client.post("/sweeps", json=body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert any(e["loc"][1:] == where and says in e["msg"] for e in detail) or (
        not where and any(says in e["msg"] for e in detail)
    ), detail
    assert client.get("/sweeps").json()["items"] == [] and client.get("/jobs").json()["items"] == []


def test_idempotency_key_replays_the_same_sweep_and_refuses_another_body(client):
    headers = {"Idempotency-Key": "sweep-1"}
    first = client.post("/sweeps", json=GRID, headers=headers)
    again = client.post("/sweeps", json=GRID, headers=headers)
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert len(client.get("/jobs").json()["items"]) == 2  # no second set of trials
    other = client.post("/sweeps", json={**GRID, "seed": 3}, headers=headers)
    assert other.status_code == 409


def test_cancel_stops_the_sweep_and_its_trials_and_nothing_new_starts(client):
    sweep_id = client.post("/sweeps", json=GRID).json()["id"]
    cancelled = client.post(f"/sweeps/{sweep_id}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["counts"] == {"cancelled": 2}
    move_on(client, sweep_id)
    assert len(trials(client, sweep_id)) == 2  # no new trial after a cancel
    assert client.post(f"/sweeps/{sweep_id}/cancel").status_code == 409


def test_no_trial_is_created_after_a_cancel_commits(client):
    """An advance that read the sweep before the cancel (it was open then) makes no trial
    after the cancel has committed: 7 of 10 such trials ran to `succeeded` before."""
    sweep_id = client.post("/sweeps", json=GRID).json()["id"]
    store = client.app_state.store
    with store.session() as session:
        read_before_the_cancel = store_sweeps.get_sweep(session, sweep_id=sweep_id)
        session.expunge(read_before_the_cancel)
    assert client.post(f"/sweeps/{sweep_id}/cancel").status_code == 202
    assert not create_trial(store, read_before_the_cancel, 2, {"threshold": 2.0, "learning_rate": 0.001})
    assert [t["status"] for t in trials(client, sweep_id)] == ["cancelled", "cancelled"]


def test_a_trial_left_unfinished_by_an_ended_sweep_is_cancelled_by_the_next_pass(client):
    sweep_id = client.post("/sweeps", json=GRID).json()["id"]
    store = client.app_state.store
    with store.session() as session:  # as a create that raced an older cancel left it
        store_sweeps.finish_sweep(session, sweep_id=sweep_id, status=SweepStatus.CANCELLED)
    assert {t["status"] for t in trials(client, sweep_id)} == {"queued"}
    advance_all(store, client.app_state.celery, client.app_state.settings)
    assert {t["status"] for t in trials(client, sweep_id)} == {"cancelled"}


def test_advancing_twice_at_once_or_again_makes_no_extra_trial(client):
    sweep_id = client.post("/sweeps", json=GRID).json()["id"]
    for _ in range(3):
        move_on(client, sweep_id)
    assert len(trials(client, sweep_id)) == 2  # max_concurrent, however often it is moved on


def test_another_owners_sweep_is_not_found(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", auth=True))
    with app.state.store.session() as session:
        alice = {"Authorization": f"Bearer {store_tokens.create_token(session, owner='alice')}"}
        bob = {"Authorization": f"Bearer {store_tokens.create_token(session, owner='bob')}"}
    with TestClient(app, base_url="http://localhost") as client:
        sweep_id = client.post("/sweeps", json=GRID, headers=alice).json()["id"]
        for path in (f"/sweeps/{sweep_id}", f"/sweeps/{sweep_id}/trials"):
            assert client.get(path, headers=bob).status_code == 404
        assert client.post(f"/sweeps/{sweep_id}/cancel", headers=bob).status_code == 404
        assert client.get("/sweeps", headers=bob).json()["items"] == []
        assert client.get(f"/sweeps/{sweep_id}", headers=alice).status_code == 200
    app.state.store.dispose()


@pytest.fixture
def limited(tmp_path, database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        max_queued_per_owner=3,
        max_active_sweeps_per_owner=2,
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost") as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client
    with app.state.store.engine.begin() as connection:
        for table in ("log_lines", "metric_points", "attempts", "jobs", "sweeps"):
            connection.execute(text(f"DELETE FROM {table}"))
    app.state.store.dispose()


def test_trials_wait_rather_than_exceed_the_owners_queue_limit(limited):
    """Before: with the limit at 5, six sweeps put 47 jobs in one owner's queue."""
    wide = {**GRID, "max_concurrent": 8}
    first = limited.post("/sweeps", json=wide).json()["id"]
    second = limited.post("/sweeps", json=wide).json()["id"]
    for sweep_id in (first, second):
        move_on(limited, sweep_id)
    assert len(trials(limited, first)) + len(trials(limited, second)) == 3  # the owner's limit
    assert limited.post("/jobs", json=BASE).status_code == 429
    job_id = trials(limited, first)[0]["job_id"]
    end_trial(limited, job_id, [1.0, 0.9, 0.8])  # one leaves the queue: one more trial may wait
    move_on(limited, first)
    queued = [t for s in (first, second) for t in trials(limited, s) if t["status"] == "queued"]
    assert len(queued) == 3


def test_unfinished_sweeps_per_owner_are_limited_with_429(limited):
    for _ in range(2):
        assert limited.post("/sweeps", json=GRID).status_code == 201
    refused = limited.post("/sweeps", json=GRID)
    assert refused.status_code == 429 and "TFJOBS_MAX_ACTIVE_SWEEPS_PER_OWNER" in refused.json()["detail"]
    assert refused.headers["retry-after"] == "30"
    sweep_id = limited.get("/sweeps").json()["items"][0]["id"]
    limited.post(f"/sweeps/{sweep_id}/cancel")
    assert limited.post("/sweeps", json=GRID).status_code == 201  # a cancelled one frees a place


def test_a_pass_skips_sweeps_with_nothing_new(client, monkeypatch):
    """Before: every pass rebuilt an Optuna study per active sweep (600 sweeps: API CPU 2 → 44 %)."""
    from app.sweeps import driver

    ids = [client.post("/sweeps", json=GRID).json()["id"] for _ in range(3)]
    state = client.app_state
    seen: dict[str, object] = {}
    built: list[str] = []
    real = driver.advance
    monkeypatch.setattr(driver, "advance", lambda *a: built.append(a[-1]) or real(*a))
    assert advance_all(state.store, state.celery, state.settings, seen) == 3
    assert advance_all(state.store, state.celery, state.settings, seen) == 0  # nothing moved
    end_trial(client, trials(client, ids[1])[0]["job_id"], [1.0, 0.5, 0.25])
    assert advance_all(state.store, state.celery, state.settings, seen) == 1  # only the one that moved
    assert built[-1] == ids[1]


def test_importance_ranks_the_parameter_that_decided_the_metric(client):
    """val_loss depends on learning_rate alone (its distance from 1e-2, on a log scale);
    hidden_units and dropout are noise. Before 10 trials finished the answer is a 409 that
    says how many there are; from 10 an answer; from 20 PED-ANOVA and fANOVA both rank
    learning_rate first (app/sweeps/importance.py has the measured odds at 10)."""
    body = {
        "spec": BASE,
        "space": {
            "learning_rate": {"log_uniform": [1e-4, 1]},
            "hidden_units": {"int_uniform": [8, 64]},
            "dropout": {"uniform": [0.0, 0.5]},
        },
        "method": "random",
        "max_trials": 20,
        "max_concurrent": 8,
        "seed": 3,
    }
    sweep_id = client.post("/sweeps", json=body).json()["id"]
    assert client.get(f"/sweeps/{sweep_id}/importance").status_code == 409

    def answer(method: str = "ped_anova") -> dict:
        response = client.get(f"/sweeps/{sweep_id}/importance", params={"method": method})
        assert response.status_code == 200, response.text
        found = response.json()
        assert set(found["importances"]) == {"learning_rate", "hidden_units", "dropout"}
        assert sum(found["importances"].values()) == pytest.approx(1.0)
        return found

    ended = 0
    while ended < 20:
        for trial in trials(client, sweep_id):
            if trial["status"] != "queued":
                continue
            rate, units = trial["params"]["learning_rate"], trial["params"]["hidden_units"]
            end_trial(client, trial["job_id"], [1.0, (math.log10(rate) + 2) ** 2 + 0.001 * units / 64])
            ended += 1
            if ended == 9:
                response = client.get(f"/sweeps/{sweep_id}/importance")
                assert response.status_code == 409
                assert response.json()["detail"] == (
                    "parameter importance needs 10 succeeded trials; this sweep has 9 so far"
                )
            if ended == 10:
                assert answer()["trials"] == 10
        move_on(client, sweep_id)
    for method in ("ped_anova", "fanova"):
        found = answer(method)
        assert (found["metric"], found["method"], found["trials"]) == ("val_loss", method, 20)
        shares = found["importances"]
        assert max(shares, key=shares.get) == "learning_rate" and shares["learning_rate"] > 0.5, (
            method,
            shares,
        )
    curves = client.get(f"/sweeps/{sweep_id}/curves").json()  # the page's one read of every curve
    assert curves["metric"] == "val_loss" and len(curves["curves"]) == 20
    assert all(c["epoch"] == [1, 2] and c["values"][0] == 1.0 for c in curves["curves"].values())
    assert client.get(f"/sweeps/{sweep_id}/importance", params={"method": "anova"}).status_code == 422
    assert client.get("/sweeps/nosuchsweep/importance").status_code == 404


def test_fanova_on_an_api_without_scikit_learn_is_a_422_naming_the_method(client, monkeypatch):
    import app.routes.sweeps as routes

    sweep_id = client.post("/sweeps", json=GRID).json()["id"]
    monkeypatch.setattr(routes, "fanova_available", lambda: False)  # the API image lacks it
    response = client.get(f"/sweeps/{sweep_id}/importance", params={"method": "fanova"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "method"] and "tfjobs_server[fanova]" in error["msg"]
