"""A job's metric points as chart columns, downsampled on the server.

A long job has 100,000 step points; a chart is a few hundred pixels wide. Min/max buckets
keep, in each of ``max_points / 2`` equal slices, the lowest and the highest value (plus
both ends), so peaks and dips survive and the page draws the same picture from a few
thousand values. Written here in NumPy (a reshape and two reductions) rather than taken
from ``tsdownsample``: that library would add 9.8 MB to the API image, past its budget.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["columns", "min_max_buckets"]


def columns(
    rows: list[tuple[int, int, int, dict[str, Any]]], *, names: list[str] | None, max_points: int
) -> dict[str, Any]:
    """``{"seq", "epoch", "step", "values": {name: [...]}}`` from ``(seq, epoch, step, values)``
    rows; at most ``max_points`` per named series are kept (the union of each series' picks,
    so every column lines up). Missing or non-finite values are null."""
    wanted = names if names is not None else list(dict.fromkeys(k for *_, values in rows for k in values))
    series = {
        name: np.array([_number(values.get(name)) for *_, values in rows], dtype=np.float64)
        for name in wanted
    }
    keep = np.arange(len(rows))
    if len(rows) > max_points:
        picked: set[int] = set()
        for y in series.values():
            finite = np.isfinite(y)
            if finite.sum() <= max_points:
                picked.update(np.flatnonzero(finite).tolist())
                continue
            index = np.flatnonzero(finite)
            picked.update(index[min_max_buckets(y[index], max_points)].tolist())
        keep = np.array(sorted(picked), dtype=np.int64)
    return {
        "seq": [rows[i][0] for i in keep],
        "epoch": [rows[i][1] for i in keep],
        "step": [rows[i][2] for i in keep],
        "values": {name: [_json(y[i]) for i in keep] for name, y in series.items()},
    }


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _json(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


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
