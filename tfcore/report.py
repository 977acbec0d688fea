"""How the training loop hands out progress: a small protocol the worker implements.

The loop calls these from its own thread between compiled calls; an
implementation must return quickly (the worker queues points for a background
writer), because the loop never waits on I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["ListReporter", "NullReporter", "Point", "Reporter"]


@dataclass(frozen=True)
class Point:
    """One report: ``kind`` is ``step`` (throttled, mid-epoch) or ``epoch`` (every epoch)."""

    kind: Literal["step", "epoch"]
    epoch: int
    step: int
    values: Mapping[str, float]


class Reporter(Protocol):
    """Receives metric points and log lines from the training loop."""

    def report(self, point: Point) -> None: ...

    def log(self, message: str) -> None: ...


class NullReporter:
    """Discards everything (benchmarks of the bare loop)."""

    def report(self, point: Point) -> None:
        pass

    def log(self, message: str) -> None:
        pass


@dataclass
class ListReporter:
    """Keeps every point and line in memory (tests, notebooks)."""

    points: list[Point] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def report(self, point: Point) -> None:
        self.points.append(point)

    def log(self, message: str) -> None:
        self.lines.append(message)

    def epochs(self) -> list[Point]:
        return [p for p in self.points if p.kind == "epoch"]
