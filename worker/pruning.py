"""A sweep trial's epochs, told to its search: each epoch's metric is reported as an
intermediate value, and once the pruner says the trial is not worth finishing, the
training loop is asked to stop (between compiled calls, like a cancel) and the trial
ends ``pruned``, keeping every point it reported.

A trial's last epoch is reported but never pruned: it has trained its whole budget, so
nothing is saved by stopping it, and "pruned" means stopped early. ASHA's top rung sits at
the budget (epochs 1, 3, 9 for 9), where it would otherwise drop a finished trial, model
and all, depending on which other trials happened to report first."""

from __future__ import annotations

import logging
import math
import threading
import warnings
from typing import Any

from app.sweeps.search import Search
from tfcore.report import Point, Reporter

__all__ = ["PruningReporter", "TrialPruning"]

log = logging.getLogger(__name__)


class TrialPruning:
    """The search's verdict on one trial, epoch by epoch."""

    def __init__(self, store_url: str, sweep: Any, number: int, epochs: int) -> None:
        self.search = Search(store_url, sweep)
        self.epochs = epochs  # the trial's budget: its last epoch is never pruned
        self.metric = sweep.metric
        self.trial_id = self.search.trial_id(number)
        self.pruned = threading.Event()
        self.at_epoch: int | None = None

    def epoch_ended(self, epoch: int, values: dict[str, float]) -> None:
        value = values.get(self.metric)
        if value is None or not math.isfinite(value) or self.pruned.is_set():
            return
        try:
            with warnings.catch_warnings():
                # a resumed attempt reports its first epochs again: Optuna keeps the first value
                warnings.simplefilter("ignore", UserWarning)
                if self.search.report(self.trial_id, epoch, float(value)) and epoch < self.epochs:
                    self.at_epoch = epoch
                    self.pruned.set()
        except Exception as err:  # the search unreachable: train on; the trial ends normally
            log.warning("trial %s: could not report epoch %d to the search: %s", self.trial_id, epoch, err)


class PruningReporter:
    """The job's reporter, with each epoch point also given to :class:`TrialPruning`."""

    def __init__(self, reporter: Reporter, pruning: TrialPruning) -> None:
        self._reporter, self._pruning = reporter, pruning

    def report(self, point: Point) -> None:
        self._reporter.report(point)
        if point.kind == "epoch":
            self._pruning.epoch_ended(point.epoch, dict(point.values))

    def log(self, message: str) -> None:
        self._reporter.log(message)
