"""Every example spec a user copies is valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfcore.spec import JobSpec

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.json"))


def test_there_is_an_example_per_model_type():
    types = {json.loads(p.read_text())["model_type"] for p in EXAMPLES}
    assert types == {"mlp", "residual", "reconstructing", "wide_deep"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_spec_validates(path):
    JobSpec.model_validate(json.loads(path.read_text()))


SWEEPS = sorted((Path(__file__).resolve().parents[1] / "examples").glob("sweep_*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_example_sweep_validates(path):
    import yaml

    from app.core.config import Settings
    from app.sweeps.schema import validate_sweep

    request, _ = validate_sweep(yaml.safe_load(path.read_text()), Settings())
    assert request.max_trials >= 9


def test_there_is_a_grid_and_an_asha_sweep_example():
    assert [p.name for p in SWEEPS] == ["sweep_asha.yaml", "sweep_grid.yaml"]
