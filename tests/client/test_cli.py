"""The `tfjobs` CLI against a real running stack."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys

from harness.stack import REPO
from tfjobs.sdk import Client


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_submit_follow_shows_progress_and_exits_0(up, tmp_path):
    spec = write(tmp_path, "spec.yaml", "model_type: residual\nloss: huber\nthreshold: 2.0\nepochs: 4\n")
    done = up.tfjobs("submit", spec, "--follow", "--set", "epochs=3", "--set", 'metrics=["mae"]')
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("submitted job ") and "3 epochs" in out.splitlines()[0]
    assert "epoch 3/3" in out and "val_loss=" in out
    assert "succeeded" in out and "final metrics" in out and "loss by epoch" in out
    assert "tfjobs download" in out


def test_a_failing_job_exits_1_with_its_reason(up, tmp_path):
    spec = write(
        tmp_path,
        "bad.json",
        json.dumps(
            {"model_type": "mlp", "loss": "mse", "epochs": 3, "optimizer": "sgd", "learning_rate": 10}
        ),
    )
    done = up.tfjobs("submit", spec, "--follow")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed" in done.stdout and "diverged" in done.stdout


def test_spec_from_stdin_and_status_list_metrics_logs_download(up, tmp_path):
    done = up.tfjobs("submit", "-", input='{"model_type": "mlp", "loss": "mse", "epochs": 2}')
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.split()[2]
    with Client(up.url) as client:
        client.job(job_id).wait(timeout=120)
        listing = {a["name"]: a["sha256"] for a in client.job(job_id).artifacts()}

    status = up.tfjobs("status", job_id)
    assert json.loads(status.stdout)["status"] == "succeeded"
    assert job_id[:8] in up.tfjobs("list", "--status", "succeeded").stdout  # its unique prefix
    found = up.tfjobs("list", "--filter", f"id = '{job_id}' and metrics.val_loss != null and epochs = 2")
    assert found.returncode == 0 and job_id[:8] in found.stdout, found.stderr
    assert job_id[:8] not in up.tfjobs("list", "--filter", f"id = '{job_id}' and model_type != 'mlp'").stdout
    refused = up.tfjobs("list", "--filter", "epochs >")
    assert refused.returncode != 0 and "column 9: expected a value" in refused.stdout + refused.stderr

    as_json = up.tfjobs("metrics", job_id, "--format", "json")
    points = json.loads(as_json.stdout)
    assert [p["seq"] for p in points] == list(range(1, len(points) + 1))
    assert sum(p["kind"] == "epoch" for p in points) == 2
    as_csv = list(csv.DictReader(io.StringIO(up.tfjobs("metrics", job_id, "--format", "csv").stdout)))
    assert len(as_csv) == len(points) and "loss" in as_csv[0]
    assert "epoch" in up.tfjobs("metrics", job_id).stdout
    assert "epoch 2" in up.tfjobs("logs", job_id).stdout

    downloaded = up.tfjobs("download", job_id, "-o", str(tmp_path / "out"))
    assert downloaded.returncode == 0, downloaded.stderr
    for name, digest in listing.items():
        assert hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest() == digest
    assert (tmp_path / "out" / "saved_model" / "saved_model.pb").exists()


def test_datasets_upload_and_list(up, tmp_path):
    path = write(tmp_path, "data.csv", "a,b,y\n" + "".join(f"{i},{i % 3},{i * 2}\n" for i in range(40)))
    done = up.tfjobs("datasets", "upload", path, "--target", "y")
    assert done.returncode == 0, done.stderr
    assert "40 rows" in done.stdout
    assert "data.csv" in up.tfjobs("datasets", "list").stdout


def test_cancel_from_the_cli(up):
    done = up.tfjobs(
        "submit", "-", input='{"model_type": "mlp", "loss": "mse", "epochs": 500, "dataset": "synthetic"}'
    )
    job_id = done.stdout.split()[2]
    cancelled = up.tfjobs("cancel", job_id)
    assert cancelled.returncode == 0 and job_id in cancelled.stdout
    with Client(up.url) as client:
        assert client.job(job_id).status in ("cancelled", "running")


def test_clean_errors(up, tmp_path):
    cases = [
        (("submit", str(tmp_path / "missing.json")), "cannot read spec file"),
        (("submit", write(tmp_path, "broken.json", "{not: [valid")), "neither valid JSON"),
        (("submit", write(tmp_path, "list.yaml", "- 1\n- 2\n")), "must hold a JSON/YAML object"),
        (
            ("submit", write(tmp_path, "neg.json", '{"model_type": "mlp", "loss": "mse", "epochs": -1}')),
            "HTTP 422: epochs: Input should be greater than or equal to 1",
        ),
        (("status", "no-such-job"), "HTTP 404"),
        (("metrics", "x", "--format", "xml"), "--format must be"),
        (("submit", write(tmp_path, "ok.json", "{}"), "--set", "novalue"), "--set expects key=value"),
    ]
    for args, message in cases:
        done = up.tfjobs(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_unreachable_server_is_one_line_and_exit_2(up):
    done = up.tfjobs("list", env={"TFJOBS_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2
    assert "cannot reach tfjobs at http://127.0.0.1:9" in done.stderr
    assert "start one with `tfjobs up`, or point at yours with --url or TFJOBS_URL" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_connection_options_work_after_the_command_too(up):
    from tfjobs.cli import global_options_first

    assert global_options_first(["list", "--url", "h:1", "--token=t"]) == [
        "--url",
        "h:1",
        "--token=t",
        "list",
    ]
    assert global_options_first(["submit", "-", "--", "--url"]) == ["submit", "-", "--", "--url"]
    done = up.tfjobs("list", "--url", up.url, env={"TFJOBS_URL": "http://127.0.0.1:9"})
    assert done.returncode == 0, done.stderr


def test_sweep_ids_are_never_cut_in_a_narrow_terminal(up):
    spec = {"model_type": "mlp", "loss": "mse", "epochs": 1}
    with Client(up.url) as client:  # closed: an open client's socket would warn in a later test
        sweep = client.sweeps.submit(spec=spec, space={"seed": {"choice": [1]}}, method="grid")
    listed = up.tfjobs("sweep", "list", env={"COLUMNS": "60"})
    assert listed.returncode == 0, listed.stderr
    assert any(
        line.startswith(sweep.id[:8]) and "…" not in line.split()[0] for line in listed.stdout.splitlines()
    )


def test_a_url_that_is_not_the_api_says_which_url(up):
    done = up.tfjobs("list", env={"TFJOBS_URL": f"{up.url}/not-here"})
    assert done.returncode == 2
    assert f"nothing at {up.url}/not-here/jobs" in done.stderr and "check --url or TFJOBS_URL" in done.stderr


def test_download_of_an_unfinished_job_says_to_wait_and_waits_with_wait(up, tmp_path):
    spec = write(tmp_path, "s.json", '{"model_type": "mlp", "loss": "mse", "epochs": 3, "batch_size": 8}')
    job_id = up.tfjobs("submit", "-q", spec).stdout.strip()
    early = up.tfjobs("download", job_id, "-o", str(tmp_path / "early"))
    assert early.returncode == 2
    assert "its files come when it succeeds" in early.stderr and "tfjobs download --wait" in early.stderr
    waited = up.tfjobs("download", job_id, "--wait", "-o", str(tmp_path / "model"))
    assert waited.returncode == 0, waited.stderr
    assert (tmp_path / "model" / "model.keras").is_file()


def run_example(up, name: str, cwd) -> subprocess.CompletedProcess[str]:
    """An example script as a user runs it (no TF_CPP_MIN_LOG_LEVEL of ours), against this server."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / name)],
        cwd=cwd,
        env={**env, "TFJOBS_URL": up.url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_keras_example_trains_a_users_own_cnn(up, tmp_path):
    done = run_example(up, "keras_cnn.py", tmp_path)
    lines = done.stdout.splitlines()
    assert lines[0].endswith("rows of shape [8, 8, 1], 4 classes")
    assert float(lines[2].split()[1]) > 0.9
    predicted, true = (line.split(":", 1)[1].strip() for line in lines[-2:])
    assert predicted == true


def test_the_keras_gru_example_learns_its_sequences(up, tmp_path):
    done = run_example(up, "keras_gru.py", tmp_path)
    lines = done.stdout.splitlines()
    assert lines[0].endswith("600 sequences of shape [12, 2]")
    val_loss, variance = float(lines[2].split()[1]), float(lines[2].rstrip(")").split()[-1])
    assert val_loss < 0.2 * variance  # it learned most of what there is to learn


def test_submit_takes_an_architecture_file(up, tmp_path):
    spec = write(tmp_path, "s.json", '{"loss": "mse", "epochs": 1, "dataset": "synthetic"}')
    model = (
        '{"module": "keras", "class_name": "Sequential", "registered_name": null, "config": {"name": "m", '
        '"layers": [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": null, '
        '"config": {"batch_shape": [null, 8]}}, {"module": "keras.layers", "class_name": "Dense", '
        '"registered_name": null, "config": {"units": 1}}]}}'
    )
    done = up.tfjobs("submit", spec, "--architecture", write(tmp_path, "model.json", model), "-q")
    assert done.returncode == 0, done.stderr
    job = up.tfjobs("status", done.stdout.strip())
    assert '"model_type": "keras"' in job.stdout, job.stdout
    lambda_model = model.replace('"Dense"', '"Lambda"')
    refused = up.tfjobs("submit", spec, "--architecture", write(tmp_path, "bad.json", lambda_model))
    assert refused.returncode == 2 and "Lambda is not allowed: it would run code" in refused.stderr


def test_the_example_script_trains_downloads_and_predicts(up, tmp_path):
    done = run_example(up, "train_and_predict.py", tmp_path)
    assert "cuInit" not in done.stderr  # job.load_model() keeps TensorFlow's C++ start-up quiet
    lines = done.stdout.splitlines()
    assert lines[0].startswith("submitted ") and sum(line.startswith("epoch") for line in lines) == 10
    predictions = lines[-2].split(":", 1)[1].strip()
    assert predictions == lines[-1].split(":", 1)[1].strip()  # reloaded model == manifest
    assert list((tmp_path / "downloads").iterdir())


def test_ctrl_c_stops_following_not_the_job(up):
    import os
    import signal
    import subprocess
    import sys
    import time

    from harness.stack import REPO

    with Client(up.url) as client:
        job = client.submit(model_type="mlp", loss="mse", epochs=300, dataset="synthetic", batch_size=8)
        follower = subprocess.Popen(
            [sys.executable, "-m", "tfjobs.cli", "follow", job.id],
            cwd=REPO,
            env={**os.environ, "TFJOBS_URL": up.url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while client.job(job.id).data["progress"]["epoch"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=30)
        assert follower.returncode == 130
        assert f"Resume with: tfjobs follow {job.id}" in stderr and "Traceback" not in stderr
        assert client.job(job.id).status == "running"  # the job goes on
        job.cancel()


def test_the_cli_for_scripts_quiet_ids_prefixes_and_urls_without_a_scheme(up, tmp_path):
    spec = write(tmp_path, "spec.json", json.dumps({"model_type": "mlp", "loss": "mse", "epochs": 2}))
    host_port = up.url.removeprefix("http://")
    done = up.tfjobs("submit", spec, "--quiet", env={"TFJOBS_URL": host_port})  # no scheme: http
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert len(job_id) == 32 and done.stdout == job_id + "\n"
    status = up.tfjobs("status", job_id[:8])  # the 8 characters the CLI prints elsewhere
    assert status.returncode == 0 and json.loads(status.stdout)["id"] == job_id


def test_metrics_follow_streams_json_lines_and_csv_rows(up, tmp_path):
    spec = write(tmp_path, "spec.json", json.dumps({"model_type": "mlp", "loss": "mse", "epochs": 3}))
    job_id = up.tfjobs("submit", spec, "-q").stdout.strip()
    lines = up.tfjobs("metrics", job_id, "--follow", "--format", "json").stdout.splitlines()
    points = [json.loads(line) for line in lines]  # JSON Lines: one point per line
    assert [p["seq"] for p in points] == list(range(1, len(points) + 1))
    assert [p["epoch"] for p in points if p["kind"] == "epoch"] == [1, 2, 3]
    rows = list(csv.DictReader(io.StringIO(up.tfjobs("metrics", job_id, "-f", "--format", "csv").stdout)))
    assert len(rows) == len(points) and rows[-1]["kind"] == "epoch" and rows[-1]["val_loss"]


def test_help_version_and_usage_errors_speak_like_the_rest(up):
    bare = up.tfjobs()
    assert bare.returncode == 0 and "Usage: tfjobs" in bare.stdout and bare.stderr == ""
    assert up.tfjobs("-h").returncode == 0
    version = up.tfjobs("--version")
    assert version.returncode == 0 and version.stdout.startswith("tfjobs 0.")
    missing = up.tfjobs("status")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "tfjobs: missing job id (see: tfjobs status --help)"
    for args in (("nosuch",), ("list", "--limit", "abc"), ("status",)):
        done = up.tfjobs(*args)
        assert done.stderr.startswith("tfjobs: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Error" not in done.stderr and "Exception" not in done.stderr


def test_piped_output_is_never_hard_wrapped(up):
    long = "x" * 300
    done = up.tfjobs("status", long, env={"COLUMNS": "80"})
    assert done.returncode == 2 and long in done.stderr.replace("\n", "") and done.stderr.count("\n") == 1


def test_following_draws_the_real_state_from_the_first_frame_and_a_sane_eta(up, tmp_path):
    from tfjobs.cli import eta_seconds

    spec = write(tmp_path, "spec.json", json.dumps({"model_type": "mlp", "loss": "mse", "epochs": 3}))
    job_id = up.tfjobs("submit", spec, "-q").stdout.strip()
    assert up.tfjobs("follow", job_id).returncode == 0
    # a finished job, followed again, on a terminal (TTY_COMPATIBLE: rich draws live frames)
    again = up.tfjobs("follow", job_id[:8], env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"})
    assert again.returncode == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", again.stdout)  # drop the cursor and colour codes
    frames = [f for f in re.split(r"[\r\n]", text) if " eta " in f]
    assert frames and "queued" not in frames[0] and "epoch 3/3" in frames[0], frames[:3]
    # the ETA is the remaining epochs at the epochs' own pace, however fast the points arrive
    assert abs(eta_seconds([2.0, 2.0, 4.0], done=3, total=10) - 7 * 8.0 / 3) < 1e-9
    assert eta_seconds([], done=0, total=10) is None and eta_seconds([1.0], done=10, total=10) == 0.0


def test_lists_fit_80_columns_with_ids_that_work(up, tmp_path):
    spec = write(tmp_path, "spec.json", json.dumps({"model_type": "wide_deep", "loss": "mse", "epochs": 2}))
    job_id = up.tfjobs("submit", spec, "-q").stdout.strip()
    assert up.tfjobs("follow", job_id, env={"COLUMNS": "80"}).returncode == 0
    csv_path = write(tmp_path, "houses.csv", "a,b,y\n" + "".join(f"{i},{i % 5},{i * 3}\n" for i in range(20)))
    up.tfjobs("datasets", "upload", csv_path, "--target", "y")
    for command in (("list",), ("datasets", "list")):
        done = up.tfjobs(*command, env={"COLUMNS": "80"})
        assert done.returncode == 0, done.stderr
        assert all(len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
    shown = {line.split()[0] for line in up.tfjobs("list", env={"COLUMNS": "80"}).stdout.splitlines()[1:]}
    assert job_id[:8] in shown
    status = up.tfjobs("status", job_id[:8])
    assert json.loads(status.stdout)["id"] == job_id
    followed = up.tfjobs("follow", job_id, env={"COLUMNS": "80", "TTY_COMPATIBLE": "1"})
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", followed.stdout)
    bars = [line for line in re.split(r"[\r\n]", text) if " eta " in line]
    assert bars and all(len(line) <= 80 and "eta 0:00:00" in line for line in bars[-1:]), bars[-1:]


def test_workers_shows_the_live_worker_of_tfjobs_up(up):
    done = up.tfjobs("workers")
    assert done.returncode == 0, done.stderr
    (row,) = done.stdout.splitlines()[1:]
    _host, pid, device, state, *_ = row.split()
    assert device == "CPU" and state in ("idle", "busy") and pid.isdigit()


def test_resubmit_copies_a_spec_with_overrides_and_list_shows_names(up, tmp_path):
    spec = write(
        tmp_path,
        "spec.json",
        json.dumps({"model_type": "mlp", "loss": "mse", "epochs": 1, "name": "first try"}),
    )
    first = up.tfjobs("submit", spec, "-q").stdout.strip()
    again = up.tfjobs("resubmit", first[:8], "--set", "epochs=2", "--set", "name=second try", "-q")
    assert again.returncode == 0, again.stderr
    second = again.stdout.strip()
    with Client(up.url) as client:
        job = client.job(second)
        assert job.data["spec"]["epochs"] == 2 and job.data["spec"]["model_type"] == "mlp"
        job.wait(timeout=120)
    listed = up.tfjobs("list", "--name", "try").stdout
    assert "first try" in listed and "second try" in listed


def test_sweep_submit_follow_prints_a_leaderboard_and_the_best(up, tmp_path):
    sweep = write(
        tmp_path,
        "sweep.yaml",
        "spec: {model_type: mlp, loss: mse, epochs: 2, dataset: synthetic}\n"
        "method: grid\n"
        "space: {learning_rate: {choice: [0.0003, 0.01]}}\n"
        "max_concurrent: 2\n",
    )
    done = up.tfjobs("sweep", "submit", sweep, "--follow")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("sweep ") and "grid over learning_rate, 2 trials, 2 at a time" in out
    assert "succeeded: grid, val_loss (min), 2/2 trials — 2 succeeded" in out
    assert "learning_rate=0.0003" in out and "learning_rate=0.01" in out
    sweep_id = out.split()[1].rstrip(":")
    with Client(up.url) as client:
        best = client.sweeps.get(sweep_id).best()
        trials = client.sweeps.get(sweep_id).trials()
    assert best.id == min(trials, key=lambda t: t["value"])["job_id"]
    assert f"best: trial job {best.id[:8]}" in out and f"tfjobs download {best.id[:8]}" in out
    listing = up.tfjobs("sweep", "list")
    assert sweep_id[:8] in listing.stdout and "2/2" in listing.stdout
    board = up.tfjobs("sweep", "trials", sweep_id[:8])
    assert board.returncode == 0 and board.stdout.count("succeeded") >= 2
    assert up.tfjobs("sweep", "cancel", sweep_id).returncode == 2  # already finished: 409, one line


def test_the_sdk_runs_a_sweep_and_downloads_its_best_model(up, tmp_path):
    with Client(up.url) as client:
        sweep = client.sweeps.submit(
            spec={"model_type": "mlp", "loss": "mse", "epochs": 2, "dataset": "synthetic"},
            space={"hidden_units": {"int_uniform": [4, 32]}},
            method="random",
            max_trials=2,
            seed=1,
        )
        assert sweep.wait(timeout=240).status == "succeeded"
        assert len(sweep.trials()) == 2
        folder = sweep.best().download(tmp_path / "best")
        assert (folder / "model.keras").is_file()


def test_list_shows_the_last_val_loss_of_a_cancelled_job(up, tmp_path):
    """Only a success has a summary; a running, pruned or cancelled job shows its last
    epoch's val_loss (progress.values), not an empty cell."""
    from harness.stack import LONG_JOB, wait_until

    spec = write(tmp_path, "long.json", json.dumps({**LONG_JOB, "name": "to-cancel"}))
    job_id = up.tfjobs("submit", spec, "-q").stdout.strip()
    with Client(up.url) as client:
        job = client.job(job_id)
        wait_until(lambda: job.refresh().data["progress"]["epoch"] >= 1, 120, "a finished epoch")
        running = [line for line in up.tfjobs("list").stdout.splitlines() if "to-cancel" in line]
        job.cancel()
        wait_until(lambda: job.refresh().status == "cancelled", 60, "the cancel")
        assert job.data["summary"] is None and job.data["progress"]["values"]["val_loss"] is not None
    (row,) = [line for line in up.tfjobs("list").stdout.splitlines() if "to-cancel" in line]
    assert "cancelled" in row
    for line in (running[0], row):
        assert re.search(r"\s\d+/25\s+\d[\d.e+-]*\s", line), line  # epoch, then a val_loss number
