"""Datasets: built-ins that ship inside scikit-learn, a seeded generator, user uploads.

Nothing here downloads anything. Every problem with a file raises
:class:`tfcore.errors.DataError` with the row or column and what to change.
The loaders are plain NumPy; only :func:`make_tf_dataset` touches TensorFlow,
and it imports it on call so the API can validate uploads without it.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from tfcore.errors import DataError
from tfcore.spec import Task

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
    "quadrant_images",
    "running_sums",
    "split",
    "synthetic_regression",
]

MAX_CLASSES = 10_000  # integer labels 0..K-1 beyond this are not classes


@dataclass(frozen=True)
class DataLimits:
    """The largest dataset a job may train on (OWASP API4: bound every resource)."""

    max_rows: int = 1_000_000
    max_features: int = 1_000
    max_bytes: int = 1 << 30  # the arrays as stored (an NPZ's declared, uncompressed size)


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
        """Values per row: the columns of a table, every value of an image or a sequence."""
        return int(np.prod(self.x.shape[1:]))

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """One row's shape: ``(features,)`` for a table, ``(16, 16, 1)`` for an image."""
        return tuple(int(n) for n in self.x.shape[1:])

    @property
    def classes(self) -> int | None:
        """K for a multiclass dataset (labels 0..K-1, or one-hot rows of K), else None."""
        if self.task != "multiclass":
            return None
        return int(self.y.shape[1]) if self.y.shape[1] > 1 else int(self.y.max()) + 1

    def describe(self) -> dict[str, object]:
        """What a model trained on this data expects, for its manifest: the feature names in
        input order, the target, the task, and a SHA-256 of the arrays (float32) as trained."""
        digest = hashlib.sha256(np.ascontiguousarray(self.x).tobytes())
        digest.update(np.ascontiguousarray(self.y).tobytes())
        return {
            "name": self.name,
            "rows": self.rows,
            "features": list(self.feature_names),
            "shape": list(self.feature_shape),
            "classes": self.classes,
            "target": self.target,
            "task": self.task,
            "arrays_sha256": digest.hexdigest(),
        }


def infer_task(y: np.ndarray, *, labels: bool = False) -> Task:
    """``binary`` when every target is 0 or 1; ``multiclass`` for one-hot rows, or — when
    ``labels`` (an NPZ's integer ``y``) — integers 0..K-1 with K > 2; else ``regression``.
    (A CSV's integer column stays regression: a rating is not a class without saying so.)"""
    if y.ndim == 2 and y.shape[1] > 1:
        return "multiclass"
    values = np.unique(y)
    if np.isin(values, (0.0, 1.0)).all():
        return "binary"
    if labels and values.min() >= 0 and values.max() < MAX_CLASSES and (values == np.round(values)).all():
        return "multiclass"
    return "regression"


def _make(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    feature_names: list[str] | tuple[str, ...],
    target: str,
    limits: DataLimits,
) -> Dataset:
    """Checks shapes, finiteness and limits once, for every source. ``x`` is a table
    (rows × features) or, from an NPZ, any rank ≥ 2 (images, sequences); ``y`` one value
    per row, or one-hot rows."""
    labels = np.asarray(y).dtype.kind in "iub"  # integer labels: classes, if 0..K-1
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    y = y.reshape(-1, 1) if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1) else y
    if x.ndim < 2:
        raise DataError(f"{name}: features must have a row per example (rows × ...); got shape {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{name}: the dataset has no rows")
    if x.shape[0] < 10:
        raise DataError(f"{name}: {x.shape[0]} rows is too few to train and validate; need at least 10")
    if int(np.prod(x.shape[1:])) == 0:
        raise DataError(f"{name}: no feature columns besides the target {target!r}")
    if y.shape[0] != x.shape[0]:
        raise DataError(f"{name}: {x.shape[0]} feature rows but {y.shape[0]} targets")
    if y.ndim != 2 or (y.shape[1] > 1 and not (np.isin(y, (0.0, 1.0)).all() and (y.sum(axis=1) == 1).all())):
        raise DataError(
            f"{name}: 'y' must have one value per row, or one-hot rows (one 1 per row); got shape {y.shape}"
        )
    if x.shape[0] > limits.max_rows:
        raise DataError(f"{name}: {x.shape[0]} rows is more than the limit of {limits.max_rows}")
    if x.ndim == 2 and x.shape[1] > limits.max_features:  # a table's columns (N-d rows: the byte limit)
        raise DataError(f"{name}: {x.shape[1]} features is more than the limit of {limits.max_features}")
    for label, array in (("features", x), ("target", y)):
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            row = int(bad[0][0])
            raise DataError(
                f"{name}: {label} hold NaN or infinite values (first at row {row + 1}); "
                "fill or drop those rows"
            )
    return Dataset(name, x, y, tuple(feature_names), target, infer_task(y, labels=labels))


