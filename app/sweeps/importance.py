"""Which parameters mattered: Optuna's importance evaluators over a sweep's finished trials.

The trials come from our store (their params and the value the sweep's metric reached),
not from Optuna's storage, so the answer is the one the leaderboard shows. PED-ANOVA is
the default: it needs no model fitting (milliseconds for hundreds of trials), and with
its top quantile widened to at least three trials it ranks the one parameter that
matters first in 25 of 30 random 10-trial sweeps of three parameters (Optuna's default
top 10 %: 12 of 30; fANOVA: 18 of 30), and in 29 of 30 at 20 trials — measured here
with learning_rate deciding the metric and two parameters of noise. fANOVA (random
forests, scikit-learn: the ``fanova`` extra) is there for those who ask for it by name.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["MIN_TRIALS", "Method", "NotEnoughTrials", "fanova_available", "importances"]

#: Finished trials before an answer is given: fewer, and any ranking is noise.
MIN_TRIALS = 10
Method = Literal["ped_anova", "fanova"]


def fanova_available() -> bool:
    """fANOVA fits random forests with scikit-learn: installed with the ``fanova`` extra
    (and on workers, for their datasets), not in the API image."""
    return importlib.util.find_spec("sklearn") is not None


class NotEnoughTrials(Exception):
    def __init__(self, finished: int) -> None:
        super().__init__(
            f"parameter importance needs {MIN_TRIALS} succeeded trials; this sweep has {finished} so far"
        )
        self.finished = finished


def importances(
    space: dict[str, Any],
    mode: str,
    trials: Sequence[tuple[dict[str, Any], float]],
    method: Method = "ped_anova",
) -> dict[str, float]:
    """Each searched parameter's share of the importance (shares sum to 1, largest first).
    ``trials``: (params, value) of each finished trial."""
    if len(trials) < MIN_TRIALS:
        raise NotEnoughTrials(len(trials))
    # Optuna (~11 MB) loads on an API process's first sweep, not at its start
    # (tests/test_import_boundaries.py)
    import optuna
    from optuna.study import StudyDirection

    from app.sweeps.search import distributions

    spaces = distributions(space)
    study = optuna.create_study(
        direction=StudyDirection.MINIMIZE if mode == "min" else StudyDirection.MAXIMIZE
    )
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={name: params[name] for name in spaces if name in params},
                distributions={name: spaces[name] for name in spaces if name in params},
                value=value,
            )
            for params, value in trials
        ]
    )
    evaluator: optuna.importance.BaseImportanceEvaluator
    if method == "fanova":
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    else:
        # the default top 10 % is a single trial below 20: take at least three
        evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=max(0.1, 3 / len(trials)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        raw = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)
    shares = {name: float(raw.get(name, 0.0)) for name in spaces}
    total = sum(shares.values())
    if total <= 0:  # every trial alike: nothing mattered more than anything else
        return {name: 1 / len(shares) for name in shares}
    return dict(sorted(((name, share / total) for name, share in shares.items()), key=lambda kv: -kv[1]))
