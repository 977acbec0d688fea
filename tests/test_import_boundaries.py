"""The architecture's one-way dependencies, checked in fresh interpreters.

``tfjobs`` (version, statuses) ← ``client`` (SDK, CLI) ; ``tfcore.spec`` (no TensorFlow) ←
``app`` (API, store: never TensorFlow) ← ``worker`` → ``tfcore`` (TensorFlow).
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
    "client imports no server code and no TensorFlow": (
        ["client", "tfjobs"],
        ["app", "worker", "tfcore", "tensorflow", "keras", "fastapi", "sqlalchemy", "celery"],
    ),
    "tfcore.spec imports no TensorFlow": (
        ["tfcore.spec", "tfcore.errors", "tfcore.data", "tfcore.report"],
        ["tensorflow", "keras"],
    ),
    "tfjobs imports nothing of ours": (["tfjobs"], ["app", "worker", "tfcore", "client"]),
}


@pytest.mark.parametrize("rule", sorted(BOUNDARIES))
def test_import_boundary(rule):
    roots, forbidden = BOUNDARIES[rule]
    assert run_python(PROBE.format(roots=roots, forbidden=forbidden)).strip() == "[]", rule


def test_the_api_starts_without_optuna():
    # Sweeps import it on their first advance (app/sweeps/driver.py): ~11 MB an API
    # process carries only once someone runs a sweep.
    probe = "import sys, app.main; print('optuna' in sys.modules, 'app.sweeps.search' in sys.modules)"
    assert run_python(probe).strip() == "False False"