# --- built-ins -------------------------------------------------------------------


def quadrant_images(rows: int = 480, size: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size``×``size`` grey images (uint8, one channel) with a bright square in one of four
    quadrants, and the label 0..3 that says which: a small image-classification task for
    examples, tests and benchmarks of a user's own CNN."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, rows)
    x = rng.integers(0, 60, (rows, size, size, 1)).astype(np.uint8)
    half = size // 2
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, r * half : (r + 1) * half, c * half : (c + 1) * half, 0] += 150
    return x, y.astype(np.int64)


def running_sums(rows: int = 600, steps: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of ``steps`` steps of 2 values and a target that weighs them over time:
    a small sequence-regression task for a user's own recurrent model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, steps, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) * 0.5 - x[:, -3:, 1].sum(axis=1)).astype(np.float32)
    return x, y


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


CSV_CHUNK_ROWS = 8192  # rows parsed into one float32 block at a time
PREVIEW_NAMES = 8  # column names an error message quotes at most


def _preview(names: list[str]) -> str:
    """Column names for an error message, never the whole of a huge header."""
    shown = [name[:40] for name in names[:PREVIEW_NAMES]]
    more = f", … ({len(names)} columns)" if len(names) > PREVIEW_NAMES else ""
    return "[" + ", ".join(repr(n) for n in shown) + more + "]"


def _open_text(source: str | Path | bytes, name: str) -> io.TextIOBase:
    """The CSV as a text stream (never the whole file in memory), after two checks on its
    first bytes: UTF-8 and line endings the csv module reads row by row."""
    binary: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")
    head = binary.read(1 << 16)
    binary.seek(0)
    if b"\r" in head and b"\n" not in head:
        binary.close()
        raise DataError(
            f"{name}: lines end in CR only (classic Mac OS); save the CSV with LF or CRLF line endings"
        )
    # newline="": the csv module sees the line endings itself, as its documentation asks
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def load_csv(
    source: str | Path | bytes, *, target: str, name: str = "upload.csv", limits: DataLimits = DataLimits()
) -> Dataset:
    """A CSV with a header row and numeric cells; ``target`` names the label column.

    Parsed as a stream with the standard library's csv module, CSV_CHUNK_ROWS rows at a
    time into float32 blocks, so memory grows with the numbers (4 bytes each), not with
    Python objects per cell: about 1–2× the file's size at the peak (tested). pandas would
    do the same but add ~60 MB to the API image, which has no other use for it.
    """
    with _open_text(source, name) as text:
        try:
            return _parse_csv(csv.reader(text), target=target, name=name, limits=limits)
        except UnicodeDecodeError as err:
            raise DataError(f"{name}: not UTF-8 text (byte {err.start}); save the CSV as UTF-8") from None
        except csv.Error as err:
            raise DataError(f"{name}: not a well-formed CSV ({str(err)[:200]})") from None


def _parse_csv(reader: Any, *, target: str, name: str, limits: DataLimits) -> Dataset:
    """Rows of ``reader`` (a csv.reader) into one float32 table, checked as they come."""
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise DataError(f"{name}: the file is empty") from None
    if len(header) - 1 > limits.max_features:
        raise DataError(f"{name}: {len(header) - 1} features is more than the limit of {limits.max_features}")
    controlled = [i + 1 for i, h in enumerate(header) if any(ord(c) < 32 or ord(c) == 127 for c in h)]
    if controlled:  # NUL and friends: no store can hold them in a name, no one means them
        raise DataError(f"{name}: the header's column {controlled[0]} has a control character in its name")
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise DataError(f"{name}: the header names a column twice: {_preview(twice)}")
    if target not in header:
        raise DataError(f"{name}: no target column {target!r}; the header has {_preview(header)}")
    width = len(header)
    blocks: list[np.ndarray] = []
    block = np.empty((CSV_CHUNK_ROWS, width), dtype=np.float32)
    filled = rows = 0
    for row in reader:
        line_no = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise DataError(
                f"{name}: line {line_no} has {len(row)} cells but the header has "
                f"{width}; every row needs one value per column"
            )
        if rows >= limits.max_rows:
            raise DataError(f"{name}: more than the limit of {limits.max_rows} rows")
        try:
            block[filled] = [float(cell) for cell in row]
        except ValueError:
            column, cell = next((h, c) for h, c in zip(header, row, strict=True) if not _is_number(c))
            raise DataError(
                f"{name}: column {column[:40]!r} is not numeric (line {line_no}: "
                f"{cell.strip()[:40]!r}); encode it as numbers or drop it"
            ) from None
        if np.isnan(block[filled]).any():
            column = header[int(np.argwhere(np.isnan(block[filled]))[0][0])]
            raise DataError(
                f"{name}: empty or NaN cell in column {column[:40]!r} (line {line_no}); "
                "fill or drop those rows"
            )
        filled += 1
        rows += 1
        if filled == CSV_CHUNK_ROWS:
            blocks.append(block)
            block = np.empty((CSV_CHUNK_ROWS, width), dtype=np.float32)
            filled = 0
    blocks.append(block[:filled])
    if rows == 0:
        raise DataError(f"{name}: the file has a header but no data rows")
    table = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    del blocks, block
    t = header.index(target)
    features = [h for i, h in enumerate(header) if i != t]
    return _make(name, np.delete(table, t, axis=1), table[:, t], features, target, limits)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


NPZ_ARRAYS = ("x", "y")
NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _npz_header(
    archive: zipfile.ZipFile, key: str, name: str
) -> tuple[zipfile.ZipInfo, tuple[int, ...], np.dtype]:
    """The declared shape and dtype of ``key.npy``, read from its header alone."""
    try:
        info = archive.getinfo(f"{key}.npy")
    except KeyError:
        have = [n.removesuffix(".npy") for n in archive.namelist()][:PREVIEW_NAMES]
        raise DataError(f"{name}: missing array {key!r}; an NPZ needs 'x' and 'y' (it has {have})") from None
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = NPY_HEADER_READERS.get(version)
        if read_header is None:  # 3.0 exists only for structured dtypes, refused anyway
            raise DataError(f"{name}: {key!r} is in .npy format {version}; save it with numpy.savez")
        shape, _fortran, dtype = read_header(member)  # the header only: nothing is decompressed past it
    if dtype.hasobject:
        raise DataError(f"{name}: {key!r} holds Python objects; arrays must be real numbers")
    if dtype.kind not in "biuf":
        raise DataError(f"{name}: {key!r} has dtype {dtype}; arrays must hold real numbers (int or float)")
    return info, tuple(int(n) for n in shape), dtype


def load_npz(
    source: str | Path | bytes, *, name: str = "upload.npz", limits: DataLimits = DataLimits()
) -> Dataset:
    """A NumPy ``.npz`` with arrays ``x`` (rows × features) and ``y`` (rows); never unpickles.

    Every limit is checked against the arrays' headers (declared shape and dtype) before a
    byte of data is decompressed, so a small archive that would inflate to gigabytes is
    refused having cost nothing; what is then read is at most ``limits.max_bytes``.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")
    try:
        with stream, zipfile.ZipFile(stream) as archive:
            headers = {key: _npz_header(archive, key, name) for key in NPZ_ARRAYS}
            (_, x_shape, x_dtype), (_, y_shape, y_dtype) = headers["x"], headers["y"]
            if len(x_shape) < 2:
                raise DataError(
                    f"{name}: 'x' must have a row per example (a table, images, sequences); "
                    f"its header says {x_shape}"
                )
            if len(y_shape) not in (1, 2):
                raise DataError(
                    f"{name}: 'y' must have one value per row, or one-hot rows; its header says {y_shape}"
                )
            rows, features = x_shape[0], int(np.prod(x_shape[1:]))
            if rows > limits.max_rows:
                raise DataError(f"{name}: {rows} rows is more than the limit of {limits.max_rows}")
            if len(x_shape) == 2 and features > limits.max_features:
                raise DataError(
                    f"{name}: {features} features is more than the limit of {limits.max_features}"
                )
            if y_shape[0] != rows:
                raise DataError(f"{name}: {rows} feature rows but {y_shape[0]} targets")
            declared = rows * features * x_dtype.itemsize + int(np.prod(y_shape)) * y_dtype.itemsize
            if declared > limits.max_bytes:
                raise DataError(
                    f"{name}: the arrays would take {declared / 2**20:,.0f} MB in memory, more than the "
                    f"limit of {limits.max_bytes / 2**20:,.0f} MB"
                )
            arrays = {}
            for key, (info, _shape, _dtype) in headers.items():
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    except DataError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{name}: not a readable .npz archive ({str(err)[:200]})") from None
    x, y = arrays["x"], arrays["y"]
    names = [f"x{i}" for i in range(x.shape[1])] if x.ndim == 2 else []  # N-d rows: no column names
    return _make(name, x, y, names, "y", limits)


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
