"""The dashboard's JavaScript spells statuses itself (it filters and styles by them); these
tests pin its lists to the enums in tfjobs/status.py, the one home of each word, so a
status added there cannot be missing from the page. The form takes devices from the
OpenAPI schema, which the enums generate (checked here too)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.core.config import Settings
from app.main import create_app
from tfjobs import FINAL_STATUSES, AttemptOutcome, Device, JobStatus, SweepStatus

UI = Path(__file__).resolve().parents[1] / "app" / "static" / "ui"


def js_strings(file: str, name: str) -> list[str]:
    """The string literals of ``const NAME = [...]`` or ``new Set([...])`` in a UI module."""
    source = (UI / file).read_text()
    found = re.search(rf"const {name} = (?:new Set\()?\[([^\]]*)\]", source)
    assert found is not None, f"{file} defines no {name}"
    return json.loads(f"[{found.group(1)}]")


def test_the_job_list_offers_every_status_in_order():
    assert js_strings("jobs.js", "STATUSES") == [s.value for s in JobStatus]


def test_the_dashboard_knows_which_statuses_are_final():
    assert set(js_strings("dom.js", "FINAL")) == {s.value for s in FINAL_STATUSES}
    final_sweep = {SweepStatus.SUCCEEDED, SweepStatus.FAILED, SweepStatus.CANCELLED}
    assert set(js_strings("sweep.js", "FINAL_SWEEP")) == {s.value for s in final_sweep}


def test_an_attempt_ends_as_a_job_status_or_a_way_back_to_the_queue():
    returns = {AttemptOutcome.HANDED_BACK, AttemptOutcome.LEASE_LOST}
    assert {o.value for o in AttemptOutcome} - {r.value for r in returns} == {s.value for s in FINAL_STATUSES}


def test_the_published_schema_spells_outcomes_and_devices_from_the_enums(tmp_path):
    schema = create_app(Settings(data_dir=tmp_path)).openapi()["components"]["schemas"]
    assert schema["AttemptOutcome"]["enum"] == [o.value for o in AttemptOutcome]
    assert schema["Device"]["enum"] == [d.value for d in Device]
    assert schema["JobStatus"]["enum"] == [s.value for s in JobStatus]


def test_the_sweep_page_asks_for_importance_when_the_api_can_answer():
    from app.sweeps.importance import MIN_TRIALS

    found = re.search(r"const IMPORTANCE_MIN_TRIALS = (\d+);", (UI / "sweep.js").read_text())
    assert found is not None and int(found.group(1)) == MIN_TRIALS
