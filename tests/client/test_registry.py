"""After training, as users run it: the package's ``tfjobs up`` (API, a worker and the
model server it starts), two jobs trained for real, registered as versions 1 and 2 of a model; predictions
through ``production`` equal the downloaded model's, moving the alias switches the answer
within 5 s with no restart, bad instances are a 422 that says why, and a signed webhook
reaches a real receiver for each step."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import numpy as np

from harness.receiver import Receiver
from harness.stack import wait_until
from tests.hostile import npz_bytes
from tests.tfcore.shapes import cnn_config
from tfcore.data import quadrant_images
from tfjobs import Client

SECRET = "live-receiver-secret-42"
SPEC = {"model_type": "residual", "loss": "huber", "epochs": 2}
ROWS = np.random.default_rng(0).normal(size=(5, 10)).round(4).tolist()  # diabetes: 10 features


def trained(url: str, seed: int) -> str:
    job_id = httpx.post(f"{url}/jobs", json={**SPEC, "seed": seed}, timeout=30).json()["id"]
    wait_until(
        lambda: httpx.get(f"{url}/jobs/{job_id}").json()["status"] == "succeeded", 180, f"job {job_id}"
    )
    return job_id


def downloaded_predictions(url: str, path: str, tmp_path, rows: list | None = None) -> np.ndarray:
    import keras

    import tfcore  # noqa: F401 - registers the custom layers

    target = tmp_path / f"{hashlib.sha256(path.encode()).hexdigest()[:8]}.keras"
    target.write_bytes(httpx.get(url + path, timeout=60).content)
    model = keras.models.load_model(target, safe_mode=True)
    return np.asarray(model(np.asarray(ROWS if rows is None else rows, dtype=np.float32)))


def every_model_type_predicts_as_downloaded(url: str, tmp_path) -> None:
    """mlp, wide_deep, reconstructing and a user's own CNN (model_type keras, on uploaded
    images): each served version answers as its downloaded model.keras does."""
    x, y = quadrant_images()
    dataset = httpx.post(f"{url}/datasets", files={"file": ("q.npz", npz_bytes(x=x, y=y))}).json()["id"]
    specs = {
        "mlp": ({"model_type": "mlp", "loss": "mse", "epochs": 1}, ROWS),
        "wide_deep": ({"model_type": "wide_deep", "loss": "huber", "epochs": 1}, ROWS),
        "reconstructing": ({"model_type": "reconstructing", "loss": "mse", "epochs": 1}, ROWS),
        "keras": (
            {
                "model_type": "keras",
                "architecture": cnn_config(),
                "loss": "sparse_categorical_crossentropy",
                "epochs": 1,
                "dataset": dataset,
            },
            x[:4].tolist(),
        ),
    }
    jobs = {
        kind: httpx.post(f"{url}/jobs", json=spec, timeout=30).json()["id"]
        for kind, (spec, _) in specs.items()
    }
    httpx.post(f"{url}/models", json={"name": "every-type"})
    for kind, job_id in jobs.items():
        wait_until(lambda j=job_id: httpx.get(f"{url}/jobs/{j}").json()["status"] == "succeeded", 180, kind)
        version = httpx.post(f"{url}/models/every-type/versions", json={"job_id": job_id}).json()["version"]
        rows = specs[kind][1]
        served = httpx.post(
            f"{url}/models/every-type/versions/{version}/predict", json={"instances": rows}, timeout=60
        )
        assert served.status_code == 200, (kind, served.text)
        expected = downloaded_predictions(
            url, f"/models/every-type/versions/{version}/artifacts/model.keras", tmp_path, rows
        )
        np.testing.assert_allclose(
            np.asarray(served.json()["predictions"]), expected, atol=1e-4, err_msg=kind
        )


def test_register_alias_predict_move_and_hear_about_it(up, tmp_path):
    receiver = Receiver()
    try:  # the package's tfjobs up (tests/client/conftest.py) allows loopback webhooks
        url = up.url
        hook = httpx.post(
            f"{url}/webhooks",
            json={
                "url": receiver.url,
                "events": ["job.succeeded", "model.version_created", "model.alias_moved"],
                "secret": SECRET,
            },
        )
        assert hook.status_code == 201, hook.text
        first, second = trained(url, 1), trained(url, 2)
        assert httpx.post(f"{url}/models", json={"name": "diabetes"}).status_code == 201
        for job_id in (first, second):
            assert httpx.post(f"{url}/models/diabetes/versions", json={"job_id": job_id}).status_code == 201
        assert httpx.put(f"{url}/models/diabetes/aliases/production", json={"version": 1}).status_code == 200

        answer = httpx.post(
            f"{url}/models/diabetes/aliases/production/predict", json={"instances": ROWS}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == 1
        expected = downloaded_predictions(
            url, "/models/diabetes/aliases/production/artifacts/model.keras", tmp_path
        )
        np.testing.assert_allclose(np.asarray(answer.json()["predictions"]), expected, atol=1e-4)

        # the alias moves; the next predictions come from version 2, no restart
        moved_at = time.monotonic()
        httpx.put(f"{url}/models/diabetes/aliases/production", json={"version": 2})

        def answered_by_2() -> bool:
            found = httpx.post(
                f"{url}/models/diabetes/aliases/production/predict", json={"instances": ROWS}, timeout=60
            )
            return found.json()["version"] == 2

        wait_until(answered_by_2, 5, "predictions from version 2")
        assert time.monotonic() - moved_at < 5
        second_answer = httpx.post(
            f"{url}/models/diabetes/versions/2/predict", json={"instances": ROWS}, timeout=60
        ).json()
        expected2 = downloaded_predictions(url, "/models/diabetes/versions/2/artifacts/model.keras", tmp_path)
        np.testing.assert_allclose(np.asarray(second_answer["predictions"]), expected2, atol=1e-4)
        assert not np.allclose(expected, expected2)  # two different models answered

        wrong = httpx.post(f"{url}/models/diabetes/versions/1/predict", json={"instances": [[1.0, 2.0, 3.0]]})
        assert wrong.status_code == 422 and "shape (10,)" in wrong.text
        ragged = httpx.post(
            f"{url}/models/diabetes/versions/1/predict", json={"instances": [[1.0] * 10, [1.0]]}
        )
        assert ragged.status_code == 422 and "ragged" in ragged.text
        words = httpx.post(f"{url}/models/diabetes/versions/1/predict", json={"instances": [["a"] * 10]})
        assert words.status_code == 422 and "number" in words.text

        # the SDK and the CLI, as users run them
        cli = up
        with Client(url) as client:
            model = client.models.get("diabetes")
            assert model.aliases == {"production": 2}
            assert model.predict(np.asarray(ROWS))["version"] == 2
            assert model.predict(ROWS, version=1)["predictions"] == answer.json()["predictions"]
            assert (model.download(tmp_path / "prod", alias="production") / "model.keras").is_file()
        shown = cli.tfjobs("models", "show", "diabetes").stdout
        assert "production" in shown and first[:8] in shown and second[:8] in shown
        rows = tmp_path / "rows.json"
        rows.write_text(json.dumps(ROWS))
        printed = json.loads(cli.tfjobs("models", "predict", "diabetes", str(rows), "--version", "1").stdout)
        assert printed["version"] == 1 and len(printed["predictions"]) == 5
        exported = cli.tfjobs("models", "export-serving-config", "-o", str(tmp_path / "serving"))
        assert exported.returncode == 0, exported.stderr
        config = (tmp_path / "serving" / "models.config").read_text()
        assert 'version_labels { key: "production" value: 2 }' in config
        assert all((tmp_path / "serving" / "diabetes" / v / "saved_model.pb").is_file() for v in ("1", "2"))
        hook_id = hook.json()["id"]

        wanted = {"job.succeeded": 2, "model.version_created": 2, "model.alias_moved": 2}

        ours = {first, second}

        def heard() -> dict[str, int]:
            """Our jobs' and model's events (other tests' jobs share this stack)."""
            counts: dict[str, int] = {}
            for _, body in receiver.got:
                event = json.loads(body)
                data = event["data"]
                if data.get("job", {}).get("id") in ours or data.get("model") == "diabetes":
                    counts[event["event"]] = counts.get(event["event"], 0) + 1
            return counts

        wait_until(lambda: heard() == wanted, 15, f"the webhooks {wanted}")
        assert "delivered" in cli.tfjobs("webhooks", "deliveries", hook_id).stdout
        every_model_type_predicts_as_downloaded(url, tmp_path)
        for headers, body in receiver.got:
            signed = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Tfjobs-Signature"], signed)
    finally:
        receiver.close()
