"""A small line chart for the terminal: the loss curve at the end of ``tfjobs follow``."""

from __future__ import annotations

import math

__all__ = ["line_chart"]

MARKERS = "●○◆◇"


def line_chart(series: dict[str, list[float]], *, title: str = "", width: int = 60, height: int = 12) -> str:
    """Plots each series (same length) against its index; y on a linear scale.

    >>> print(line_chart({"loss": [3.0, 2.0, 1.0]}, width=3, height=3))  # doctest: +SKIP
    """
    values = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    n = max(len(ys) for ys in series.values())
    width = max(2, min(width, max(n, 2) * 4))
    grid = [[" "] * width for _ in range(height)]
    for ys, marker in zip(series.values(), MARKERS, strict=False):
        for i, y in enumerate(ys):
            if y is None or not math.isfinite(y):
                continue
            col = round(i * (width - 1) / max(n - 1, 1))
            row = height - 1 - round((y - lo) / span * (height - 1))
            grid[row][col] = marker
    label_width = max(len(f"{hi:.4g}"), len(f"{lo:.4g}"))
    out = [title.center(width + label_width + 2)] if title else []
    for r, cells in enumerate(grid):
        label = f"{hi:.4g}" if r == 0 else f"{lo:.4g}" if r == height - 1 else ""
        out.append(f"{label:>{label_width}} ┤{''.join(cells)}")
    out.append(" " * label_width + " └" + "─" * width)
    out.append(" " * label_width + f"  epoch 1{'':>{max(0, width - 8 - len(str(n)))}}{n}")
    legend = "   ".join(f"{m} {name}" for name, m in zip(series, MARKERS, strict=False))
    out.append(" " * label_width + "  " + legend)
    return "\n".join(out)
