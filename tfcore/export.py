"""Writes a trained model's artifacts — and proves they reload before anyone sees them.

Into a staging folder beside the target: ``model.keras``, ``saved_model/`` (via
``model.export``; ``serving_default`` takes raw feature rows) packed as
``saved_model.tar.gz``, ``history.csv`` and ``manifest.json``. Both models are
then reloaded (the ``.keras`` archive with safe mode on) and must reproduce the
example predictions; only then is the staging folder renamed into place, so a
reader never sees a half-written or unverified artifact.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import tarfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import tfcore
from tfcore.errors import ExportError

__all__ = ["ARTIFACT_NAMES", "export_model", "pack_folder", "sha256_file", "tolerance", "verify_predictions"]

MODEL_KERAS = "model.keras"
SAVED_MODEL_DIR = "saved_model"
SAVED_MODEL_TAR = "saved_model.tar.gz"
HISTORY_CSV = "history.csv"
MANIFEST = "manifest.json"
ARTIFACT_NAMES = (MODEL_KERAS, SAVED_MODEL_TAR, HISTORY_CSV, MANIFEST)

# float32 through two runtimes (Keras eager vs a grappler-optimized SavedModel graph)
# sums in different orders: seen here up to ~2e-5 relative to the outputs' scale.
# A broken reload (random or missing weights) is off by the scale itself.
RTOL = 1e-4

# How to use the files in a fresh environment: the manifest explains itself.
LOAD_HINTS = {
    "keras": "pip install 'tfjobs_server[train]'  # then, in Python: "
    "import tfcore, keras; model = keras.models.load_model('model.keras')  "
    "(importing tfcore registers the custom layers; safe mode stays on)",
    "saved_model": "tar xzf saved_model.tar.gz; in Python: import tensorflow as tf; "
    "tf.saved_model.load('saved_model').signatures['serving_default'](tf.constant(rows, tf.float32)) "
    "(needs TensorFlow only; TF Serving ready)",
}
# float16 keeps about three significant digits, and the two runtimes round differently
# inside every layer: seen up to ~1e-3 of the outputs' scale. Still far below a broken reload.
RTOL_HALF = 1e-2


def tolerance(expected: np.ndarray, *, half: bool = False) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing a reload with ``expected``, scaled to its magnitude;
    ``half``: the model computes in float16 (mixed precision)."""
    rtol = RTOL_HALF if half else RTOL
    scale = max(1.0, float(np.max(np.abs(expected)))) if np.size(expected) else 1.0
    return rtol, rtol * scale


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_predictions(expected: np.ndarray, actual: np.ndarray, *, what: str, half: bool = False) -> None:
    """Raises :class:`ExportError` unless ``actual`` matches ``expected`` within tolerance."""
    actual = np.asarray(actual, dtype=np.float64).reshape(expected.shape)
    rtol, atol = tolerance(expected, half=half)
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(actual - expected)))
        raise ExportError(
            f"{what} does not reproduce the trained model's predictions "
            f"(largest difference {worst:.3g}); the artifact was not published"
        )


def _write_history(path: Path, history: Sequence[Mapping[str, float]]) -> None:
    columns = ["epoch", *sorted({k for row in history for k in row} - {"epoch"})]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in history:
            counters = {k: int(row[k]) for k in ("epoch", "step") if k in row}
            writer.writerow({**row, **counters})


def pack_folder(folder: Path, archive: Path, *, arcname: str | None = None) -> None:
    """``folder`` as a gzipped tarball whose top entry is ``arcname`` (default: its name)."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname or folder.name)


def _serve(saved_model_dir: Path, inputs: np.ndarray) -> np.ndarray:
    serving = tf.saved_model.load(str(saved_model_dir)).signatures["serving_default"]
    (output,) = serving(tf.constant(inputs)).values()
    return output.numpy()


def layer_table(model: keras.Model) -> list[dict[str, Any]]:
    """Each top-level layer: name, class, output shape (the batch as null), parameters —
    what the dashboard shows as the model's architecture."""
    rows = []
    for layer in model.layers:
        try:
            shape = [None if n is None else int(n) for n in layer.output.shape]
        except Exception:  # a subclassed model's layers have no symbolic output
            shape = None
        params = sum(int(np.prod(w.shape)) for w in layer.weights)  # built or not
        rows.append(
            {"name": layer.name, "class": type(layer).__name__, "output_shape": shape, "params": params}
        )
    return rows


