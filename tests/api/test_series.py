"""GET /jobs/{id}/metrics/series: chart columns, downsampled on the server."""

from __future__ import annotations

import math

from app.store import points as store_points
from app.store.tables import utcnow
from tests.api.conftest import MINIMAL


def add_points(client, job_id: str, points: list[dict]) -> None:
    with client.app_state.store.session() as session:
        store_points.append_points(session, job_id=job_id, points=points, attempt=None)


def test_a_long_series_is_downsampled_keeping_its_shape(client):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    now = utcnow()
    steps = [
        {
            "seq": i,
            "kind": "step",
            "epoch": 1 + i // 1000,
            "step": i,
            "time": now,
            "values": {"loss": 100.0 / i + (50.0 if i == 7_777 else 0.0), "mae": 1.0},
        }
        for i in range(1, 10_001)
    ]
    add_points(client, job_id, steps)
    series = client.get(
        f"/jobs/{job_id[:8]}/metrics/series", params={"kind": "step", "names": "loss", "max_points": 500}
    ).json()
    assert series["total"] == 10_000 and series["kind"] == "step" and set(series["values"]) == {"loss"}
    seq = series["seq"]
    assert 2 < len(seq) <= 500 and seq == sorted(seq)
    assert seq[0] == 1 and seq[-1] == 10_000  # the ends
    assert 7_777 in seq  # the spike: what a chart must not lose
    assert len(series["step"]) == len(series["epoch"]) == len(series["values"]["loss"]) == len(seq)
    assert series["values"]["loss"][seq.index(7_777)] == 100.0 / 7_777 + 50.0


def test_a_short_series_comes_whole_with_nulls_for_missing_values(client):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    now = utcnow()
    add_points(
        client,
        job_id,
        [
            {"seq": 1, "kind": "step", "epoch": 1, "step": 5, "time": now, "values": {"loss": 3.0}},
            {
                "seq": 2,
                "kind": "epoch",
                "epoch": 1,
                "step": 10,
                "time": now,
                "values": {"loss": 2.0, "val_loss": 2.5},
            },
            {
                "seq": 3,
                "kind": "epoch",
                "epoch": 2,
                "step": 20,
                "time": now,
                "values": {"loss": 1.0, "val_loss": math.nan},
            },
        ],
    )
    series = client.get(f"/jobs/{job_id}/metrics/series").json()  # epoch points, every metric
    assert series["seq"] == [2, 3] and series["epoch"] == [1, 2] and series["step"] == [10, 20]
    assert series["values"] == {"loss": [2.0, 1.0], "val_loss": [2.5, None]}


def test_bad_series_parameters_are_422(client):
    job_id = client.post("/jobs", json=MINIMAL).json()["id"]
    for params in (
        {"names": "loss;drop"},
        {"names": ""},
        {"kind": "minute"},
        {"max_points": 1},
        {"names": ",".join(["a"] * 21)},
    ):
        assert client.get(f"/jobs/{job_id}/metrics/series", params=params).status_code == 422, params


def test_min_max_buckets_keep_ends_and_extremes_within_the_budget():
    import numpy as np

    from app.series import min_max_buckets

    rng = np.random.default_rng(0)
    for n, budget in [(1001, 1000), (10_000, 7), (100_000, 2000), (5, 2), (3, 3)]:
        y = rng.normal(size=n)
        y[n // 3] = 99.0
        y[n // 2] = -99.0
        picked = min_max_buckets(y, budget)
        assert len(picked) <= budget and list(picked) == sorted(set(picked.tolist()))
        assert picked[0] == 0 and picked[-1] == n - 1
        if budget >= 4:
            assert n // 3 in picked and n // 2 in picked
