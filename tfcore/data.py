"""Datasets: built-ins that ship inside scikit-learn, a seeded generator, user uploads.

Nothing here downloads anything. Every problem with a file raises
:class:`tfcore.errors.DataError` with the row or column and what to change.
The loaders are plain NumPy; only :func:`make_tf_dataset` touches TensorFlow,
and it imports it on call so the API can validate uploads without it.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from tfcore.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "BUILTIN_DATASETS",
    "BuiltinInfo",
    "DataLimits",
    "Dataset",
    "infer_task",
    "load_builtin",
    "load_csv",
    "load_file",
    "load_npz",
    "make_tf_dataset",
    "split",
    "synthetic_regression",
]

Task = Literal["regression", "binary"]


@dataclass(frozen=True)
class DataLimits:
    """The largest dataset a job may train on (OWASP API4: bound every resource)."""

    max_rows: int = 1_000_000
    max_features: int = 1_000


@dataclass(frozen=True)
class Dataset:
    """Features ``x`` (rows × features, float32) and target ``y`` (rows × 1, float32)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target: str
    task: Task

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])

    @property
    def features(self) -> int:
        return int(self.x.shape[1])


def infer_task(y: np.ndarray) -> Task:
    """``binary`` when every target is 0 or 1, else ``regression``."""
    return "binary" if np.isin(np.unique(y), (0.0, 1.0)).all() else "regression"


def _make(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    feature_names: list[str] | tuple[str, ...],
    target: str,
    limits: DataLimits,
) -> Dataset:
    """Checks shapes, finiteness and limits once, for every source."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32).reshape(-1, 1)
    if x.ndim != 2:
        raise DataError(f"{name}: features must be a 2-D table (rows × columns); got shape {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{name}: the dataset has no rows")
    if x.shape[0] < 10:
        raise DataError(f"{name}: {x.shape[0]} rows is too few to train and validate; need at least 10")
    if x.shape[1] == 0:
        raise DataError(f"{name}: no feature columns besides the target {target!r}")
    if y.shape[0] != x.shape[0]:
        raise DataError(f"{name}: {x.shape[0]} feature rows but {y.shape[0]} targets")
    if x.shape[0] > limits.max_rows:
        raise DataError(f"{name}: {x.shape[0]} rows is more than the limit of {limits.max_rows}")
    if x.shape[1] > limits.max_features:
        raise DataError(f"{name}: {x.shape[1]} features is more than the limit of {limits.max_features}")
    for label, array in (("features", x), ("target", y)):
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            row = int(bad[0][0])
            raise DataError(
                f"{name}: {label} hold NaN or infinite values (first at row {row + 1}); "
                "fill or drop those rows"
            )
    return Dataset(name, x, y, tuple(feature_names), target, infer_task(y))


# --- built-ins -------------------------------------------------------------------


def synthetic_regression(
    *, rows: int = 2_000, features: int = 8, noise: float = 0.1, seed: int = 0
) -> Dataset:
    """A seeded regression problem: a smooth nonlinear target of random features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    w = rng.normal(size=(features,)).astype(np.float32)
    y = np.sin(x @ w / math.sqrt(features)) * 2 + 0.5 * x[:, 0] * x[:, -1]
    y = y + rng.normal(scale=noise, size=rows)
    return _make("synthetic", x, y, [f"x{i}" for i in range(features)], "y", DataLimits())


@functools.lru_cache(maxsize=4)  # a worker trains many jobs on the same built-ins
def _from_sklearn(name: str, loader_name: str) -> Dataset:
    from sklearn import datasets  # imported on use: it is slow to import and the API needs it rarely

    bunch = getattr(datasets, loader_name)()
    return _make(name, bunch.data, bunch.target, list(bunch.feature_names), "target", DataLimits())


@dataclass(frozen=True)
class BuiltinInfo:
    """What a built-in dataset is, known without loading it."""

    task: Task
    rows: int
    features: int
    description: str


BUILTIN_DATASETS: dict[str, BuiltinInfo] = {
    "diabetes": BuiltinInfo(
        "regression", 442, 10, "442 patients × 10 features → disease progression (scikit-learn)"
    ),
    "breast_cancer": BuiltinInfo(
        "binary", 569, 30, "569 tumours × 30 features → malignant or not (scikit-learn)"
    ),
    "synthetic": BuiltinInfo("regression", 2_000, 8, "2,000 × 8 seeded synthetic regression"),
}


def load_builtin(name: str, *, seed: int = 0) -> Dataset:
    """One of :data:`BUILTIN_DATASETS`, from files inside installed packages."""
    if name == "diabetes":
        return _from_sklearn(name, "load_diabetes")
    if name == "breast_cancer":
        return _from_sklearn(name, "load_breast_cancer")
    if name == "synthetic":
        return synthetic_regression(seed=seed)
    raise DataError(f"unknown dataset {name!r}; built-ins are {sorted(BUILTIN_DATASETS)}")


# --- uploads ---------------------------------------------------------------------


