"""The dashboard's pages in Chromium against a real ``tfjobs up``: live updates without a
reload, charts that grow while a job trains, downloads, cancel, compare, the form's 422s,
hostile names shown as text, and the token prompt with auth on."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from harness.stack import FINAL, LONG_JOB, TFJOBS, clean_env, running_up, wait_until
from tests.ui.conftest import screenshot

pytestmark = pytest.mark.browser

QUICK = {"model_type": "mlp", "loss": "huber", "threshold": 1.0, "epochs": 4}
# Slower than QUICK (a few seconds an epoch), so the page can watch it train.
WATCHED = {**LONG_JOB, "epochs": 6}
HOSTILE = "<img src=x onerror=alert(1)>.csv"  # run, it would open a dialog: the page fixture fails on one


def submit(up, spec: dict) -> str:
    response = httpx.post(up.url + "/jobs", json=spec, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def finish(up, job_id: str, timeout: float = 180) -> dict:
    job: dict = {}

    def final() -> bool:
        job.update(httpx.get(f"{up.url}/jobs/{job_id}", timeout=10).json())
        return job["status"] in FINAL

    wait_until(final, timeout, f"job {job_id} to finish", logs=up.printed)
    return job


def mark_no_reload(page) -> None:
    """A flag on the window: still there later means the page was never reloaded."""
    page.evaluate("window.__sameDocument = true")


def still_same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_the_root_redirects_and_every_page_forbids_inline_script_and_other_origins(up):
    root = httpx.get(up.url + "/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    for path in (
        "/ui/",
        "/ui/jobs/abcdef12",
        "/ui/compare?ids=a,b",
        "/ui/new",
        "/ui/sweeps",
        "/ui/sweeps/abcdef12",
    ):
        page = httpx.get(up.url + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "default-src 'self'" in csp
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "an inline script"
        assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    assert httpx.get(up.url + "/static/vendor/uplot/LICENSE").status_code == 200


def test_the_job_list_shows_a_new_job_and_follows_its_status_without_a_reload(up, page):
    page.goto(up.url + "/ui/")
    page.wait_for_selector("table.jobs")
    mark_no_reload(page)
    job_id = submit(up, {**QUICK, "name": "list-watch"})
    row = page.locator(f'tr[data-job="{job_id}"]')
    row.wait_for()
    assert row.locator("a.mono").inner_text() == job_id[:8]
    row.locator('[data-status="succeeded"]').wait_for(timeout=120_000)
    assert "4/4" in row.inner_text() and still_same_document(page)
    assert re.search(r"\d", row.locator("td.num").first.inner_text())  # the final loss
    screenshot(page, "jobs")


def test_the_job_page_draws_live_points_ends_succeeded_and_downloads_verified_files(up, page):
    job_id = submit(up, {**WATCHED, "name": "page-watch"})
    page.goto(f"{up.url}/ui/jobs/{job_id}")
    page.wait_for_selector("body[data-ready=charts]")
    mark_no_reload(page)
    steps = page.locator('figure[data-chart="loss (steps)"]')
    first = int(steps.get_attribute("data-points"))
    wait_until(
        lambda: int(steps.get_attribute("data-points")) > first + 2,
        120,
        "the step chart to grow while the job trains",
    )
    page.locator('#status [data-status="succeeded"]').wait_for(timeout=240_000)
    assert still_same_document(page)
    epoch_chart = page.locator('figure[data-chart="loss"]')
    wait_until(lambda: epoch_chart.get_attribute("data-points") == "6", 10, "all six epochs drawn")
    assert page.locator("#cancel").is_hidden()
    assert "replicas1 process" in page.locator("#facts").inner_text().replace("\n", "")  # not a gang
    page.locator("#logs .line").first.wait_for()
    assert "epoch 6" in page.locator("#logs").inner_text()

    listed = {a["name"]: a for a in httpx.get(f"{up.url}/jobs/{job_id}/artifacts").json()["items"]}
    links = page.locator("#artifacts a[data-artifact]")
    links.first.wait_for()
    assert links.count() == len(listed) and "model.keras" in listed
    for name in ("model.keras", "manifest.json"):
        with page.expect_download() as caught:
            page.locator(f'#artifacts a[data-artifact="{name}"]').click()
        data = caught.value.path().read_bytes()
        assert hashlib.sha256(data).hexdigest() == listed[name]["sha256"]
        assert caught.value.suggested_filename == name
    assert f"tfjobs download {job_id[:8]}" in page.locator("#snippet").inner_text()
    screenshot(page, "job")


def api_process(up) -> int:
    """The pid of the API that ``tfjobs up`` started (its child ``tfjobs api --port P``)."""
    port = up.url.rsplit(":", 1)[1].encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"api" in argv and b"--port" in argv and port in argv:
                return int(proc.name)
    raise AssertionError("no API process found")


def test_a_dropped_stream_resumes_with_no_gap_and_no_duplicate(up, page, console):
    """The API is killed mid-job (the supervisor restarts it): the page reconnects with
    Last-Event-ID and ends with exactly the job's points, each drawn once."""
    console.expected = ("ERR_CONNECTION", "ERR_EMPTY_RESPONSE", "ERR_INCOMPLETE_CHUNKED")
    job_id = submit(up, {**WATCHED, "name": "dropped"})
    page.goto(f"{up.url}/ui/jobs/{job_id}")
    page.wait_for_selector("body[data-ready=charts]")
    mark_no_reload(page)
    steps = page.locator('figure[data-chart="loss (steps)"]')
    wait_until(lambda: int(steps.get_attribute("data-points")) >= 3, 120, "live step points")
    os.kill(api_process(up), signal.SIGKILL)
    page.locator('#status [data-status="succeeded"]').wait_for(timeout=240_000)
    total = httpx.get(
        f"{up.url}/jobs/{job_id}/metrics/series",
        params={"kind": "step", "names": "loss", "max_points": 100_000},
    ).json()["total"]
    wait_until(lambda: int(steps.get_attribute("data-points")) >= total, 30, "every step point drawn")
    assert int(steps.get_attribute("data-points")) == total  # none twice
    assert page.locator('figure[data-chart="loss"]').get_attribute("data-points") == "6"
    assert still_same_document(page)


