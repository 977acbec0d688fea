"""The search itself, on Optuna: its samplers (grid, random, TPE), its pruners (successive
halving for ASHA, median) and its RDB storage, so every process — the API that creates
trials and the worker that reports epochs — sees one study per sweep.

Optuna keeps its own tables and its own ``alembic_version``, which would collide with
ours: on PostgreSQL they live in the schema ``optuna`` of the same database (migration
0007 creates it); on SQLite in a file beside the store (``tfjobs.optuna.db``).

A sampler's random state is not stored, and every call here builds the study afresh
(any process may be the next to ask): each random or TPE ask is seeded with the sweep's
seed plus the number of trials so far, so a sweep's choices are reproducible and never
repeat a draw; a grid keeps the sweep's seed (see ``_sampler``).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from app.store.tables import Sweep

__all__ = ["Search", "optuna_url"]

optuna.logging.set_verbosity(logging.WARNING)  # one line per trial is the workers' log, not the API's
SCHEMA = "optuna"


def optuna_url(store_url: str) -> tuple[str, dict[str, Any]]:
    """Optuna's storage URL and engine options for the store at ``store_url``."""
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        stem = database[: -len(".db")] if database.endswith(".db") else database
        return str(url.set(database=f"{stem}.optuna.db")), {"connect_args": {"timeout": 30}}
    return url.render_as_string(hide_password=False), {
        "connect_args": {"options": f"-csearch_path={SCHEMA}"},
        "pool_pre_ping": True,
    }


@functools.cache
def _storage(store_url: str) -> optuna.storages.RDBStorage:
    """One storage (engine and pool) per process and store."""
    url, engine_kwargs = optuna_url(store_url)
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def distributions(space: dict[str, Any]) -> dict[str, BaseDistribution]:
    result: dict[str, BaseDistribution] = {}
    for name, dimension in space.items():
        if "choice" in dimension:
            result[name] = CategoricalDistribution(dimension["choice"])
        elif "uniform" in dimension:
            low, high = dimension["uniform"]
            result[name] = FloatDistribution(low, high)
        elif "log_uniform" in dimension:
            low, high = dimension["log_uniform"]
            result[name] = FloatDistribution(low, high, log=True)
        else:
            low, high = dimension["int_uniform"]
            result[name] = IntDistribution(low, high)
    return result


class Search:
    """One sweep's study: ask for trials, tell results, report epochs, ask whether to prune."""

    def __init__(self, store_url: str, sweep: Sweep) -> None:
        self.storage = _storage(store_url)
        self.sweep_id = sweep.id
        self.space = sweep.space
        self.method = sweep.method
        self.seed = sweep.seed
        self.pruner_config = sweep.pruner
        self.direction = StudyDirection.MINIMIZE if sweep.mode == "min" else StudyDirection.MAXIMIZE

    def _study(
        self, n_trials: int = 0, *, sampler: optuna.samplers.BaseSampler | None = None
    ) -> optuna.Study:
        return optuna.create_study(
            storage=self.storage,
            study_name=f"sweep-{self.sweep_id}",
            direction=self.direction,
            sampler=sampler or self._sampler(self.seed + n_trials),
            pruner=self._pruner(),
            load_if_exists=True,
        )

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        if self.method == "grid":
            # Always the sweep's own seed: the grid's order is a permutation drawn from it,
            # and trial n takes its n-th point, in whichever process asks.
            grid = {name: d["choice"] for name, d in self.space.items()}
            return optuna.samplers.GridSampler(grid, seed=self.seed)
        if self.method == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed)

    def _pruner(self) -> optuna.pruners.BasePruner:
        config = self.pruner_config
        if config is None:
            return optuna.pruners.NopPruner()
        if config["type"] == "asha":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=config["min_epochs"], reduction_factor=config["reduction_factor"]
            )
        return optuna.pruners.MedianPruner(n_warmup_steps=config["warmup_epochs"])

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return self._study().get_trials(deepcopy=False)

    def ask(self, n_trials: int) -> tuple[int, dict[str, Any]]:
        """A new trial: its number and the values chosen for it."""
        study = self._study(n_trials)
        trial = study.ask(distributions(self.space))
        return trial.number, trial.params

    def exhausted(self) -> bool:
        """A grid with every point asked for (random and TPE never run out)."""
        if self.method != "grid":
            return False
        sampler = self._sampler(self.seed)
        assert isinstance(sampler, optuna.samplers.GridSampler)
        return sampler.is_exhausted(self._study())

    def tell(self, number: int, *, value: float | None, state: TrialState) -> None:
        """The trial's end; a no-op when it was already told (several processes may try)."""
        # Told outside Optuna's optimize loop, the grid sampler would stop the study (an
        # error there); telling needs no sampler at all, so a plain one stands in.
        study = self._study(sampler=optuna.samplers.RandomSampler(seed=self.seed))
        trial = study.get_trials(deepcopy=False)[number]
        if trial.state.is_finished():
            return
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL  # succeeded but never reported the metric
        study.tell(
            number, value if state == TrialState.COMPLETE else None, state=state, skip_if_finished=True
        )

    def report(self, trial_id: int, epoch: int, value: float) -> bool:
        """Reports an epoch's metric; True if the pruner says the trial should stop."""
        trial = optuna.trial.Trial(self._study(), trial_id)
        trial.report(value, epoch)
        return trial.should_prune()

    def trial_id(self, number: int) -> int:
        return self._study().get_trials(deepcopy=False)[number]._trial_id
