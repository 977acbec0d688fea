"""Generated images and sequences with known answers, for the own-architecture tests."""

from __future__ import annotations

import numpy as np


def quadrant_images(rows: int = 480, size: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size``×``size`` grey images (uint8) with a bright square in one of four quadrants:
    the label (0..3) says which."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, rows)
    x = rng.integers(0, 60, (rows, size, size, 1)).astype(np.uint8)
    half = size // 2
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, r * half : (r + 1) * half, c * half : (c + 1) * half, 0] += 150
    return x, y.astype(np.int64)


def running_sums(rows: int = 600, steps: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of ``steps`` × 2 values; the target is a weighted sum over time."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, steps, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) * 0.5 - x[:, -3:, 1].sum(axis=1)).astype(np.float32)
    return x, y