def test_cancel_on_the_page_stops_a_running_job(up, page):
    job_id = submit(up, {**LONG_JOB, "name": "cancel-me"})
    page.goto(f"{up.url}/ui/jobs/{job_id}")
    page.locator('#status [data-status="running"]').wait_for(timeout=120_000)
    page.locator("#cancel").click()
    page.locator('#status [data-status="cancelled"]').wait_for(timeout=120_000)
    job = httpx.get(f"{up.url}/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["progress"]["epoch"] < LONG_JOB["epochs"]


def test_compare_overlays_two_jobs_and_marks_the_best_values(up, page):
    a = submit(up, {**QUICK, "name": "lr-small", "learning_rate": 0.001})
    b = submit(up, {**QUICK, "name": "lr-large", "learning_rate": 0.05})
    finish(up, a), finish(up, b)
    page.goto(f"{up.url}/ui/compare?ids={a[:8]},{b[:8]}")
    page.wait_for_selector("body[data-ready=charts]")
    table = page.locator("#compare-table")
    assert table.locator("tbody tr").count() == 2
    headers = table.locator("thead th").all_inner_texts()
    assert "learning_rate" in headers and "name" in headers and "loss" in headers
    assert "model_type" not in headers  # the same in both: not a difference
    assert table.locator("td.best").count() >= 1
    legend = page.locator('figure[data-chart="loss"] .u-legend').inner_text()
    assert "lr-small" in legend and "lr-large" in legend
    screenshot(page, "compare")


def test_the_form_shows_each_422_next_to_its_field_then_submits(up, page, console):
    console.expected = ("status of 422",)  # the browser logs the refused POST it is shown
    page.goto(up.url + "/ui/new")
    form = page.locator("#job-form")
    form.wait_for()
    page.select_option("#field-model_type", "mlp")
    page.select_option("#field-loss", "huber")
    page.fill("#field-epochs", "0")
    page.locator("details.more summary").click()
    page.fill("#field-learning_rate", "-1")
    page.click("#submit")
    epochs_error = page.locator('[data-error-for="epochs"]')
    epochs_error.wait_for()
    assert "greater than or equal to 1" in epochs_error.inner_text()
    assert "greater than 0" in page.locator('[data-error-for="learning_rate"]').inner_text()
    assert page.locator('[data-error-for="loss"]').is_hidden()
    screenshot(page, "new-422")
    page.fill("#field-epochs", "2")
    page.fill("#field-learning_rate", "0.01")
    page.fill("#field-name", "from-the-form")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/ui/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]
    job = httpx.get(f"{up.url}/jobs/{job_id}").json()
    assert (
        job["spec"]["epochs"] == 2 and job["spec"]["learning_rate"] == 0.01 and job["name"] == "from-the-form"
    )
    finish(up, job_id)