def _as_lists(array: np.ndarray) -> list[list[float]]:
    return np.asarray(array, dtype=np.float64).reshape(len(array), -1).tolist()


def export_model(
    model: keras.Model,
    target_dir: Path,
    *,
    spec: Mapping[str, Any],
    history: Sequence[Mapping[str, float]],
    final_metrics: Mapping[str, float],
    example_inputs: np.ndarray,
    extra_files: Mapping[str, Path] | None = None,
    dataset: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Writes, verifies and publishes the artifacts; returns ``{file name: sha256}``.

    Args:
        model: the trained model (takes raw feature rows).
        target_dir: where the artifacts end up; must not exist yet.
        spec: the job spec as plain JSON data (stored in the manifest).
        history: one mapping per epoch, each with an ``epoch`` key.
        final_metrics: the last epoch's metrics.
        example_inputs: a few raw feature rows; their outputs go into the manifest.
        extra_files: more files to publish with the model (``{name: source path}``),
            e.g. the worker's ``tensorboard.tar.gz``; they are listed in the manifest too.
        dataset: what the model was trained on (``Dataset.describe()`` and the service's
            dataset id and file sha256): feature names in input order, target, task.

    Raises:
        ExportError: the target exists, or a reloaded model disagrees with ``model``.
    """
    target_dir = Path(target_dir)
    if target_dir.exists():
        raise ExportError(f"{target_dir} already exists; artifacts are never overwritten")
    staging = target_dir.with_name(f".{target_dir.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        inputs = np.asarray(example_inputs, dtype=np.float32)
        half = model.dtype_policy.compute_dtype in ("float16", "bfloat16")  # mixed precision
        expected = np.asarray(model(inputs, training=False), dtype=np.float64)

        model.save(staging / MODEL_KERAS)
        # Rows come in as float32 whatever the model computes in: a mixed-precision model
        # would otherwise ask its callers for float16 (its input dtype) and serve nobody.
        signature = [tf.TensorSpec(shape=(None, *inputs.shape[1:]), dtype=tf.float32, name="inputs")]
        model.export(
            str(staging / SAVED_MODEL_DIR), format="tf_saved_model", verbose=False, input_signature=signature
        )
        pack_folder(staging / SAVED_MODEL_DIR, staging / SAVED_MODEL_TAR)
        _write_history(staging / HISTORY_CSV, history)

        # Verify before publishing: safe mode refuses any code-carrying object.
        reloaded = keras.models.load_model(staging / MODEL_KERAS, safe_mode=True)
        verify_predictions(expected, reloaded(inputs, training=False), what=MODEL_KERAS, half=half)
        verify_predictions(
            expected, _serve(staging / SAVED_MODEL_DIR, inputs), what=SAVED_MODEL_TAR, half=half
        )

        for name, source in (extra_files or {}).items():
            if Path(name).name != name or name in (*ARTIFACT_NAMES, SAVED_MODEL_DIR):
                raise ExportError(f"cannot publish an extra file named {name!r}")
            shutil.copyfile(source, staging / name)
        files = {
            name: sha256_file(staging / name)
            for name in (MODEL_KERAS, SAVED_MODEL_TAR, HISTORY_CSV, *(extra_files or {}))
        }
        manifest = {
            "spec": dict(spec),
            "versions": {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "tfcore": tfcore.__version__,
            },
            "dataset": dict(dataset or {}),
            "input": {
                "shape": [None, *(int(n) for n in inputs.shape[1:])],
                "dtype": "float32",
                "features": list((dataset or {}).get("features", [])),  # the columns, in this order
            },
            "load": LOAD_HINTS,
            "output": {"shape": [None, int(expected.reshape(len(inputs), -1).shape[1])], "dtype": "float32"},
            "layers": layer_table(model),
            "final_metrics": {k: (v if math.isfinite(v) else None) for k, v in final_metrics.items()},
            "files": files,
            "examples": {
                "inputs": np.asarray(inputs, dtype=np.float64).tolist(),  # rows in the input's own shape
                "outputs": _as_lists(expected),
                # how close a reload must come: np.allclose(out, outputs, rtol, atol)
                **dict(zip(("rtol", "atol"), tolerance(expected, half=half), strict=True)),
            },
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, allow_nan=False))
        files[MANIFEST] = sha256_file(staging / MANIFEST)
        os.replace(staging, target_dir)  # atomic on one filesystem: all or nothing
        return files
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
