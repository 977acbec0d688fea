"""The architecture's one-way dependencies, checked in fresh interpreters.

``tfjobs`` (SDK, CLI, version, statuses; its own distribution) ← ``tfcore.spec`` (no
TensorFlow) ← ``app`` (API, store: never TensorFlow) ← ``worker`` → ``tfcore`` (TensorFlow).
"""

from __future__ import annotations

import pytest

from tests.tfcore.conftest import run_python

# Import every module of a package (migrations aside: Alembic runs those), then list
# which of the forbidden top-level packages got loaded along the way.
PROBE = """
import importlib, pkgutil, sys
for root in {roots!r}:
    package = importlib.import_module(root)
    for module in pkgutil.walk_packages(getattr(package, "__path__", []), root + "."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
print(sorted(name for name in {forbidden!r} if name in sys.modules))
"""

BOUNDARIES = {
    "app imports no TensorFlow": (["app"], ["tensorflow", "keras"]),
    "tfjobs (the SDK) imports no server code and no TensorFlow": (
        ["tfjobs"],
        ["app", "worker", "tfcore", "tensorflow", "keras", "fastapi", "sqlalchemy", "celery"],
    ),
    "tfcore.spec imports no TensorFlow": (
        ["tfcore.spec", "tfcore.errors", "tfcore.data", "tfcore.report"],
        ["tensorflow", "keras"],
    ),
}


@pytest.mark.parametrize("rule", sorted(BOUNDARIES))
def test_import_boundary(rule):
    roots, forbidden = BOUNDARIES[rule]
    assert run_python(PROBE.format(roots=roots, forbidden=forbidden)).strip() == "[]", rule


def test_the_vocabulary_loads_without_the_sdk():
    # app, worker and tfcore import statuses and the version from tfjobs: that must not load
    # the SDK's HTTP client (its names load on first use).
    probe = "import sys, tfjobs; from tfjobs import JobStatus, __version__; print('httpx' in sys.modules)"
    assert run_python(probe).strip() == "False"
    assert (
        run_python("from tfjobs import Client, JobFailed; print(Client.__module__)").strip() == "tfjobs.sdk"
    )


def test_the_api_starts_without_optuna():
    # Sweeps import it on their first advance (app/sweeps/driver.py): ~11 MB an API
    # process carries only once someone runs a sweep.
    probe = "import sys, app.main; print('optuna' in sys.modules, 'app.sweeps.search' in sys.modules)"
    assert run_python(probe).strip() == "False False"


def test_benchmarks_and_the_harness_import_nothing_from_the_tests():
    """bench/ and harness/ run without the test suite (harness/ is what both share)."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*(repo / "bench").rglob("*.py"), *(repo / "harness").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(repo)}: {n}" for n in names if n.split(".")[0] == "tests"]
    assert offenders == []