def test_a_dataset_uploaded_from_the_form_is_picked_and_trains(up, page, tmp_path):
    data = tmp_path / "houses.csv"
    data.write_text("rooms,age,price\n" + "".join(f"{i % 9},{i % 40},{i * 1.5}\n" for i in range(80)))
    page.goto(up.url + "/ui/new")
    page.locator("#job-form").wait_for()
    page.set_input_files("#upload-file", str(data))
    page.fill("#upload-target", "price")
    page.click("#upload")
    wait_until(lambda: page.input_value("#field-dataset") != "", 30, "the upload to be picked")
    picked = page.input_value("#field-dataset")
    assert "houses.csv" in page.locator("#field-dataset option:checked").inner_text()
    assert "80 rows" in page.locator("#notice").inner_text()
    page.select_option("#field-model_type", "mlp")
    page.select_option("#field-loss", "mse")
    page.fill("#field-epochs", "2")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/ui/jobs/[0-9a-f]{32}$"))
    job = finish(up, page.url.rsplit("/", 1)[1])
    assert job["status"] == "succeeded" and job["spec"]["dataset"] == picked


def test_resubmit_opens_the_form_filled_with_the_spec(up, page):
    job_id = submit(up, {**QUICK, "name": "again", "batch_size": 16, "metrics": ["mae", "rmse"]})
    page.goto(f"{up.url}/ui/jobs/{job_id}")
    page.click("#resubmit")
    page.wait_for_url(re.compile(r"/ui/new\?from="))
    page.locator("#job-form").wait_for()
    assert page.input_value("#field-batch_size") == "16" and page.input_value("#field-name") == "again"
    assert page.locator('#field-metrics input[value="rmse"]').is_checked()
    finish(up, job_id)


