"""Checks that exported models reproduce their manifest's examples in a fresh interpreter."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tests.tfcore.conftest import run_python

# After `import tfcore` (safe mode on, no custom_objects).
RELOAD_KERAS = """
import json, sys, numpy as np, tfcore, keras
for folder in sys.argv[1:]:
    manifest = json.load(open(folder + "/manifest.json"))
    model = keras.models.load_model(folder + "/model.keras")
    out = model.predict(np.array(manifest["examples"]["inputs"], dtype="float32"), verbose=0)
    ex = manifest["examples"]
    np.testing.assert_allclose(out, ex["outputs"], rtol=ex["rtol"], atol=ex["atol"])
    print("ok", type(model).__name__)
"""

# With tfcore made unimportable: the SavedModel needs none of our code.
SERVE_SAVED_MODEL = """
import json, sys, tarfile, tempfile
sys.modules["tfcore"] = None  # any attempt to import our code now fails
import numpy as np, tensorflow as tf
for folder in sys.argv[1:]:
    manifest = json.load(open(folder + "/manifest.json"))
    target = tempfile.mkdtemp()
    with tarfile.open(folder + "/saved_model.tar.gz") as tar:
        tar.extractall(target, filter="data")
    serve = tf.saved_model.load(target + "/saved_model").signatures["serving_default"]
    (out,) = serve(tf.constant(manifest["examples"]["inputs"], dtype=tf.float32)).values()
    ex = manifest["examples"]
    np.testing.assert_allclose(out.numpy(), ex["outputs"], rtol=ex["rtol"], atol=ex["atol"])
    print("ok", sys.modules["tfcore"] is not None)
"""


def _with_argv(code: str, folders: Iterable[Path]) -> str:
    return "import sys; sys.argv = [''] + " + repr([str(f) for f in folders]) + "\n" + code


def keras_reloads(folders: list[Path], cwd: Path) -> list[str]:
    """Class names of the reloaded models; raises if any prediction differs."""
    out = run_python(_with_argv(RELOAD_KERAS, folders), cwd=cwd)
    return [line.split()[1] for line in out.splitlines() if line.startswith("ok")]


def saved_models_serve_without_tfcore(folders: list[Path], cwd: Path) -> bool:
    out = run_python(_with_argv(SERVE_SAVED_MODEL, folders), cwd=cwd)
    return out.split() == ["ok", "False"] * len(folders)