def load_csv(
    source: str | Path | bytes, *, target: str, name: str = "upload.csv", limits: DataLimits = DataLimits()
) -> Dataset:
    """A CSV with a header row and numeric cells; ``target`` names the label column."""
    if isinstance(source, bytes):
        raw = source
    else:
        raw = Path(source).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{name}: not UTF-8 text (byte {err.start}); save the CSV as UTF-8") from None
    if not text.strip():
        raise DataError(f"{name}: the file is empty")
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip() for cell in next(reader)]
    if len(set(header)) != len(header):
        raise DataError(f"{name}: the header names a column twice: {header}")
    if target not in header:
        raise DataError(f"{name}: no target column {target!r}; the header has {header}")
    if len(header) - 1 > limits.max_features:
        raise DataError(f"{name}: {len(header) - 1} features is more than the limit of {limits.max_features}")
    rows: list[list[float]] = []
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(
                f"{name}: line {line_no} has {len(row)} cells but the header has "
                f"{len(header)}; every row needs one value per column"
            )
        if len(rows) >= limits.max_rows:
            raise DataError(f"{name}: more than the limit of {limits.max_rows} rows")
        values = []
        for column, cell in zip(header, row, strict=True):
            try:
                values.append(float(cell))
            except ValueError:
                raise DataError(
                    f"{name}: column {column!r} is not numeric (line {line_no}: "
                    f"{cell.strip()[:40]!r}); encode it as numbers or drop it"
                ) from None
        rows.append(values)
    if not rows:
        raise DataError(f"{name}: the file has a header but no data rows")
    table = np.asarray(rows, dtype=np.float64)
    nan_at = np.argwhere(np.isnan(table))
    if nan_at.size:
        line, col = int(nan_at[0][0]), int(nan_at[0][1])
        raise DataError(
            f"{name}: empty or NaN cell in column {header[col]!r} (data row {line + 1}); "
            "fill or drop those rows"
        )
    t = header.index(target)
    features = [h for i, h in enumerate(header) if i != t]
    return _make(name, np.delete(table, t, axis=1), table[:, t], features, target, limits)


def load_npz(
    source: str | Path | bytes, *, name: str = "upload.npz", limits: DataLimits = DataLimits()
) -> Dataset:
    """A NumPy ``.npz`` with arrays ``x`` (rows × features) and ``y`` (rows); never unpickles."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")
    try:
        with stream, np.load(stream, allow_pickle=False) as archive:
            missing = [key for key in ("x", "y") if key not in archive.files]
            if missing:
                raise DataError(
                    f"{name}: missing arrays {missing}; an NPZ needs 'x' and 'y' (it has {archive.files})"
                )
            x, y = archive["x"], archive["y"]
    except DataError:
        raise
    except ValueError as err:  # object arrays need pickle, which we refuse
        raise DataError(f"{name}: arrays must be numeric, not Python objects ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{name}: not a readable .npz archive ({err})") from None
    if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.number)):
        raise DataError(f"{name}: 'x' and 'y' must be numeric; got {x.dtype} and {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{name}: 'y' must have one value per row; got shape {y.shape}")
    features = [f"x{i}" for i in range(x.shape[1])] if x.ndim == 2 else []
    return _make(name, x, y, features, "y", limits)


def load_file(
    path: str | Path, *, target: str | None = None, name: str | None = None, limits: DataLimits = DataLimits()
) -> Dataset:
    """A CSV (``target`` required) or NPZ upload, chosen by its first bytes, not its name."""
    path = Path(path)
    name = name or path.name
    with path.open("rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK"):
        return load_npz(path, name=name, limits=limits)
    if target is None:
        raise DataError(f"{name}: a CSV upload needs the name of its target column")
    return load_csv(path, target=target, name=name, limits=limits)


# --- splitting and the input pipeline -------------------------------------------


def split(dataset: Dataset, *, validation_split: float, seed: int) -> tuple[Dataset, Dataset]:
    """A seeded shuffle, then the last ``validation_split`` of rows for validation."""
    if not 0 < validation_split < 1:
        raise DataError(f"validation_split must be between 0 and 1; got {validation_split}")
    order = np.random.default_rng(seed).permutation(dataset.rows)
    n_val = max(1, round(dataset.rows * validation_split))
    if dataset.rows - n_val < 1:
        raise DataError(f"{dataset.name}: too few rows ({dataset.rows}) to keep any for training")
    train_idx, val_idx = order[:-n_val], order[-n_val:]

    def take(idx: np.ndarray) -> Dataset:
        return Dataset(
            dataset.name, dataset.x[idx], dataset.y[idx], dataset.feature_names, dataset.target, dataset.task
        )

    return take(train_idx), take(val_idx)


def make_tf_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int | None = None,
    shuffle: bool = True,
    repeat: bool = False,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Shuffle (seeded), batch, prefetch.

    Each call with the same ``seed`` yields the same order, so an epoch can be
    replayed exactly after a resume: the loop passes ``seed + epoch``.
    """
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=False)
    if repeat:
        data = data.repeat()
    return data.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