def test_hostile_names_and_log_lines_are_shown_as_text_and_run_nothing(up, page, tmp_path):
    csv = "x1,x2,y\n" + "".join(f"{i},{i % 7},{i * 0.5}\n" for i in range(60))
    made = httpx.post(
        up.url + "/datasets", files={"file": (HOSTILE, csv.encode(), "text/csv")}, data={"target": "y"}
    )
    assert made.status_code == 201, made.text
    dataset = made.json()
    assert dataset["name"] == HOSTILE
    job_id = submit(up, {**QUICK, "dataset": dataset["id"], "epochs": 2})
    finish(up, job_id)

    page.goto(up.url + "/ui/new")
    page.locator("#field-dataset").wait_for()
    assert HOSTILE in page.locator("#field-dataset").inner_text()
    page.goto(f"{up.url}/ui/jobs/{job_id}")
    page.locator('#status [data-status="succeeded"]').wait_for()
    page.locator("#logs .line").first.wait_for()
    wait_until(lambda: HOSTILE in page.locator("#logs").inner_text(), 30, "the dataset's name in the log")
    page.goto(up.url + "/ui/")
    page.locator(f'tr[data-job="{job_id}"]').wait_for()
    assert page.locator("main img").count() == 0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """``tfjobs up`` with auth on: alice's token from the environment, bob's made by the CLI."""
    env = clean_env(
        TFJOBS_AUTH="on", TFJOBS_BOOTSTRAP_TOKEN="alice-secret-token", TFJOBS_BOOTSTRAP_OWNER="alice"
    )
    with running_up(tmp_path_factory.mktemp("guarded"), env=env) as up:
        bob = (
            subprocess.run(
                [*TFJOBS, "token", "create", "--owner", "bob", "--data-dir", str(up.data_dir)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .split()[-1]
        )
        yield up, bob


def test_with_auth_on_the_page_asks_for_a_token_once_and_hides_other_owners_jobs(guarded, page, console):
    up, bob = guarded
    console.expected = ("401", "404")  # the refused requests this test makes on purpose
    bobs_job = httpx.post(
        up.url + "/jobs", json=QUICK, headers={"Authorization": f"Bearer {bob}"}, timeout=30
    ).json()["id"]
    page.goto(up.url + "/ui/")
    page.locator("#token-form").wait_for()
    assert page.locator("#main").is_hidden()
    screenshot(page, "token")
    page.fill("#token-input", "not-a-token")
    page.click("#token-form button[type=submit]")
    page.locator("#token-error").wait_for()
    assert "refused" in page.locator("#token-error").inner_text()
    page.fill("#token-input", "alice-secret-token")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("table.jobs")
    assert page.locator("#token-form").is_hidden()
    assert page.evaluate("sessionStorage.getItem('tfjobs.token')") == "alice-secret-token"
    assert "alice-secret-token" not in page.url
    page.goto(f"{up.url}/ui/jobs/{bobs_job}")  # the same tab: asked once
    page.locator("#not-found").wait_for()
    assert page.locator("#token-form").is_hidden()
    assert "alice-secret-token" not in page.content()


def test_the_sweep_page_follows_a_sweep_to_its_end_with_leaderboard_curves_and_params(up, page):
    body = {
        "spec": {"model_type": "mlp", "loss": "huber", "epochs": 3, "dataset": "synthetic"},
        "space": {"learning_rate": {"choice": [0.0003, 0.01]}, "threshold": {"choice": [0.5, 2.0]}},
        "method": "grid",
        "max_concurrent": 1,
    }
    made = httpx.post(up.url + "/sweeps", json=body, timeout=30)
    assert made.status_code == 201, made.text
    sweep_id = made.json()["id"]
    page.goto(f"{up.url}/ui/sweeps/{sweep_id}")
    page.wait_for_selector("body[data-ready=charts]")
    mark_no_reload(page)
    page.locator('#status [data-status="succeeded"]').wait_for(timeout=240_000)
    assert still_same_document(page)
    rows = page.locator("#leaderboard tbody tr")
    wait_until(lambda: rows.count() == 4, 10, "four trials on the leaderboard")
    best = httpx.get(f"{up.url}/sweeps/{sweep_id}").json()["best"]
    assert rows.first.locator("td.best").count() == 1  # ranked first and starred
    assert rows.first.locator(f'a[href="/ui/jobs/{best["job_id"]}"]').count() == 1
    wait_until(
        lambda: page.locator("#curves figure").get_attribute("data-points") == "3", 20, "every epoch drawn"
    )
    assert page.locator("#params figure").count() == 2  # one per parameter
    screenshot(page, "sweep")
    page.goto(f"{up.url}/ui/sweeps")
    page.locator(f'tr[data-sweep="{sweep_id}"]').wait_for()
    page.goto(f"{up.url}/ui/jobs/{best['job_id']}")
    assert page.locator("#trial-of a").get_attribute("href") == f"/ui/sweeps/{sweep_id}"


def test_queued_jobs_show_their_place_in_the_queue(up, page):
    ids = [submit(up, {**LONG_JOB, "name": f"in-line-{i}"}) for i in range(3)]
    try:
        page.goto(up.url + "/ui/")
        last = page.locator(f'tr[data-job="{ids[2]}"] .waiting')
        last.wait_for()
        assert "ahead · waiting for a worker" in last.inner_text()
        page.goto(f"{up.url}/ui/jobs/{ids[2]}")
        page.locator("#waiting").wait_for()
        assert "ahead · waiting for a worker" in page.locator("#waiting").inner_text()
    finally:
        for job_id in ids:
            httpx.post(f"{up.url}/jobs/{job_id}/cancel")


def test_a_keras_jobs_page_shows_its_architecture_with_shapes_and_parameters(up, page, console):
    layer = {"registered_name": None, "module": "keras.layers"}
    architecture = {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {
            "name": "mine",
            "layers": [
                {**layer, "class_name": "InputLayer", "config": {"batch_shape": [None, 8], "name": "in"}},
                {
                    **layer,
                    "class_name": "Dense",
                    "config": {"name": "hidden", "units": 16, "activation": "relu"},
                },
                {**layer, "class_name": "Dense", "config": {"name": "out", "units": 1}},
            ],
        },
    }
    spec = {
        "model_type": "keras",
        "architecture": architecture,
        "loss": "mse",
        "epochs": 2,
        "dataset": "synthetic",
    }
    job_id = submit(up, spec)
    page.goto(f"{up.url}/ui/jobs/{job_id}")
    page.wait_for_selector("#layers tbody tr")
    rows = page.locator("#layers tbody tr")
    assert rows.count() == 2 and rows.nth(0).locator("td").nth(2).inner_text() == "hidden"  # text, not HTML
    page.locator('#status [data-status="succeeded"]').wait_for(timeout=240_000)
    total = page.locator("#layers-total")
    wait_until(lambda: "parameters in all" in total.inner_text(), 20, "the built model's parameters")
    cells = [rows.nth(0).locator("td").nth(i).inner_text() for i in (1, 3, 4)]
    assert cells == ["Dense", "(None, 16)", "144"]  # 8 * 16 + 16
    assert total.inner_text() == "161 parameters in all"  # + 16 * 1 + 1
    assert console.errors == [] and console.dialogs == []
    screenshot(page, "job-keras")
