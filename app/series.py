"""A job's metric points as chart columns, downsampled on the server.

A long job has 100,000 step points; a chart is a few hundred pixels wide. Min/max buckets
keep, in each of ``max_points / 2`` equal slices, the lowest and the highest value (plus
both ends), so peaks and dips survive and the page draws the same picture from a few
thousand values. Written here in NumPy (a reshape and two reductions) rather than taken
from ``tsdownsample``: that library would add 9.8 MB to the API image, past its budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["columns", "min_max_buckets"]


def columns(
    chunks: Iterable[Sequence[Sequence[Any]]], *, names: list[str], max_points: int
) -> dict[str, Any]:
    """``{"total", "seq", "epoch", "step", "values": {name: [...]}}`` from chunks of
    ``(seq, epoch, step, *values)`` rows (one value per name, None where missing); at most
    ``max_points`` per named series are kept (the union of each series' picks, so every
    column lines up). Missing or non-finite values are null."""
    width = 3 + len(names)
    # Each chunk becomes floats at once (None -> nan): only the table stays in memory.
    parts = [np.array(chunk, dtype=np.float64).reshape(len(chunk), width) for chunk in chunks]
    table = np.concatenate(parts) if parts else np.empty((0, width))
    keep = np.arange(len(table))
    if len(table) > max_points:
        picked: list[np.ndarray] = []
        for column in range(3, width):
            y = table[:, column]
            index = np.flatnonzero(np.isfinite(y))
            picked.append(index if len(index) <= max_points else index[min_max_buckets(y[index], max_points)])
        keep = np.unique(np.concatenate(picked)) if picked else keep[:0]
    kept = table[keep]
    return {
        "total": len(table),
        "seq": kept[:, 0].astype(np.int64).tolist(),
        "epoch": kept[:, 1].astype(np.int64).tolist(),
        "step": kept[:, 2].astype(np.int64).tolist(),
        "values": {name: _json_column(kept[:, 3 + i]) for i, name in enumerate(names)},
    }


def _json_column(y: np.ndarray) -> list[float | None]:
    """Floats for JSON, with null for each non-finite value."""
    values: list[float | None] = y.tolist()
    if not np.isfinite(y).all():
        for i in np.flatnonzero(~np.isfinite(y)).tolist():
            values[i] = None
    return values


def min_max_buckets(y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices (sorted) of at most ``max_points`` values of finite ``y`` that keep its shape:
    the first, the last, and each bucket's minimum and maximum."""
    n = len(y)
    if max_points < 4:  # no room for a bucket: the ends
        return np.unique(np.array([0, n - 1]))[:max_points]
    buckets = (max_points - 2) // 2
    size = -(-n // buckets)  # ceil: every value falls in a bucket
    padded = np.full(buckets * size, np.nan)
    padded[:n] = y
    table = padded.reshape(buckets, size)
    starts = np.arange(buckets) * size
    filled = ~np.all(np.isnan(table), axis=1)  # the last buckets may be all padding
    lows = starts[filled] + np.nanargmin(table[filled], axis=1)
    highs = starts[filled] + np.nanargmax(table[filled], axis=1)
    return np.unique(np.concatenate(([0, n - 1], lows, highs)))
