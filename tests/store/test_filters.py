"""The filter language against real stores: one table of filters and the jobs each must
find, run on SQLite and on PostgreSQL, and hostile text that must stay a string."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.filterlang import FilterError, parse
from app.store import jobs as store_jobs
from app.store import sweeps as store_sweeps
from app.store.db import Store
from tfjobs import JobStatus

# name: (spec fields, status, final metrics (summary) or last epoch values, created days ago)
JOBS = {
    "base": (
        {"model_type": "residual", "loss": "huber", "learning_rate": 0.01, "tags": ["baseline"]},
        "succeeded",
        {"val_loss": 0.25, "loss": 0.2},
        3,
    ),
    "fast": (
        {"model_type": "residual", "loss": "mse", "learning_rate": 0.1, "tags": ["fast", "Exp-2"]},
        "succeeded",
        {"val_loss": 0.4, "loss": 0.3},
        2,
    ),
    "deep": (
        {"model_type": "wide_deep", "loss": "huber", "learning_rate": 0.001, "mixed_precision": True},
        "failed",
        None,
        1,
    ),
    "pruned": (
        {"model_type": "mlp", "loss": "mse", "learning_rate": 0.05, "tags": ["baseline-2"]},
        "pruned",
        {"val_loss": 0.9},
        0,
    ),
    "O'Brien": (
        {"model_type": "mlp", "loss": "huber", "learning_rate": 0.02},
        "running",
        {"val_loss": 0.5},
        0,
    ),
}

# filter -> the names it finds (order ignored)
CASES: list[tuple[str, set[str]]] = [
    ("learning_rate < 0.02", {"base", "deep"}),
    ("learning_rate <= 0.02", {"base", "deep", "O'Brien"}),
    ("learning_rate >= 0.05 and loss = 'mse'", {"fast", "pruned"}),
    ("model_type = 'residual' or model_type = 'mlp'", {"base", "fast", "pruned", "O'Brien"}),
    ("model_type != 'residual'", {"deep", "pruned", "O'Brien"}),
    ("not model_type = 'residual'", {"deep", "pruned", "O'Brien"}),
    ("model_type = 'residual' AND loss = 'huber'", {"base"}),  # keywords in any case
    ("NOT model_type = 'residual' Or loss = 'mse'", {"fast", "deep", "pruned", "O'Brien"}),
    ("metrics.val_loss < 0.45", {"base", "fast"}),  # a summary
    ("metrics.val_loss > 0.45", {"pruned", "O'Brien"}),  # the last epoch's value
    ("metrics.val_loss = null", {"deep"}),
    ("not metrics.val_loss < 0.45", {"deep", "pruned", "O'Brien"}),  # a missing metric is not < 0.45
    ("metrics.loss != null and metrics.loss < 0.25", {"base"}),
    ("status = 'succeeded'", {"base", "fast"}),
    ("status != 'succeeded' and status != 'running'", {"deep", "pruned"}),
    ("tag = 'baseline'", {"base"}),  # the whole tag: not 'baseline-2'
    ("tag ~ 'baseline'", {"base", "pruned"}),
    ("tag ~ 'exp'", {"fast"}),  # any case
    ("tag != 'baseline'", {"fast", "deep", "pruned", "O'Brien"}),
    ("name ~ 'BRIEN'", {"O'Brien"}),
    ("name = 'O''Brien'", {"O'Brien"}),
    ("name ~ '%'", set()),  # LIKE's wildcards are plain characters
    ("name ~ '_'", set()),
    ("mixed_precision = true", {"deep"}),
    ("mixed_precision != true", set()),  # the others lack the field: null is neither
    ("(loss = 'huber' or loss = 'mse') and not (tag ~ 'base' or status = 'running')", {"fast", "deep"}),
    ("sweep != null", {"pruned"}),
    ("sweep = null", {"base", "fast", "deep", "O'Brien"}),
    ("created < '{yesterday}'", {"base", "fast", "deep"}),
    ("created >= '{yesterday}'", {"pruned", "O'Brien"}),
    ("learning_rate > 1e-2 and learning_rate < .06", {"pruned", "O'Brien"}),
    # hostile text is only ever a value
    ("name = 'x'' or 1=1 --'", set()),
    ("name ~ ''' ; drop table jobs; --'", set()),
    ("model_type = 'residual''); DELETE FROM jobs; --'", set()),
]


def _populate(store: Store) -> None:
    with store.session() as session:
        sweep = store_sweeps.create_sweep(
            session,
            owner="alice",
            spec={},
            space={},
            method="random",
            pruner=None,
            metric="val_loss",
            mode="min",
            max_trials=4,
            max_concurrent=1,
            seed=0,
        )
        now = datetime.now(UTC)
        for name, (spec, status, values, days) in JOBS.items():
            job = store_jobs.create_job(
                session,
                spec={**spec, "name": name, "epochs": 3},
                epochs=3,
                owner="alice",
                sweep_id=sweep.id if name == "pruned" else None,
                trial_number=0 if name == "pruned" else None,
            )
            job.status = status
            job.created_at = now - timedelta(days=days, hours=1)
            if status == JobStatus.SUCCEEDED:
                job.summary = values
            else:
                job.progress_values = values
        # another owner's job matches everything alice's do: it must never be listed
        store_jobs.create_job(
            session,
            spec={"model_type": "residual", "loss": "huber", "learning_rate": 0.01, "name": "base"},
            epochs=3,
            owner="bob",
        )


def _names(store: Store, text: str) -> set[str]:
    with store.session() as session:
        jobs, _ = store_jobs.list_jobs(session, owner="alice", where=parse(text), limit=100)
        return {job.name or "" for job in jobs}


def test_one_table_of_filters_finds_the_same_jobs_on_both_stores(store: Store) -> None:
    _populate(store)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    wrong = []
    for text, expected in CASES:
        text = text.format(yesterday=yesterday)
        found = _names(store, text)
        if found != expected:
            wrong.append(f"{text!r}: found {sorted(found)}, expected {sorted(expected)}")
    assert not wrong, "\n".join(wrong)
    with store.session() as session:  # nothing the hostile filters said was run
        assert store_jobs.count_jobs_by_status(session)
        assert len(store_jobs.list_jobs(session, owner="alice", limit=100)[0]) == len(JOBS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learning_rate < ", "column 17: expected a value"),
        ("learning_rate <", "column 16: expected a value"),
        ("lerning_rate < 1", "column 1: unknown field 'lerning_rate' (did you mean 'learning_rate'?)"),
        ("epochs > 3 and", "column 15: expected a field"),
        ("(epochs > 3", "column 12: expected ')'"),
        ("epochs 3", "column 8: expected a comparison"),
        ('name = "x"', "column 8: unexpected '\"'; strings are in single quotes"),
        ("name = 'x", "column 8: unexpected an unclosed string"),
        ("epochs = 'x'", "column 10: 'epochs' is compared with a number"),
        ("learning_rate ~ 'x'", "column 15: '~' (contains) needs a string field"),
        ("status = 'done'", "column 10: status is one of queued, running"),
        ("created > 'yesterday'", "column 1: 'yesterday' is not a date"),
        ("metrics.val_loss < 'a'", "column 20: 'metrics.val_loss' is compared with a number"),
        ("architecture = 'x'", "column 1: 'architecture' holds a structure"),
        ("epochs > null", "column 8: null compares only with = or !="),
        ("tag < 'a'", "column 5: tag takes = (has the tag)"),
        ("   ", "column 1: the filter is empty"),
        (" or ".join(["epochs = 1"] * 51), "at most 50 comparisons"),
        ("x" * 1001, "column 1001: a filter is at most 1000 characters"),
        ("epochs = 1 epochs = 2", "column 12: expected 'and', 'or' or the end, found 'epochs'"),
    ],
)
def test_a_filter_that_does_not_parse_says_where(text: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(text)
    assert message in str(caught.value)
