"""The two wheels as each Dockerfile builds them, and `pip install tfjobs` (the SDK alone).

No Docker needed: these build the wheels with scripts/build-wheels from the same file
list the images get (``.dockerignore``) and run the console script from the result, so a
wheel that misses a module (the `ModuleNotFoundError: client` the images once had) fails
here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from harness.stack import REPO

DOCKERFILES = {"api": REPO / "docker" / "api.Dockerfile", "worker": REPO / "docker" / "worker.Dockerfile"}


def image_files() -> list[str]:
    """The paths ``.dockerignore`` lets into the build context (it is an allowlist)."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in lines, ".dockerignore must start from nothing and list what the images get"
    return [line[1:] for line in lines if line.startswith("!")]


def install_line(dockerfile: Path) -> str:
    text = dockerfile.read_text()
    assert "COPY . /tmp/tfjobs-src" in text  # the whole (allowlisted) context, in one COPY
    assert "bash /tmp/tfjobs-src/scripts/build-wheels /tmp/wheels" in text  # the same wheels as anywhere
    (line,) = re.findall(r"pip install (/tmp/wheels/.*?) \\$", text, re.M)
    return line


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    """Both wheels, built by scripts/build-wheels from exactly the files the images get."""
    tmp = tmp_path_factory.mktemp("image-context")
    context = tmp / "src"
    for name in image_files():
        source, target = REPO / name, context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(
                source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            )
        else:
            shutil.copy2(source, target)
    built = subprocess.run(
        ["bash", str(context / "scripts" / "build-wheels"), str(tmp / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert built.returncode == 0, built.stderr
    (sdk,) = (tmp / "dist").glob("tfjobs-*.whl")
    (server,) = (tmp / "dist").glob("tfjobs_server-*.whl")
    return {"sdk": sdk, "server": server}


def install_into(target: Path, wheels: dict[str, Path]) -> Path:
    """Both wheels' code (no dependencies) in a folder of its own, as an image has it."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            *map(str, wheels.values()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return target


def top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/", 1)[0] for name in archive.namelist() if ".dist-info/" not in name}


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]


def test_each_wheel_holds_its_own_packages(wheels):
    import tfjobs

    assert top_level(wheels["sdk"]) == {"tfjobs"}  # one package per install, the SDK's
    assert top_level(wheels["server"]) == {"app", "worker", "tfcore"}
    sdk_needs = " ".join(requirements(wheels["sdk"]))
    for server_only in ("fastapi", "celery", "sqlalchemy", "tensorflow", "uvicorn"):
        assert server_only not in sdk_needs
    assert f"tfjobs=={tfjobs.__version__}" in requirements(wheels["server"])  # the same version
    assert not any(r.startswith("tensorflow") and "extra" not in r for r in requirements(wheels["server"]))


def test_the_images_install_the_wheels_with_the_right_extras():
    # no TensorFlow in the API image; the worker adds the train extra
    assert install_line(DOCKERFILES["api"]) == "/tmp/wheels/tfjobs-*.whl /tmp/wheels/tfjobs_server-*.whl"
    assert install_line(DOCKERFILES["worker"]) == (
        '/tmp/wheels/tfjobs-*.whl "$(echo /tmp/wheels/tfjobs_server-*.whl)[train]"'
    )
    for dockerfile in DOCKERFILES.values():
        text = dockerfile.read_text()
        assert re.search(r"^USER tfjobs$", text, re.M), f"{dockerfile.name} must not run as root"
        assert re.search(r"^ARG BASE_IMAGE=", text, re.M), (
            f"{dockerfile.name}: air-gapped builds need BASE_IMAGE"
        )


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_console_script_runs_from_the_wheels_each_image_installs(image, wheels, tmp_path):
    target = install_into(tmp_path / "site", wheels)
    # -S: no site-packages processing, so this checkout's editable install is invisible;
    # the dependencies come from this environment's site-packages, the code only from the wheel.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
        "PYTHONSAFEPATH": "1",
    }
    script = target / "bin" / "tfjobs"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-S", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    helped = run(str(script), "--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("submit", "download", "up", "api", "worker", "token"):
        assert f" {command} " in helped.stdout
    server = "app.main" if image == "api" else "worker.training"
    where = run("-c", f"import {server}, tfjobs.cli, tfjobs; print(tfjobs.cli.__file__, tfjobs.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(Path(p).is_relative_to(target) for p in where.stdout.split())
    # /docs and /redoc serve these from the package: they must be in it (with their licenses)
    for asset in (
        "swagger-ui/swagger-ui-bundle.js",
        "swagger-ui/LICENSE",
        "redoc/redoc.standalone.js",
        "redoc/LICENSE",
    ):
        assert (target / "app" / "static" / "vendor" / asset).is_file(), asset


@pytest.fixture(scope="module")
def client_only(wheels, tmp_path_factory) -> Path:
    """A fresh virtual environment with `pip install tfjobs` (the SDK's wheel, from PyPI its
    dependencies): the client's dependencies and nothing else."""
    home = tmp_path_factory.mktemp("client-only")
    venv.create(home, with_pip=True)
    done = subprocess.run(
        [
            str(home / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheels["sdk"]),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return home


def test_the_client_installs_and_runs_without_the_server(client_only, tmp_path):
    python, tfjobs = client_only / "bin" / "python", client_only / "bin" / "tfjobs"
    missing = subprocess.run(
        [str(python), "-c", "import fastapi"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert missing.returncode != 0  # really only the client's dependencies here

    imported = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, tfjobs; from tfjobs import Client, JobFailed; "
            "print(sorted(m for m in ('app', 'worker', 'tfcore') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "[]"

    helped = subprocess.run([str(tfjobs), "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert " submit " in helped.stdout and " up " in helped.stdout  # listed, with what it needs

    # A server command says what to install instead of a traceback, before it looks at ports.
    up = subprocess.run(
        [str(tfjobs), "up", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert up.returncode == 2
    assert "pip install tfjobs_server" in up.stderr and "Traceback" not in up.stderr

    # And a client command does its job: an unreachable server is one clear line.
    listed = subprocess.run(
        [str(tfjobs), "--url", "http://127.0.0.1:9", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert listed.returncode == 2 and "Traceback" not in listed.stderr, listed.stderr


def test_the_version_has_one_home(tmp_path):
    from importlib.metadata import version

    import tfcore
    import tfjobs
    from app.core.config import Settings
    from app.main import create_app

    api = create_app(Settings(data_dir=tmp_path))
    assert version("tfjobs") == version("tfjobs_server") == tfjobs.__version__
    assert tfjobs.__version__ == tfcore.__version__ == api.openapi()["info"]["version"]
    if getattr(api.state, "store", None) is not None:
        api.state.store.dispose()


def test_a_downloaded_model_loads_with_tfcore_and_tensorflow_alone(wheels, tmp_path):
    """The manifest's "load" hint: `pip install 'tfjobs_server[train]'`, `import tfcore,
    keras`. Here the code comes from the wheels only, and loading imports no server module."""
    import json

    from tfcore.data import load_builtin
    from tfcore.runner import run_job
    from tfcore.spec import JobSpec

    spec = JobSpec(model_type="residual", loss="huber", threshold=2.0, epochs=1, activation="stable_softplus")
    run_job(spec, load_builtin("diabetes"), workdir=tmp_path / "work", export_dir=tmp_path / "model")
    target = install_into(tmp_path / "site", wheels)
    code = (
        "import json, sys, numpy as np, tfcore, keras\n"
        "manifest = json.load(open('model/manifest.json'))\n"
        "model = keras.models.load_model('model/model.keras')\n"
        "out = model.predict(np.array(manifest['examples']['inputs'], dtype='float32'), verbose=0)\n"
        "ex = manifest['examples']\n"
        "np.testing.assert_allclose(out, ex['outputs'], rtol=ex['rtol'], atol=ex['atol'])\n"
        # (scikit-learn is left out: keras imports it itself whenever it is installed)
        "print(json.dumps(sorted(m for m in ('app', 'worker', 'fastapi', 'celery', 'sqlalchemy') "
        "if m in sys.modules)))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
