"""What an upload costs the API in memory, measured on a real API process (its VmHWM).

An NPZ that inflates to 2 GB once drove the API to 3.3 GB; a 30 MB CSV peaked at
1.17 GB. Now the bomb is refused from its headers and a CSV is parsed a block at a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.stack import running_stack
from tests import hostile

pytestmark = pytest.mark.chaos


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(field)


def peak_growth_mb(stack, name: str, content: bytes, data: dict) -> tuple[int, float]:
    """The upload's status code and how far the API's peak RSS rose above its RSS before."""
    before = memory_mb(stack.api_pid, "VmRSS")
    with stack.client() as client:
        response = client.post("/datasets", files={"file": (name, content)}, data=data, timeout=120)
    return response.status_code, memory_mb(stack.api_pid, "VmHWM") - before


def test_uploads_cost_the_api_a_bounded_amount_of_memory(tmp_path):
    with running_stack(tmp_path, {"TFJOBS_MAX_UPLOAD_MB": "64"}, workers=0) as stack:
        bomb = hostile.decompression_bomb()
        code, bomb_growth = peak_growth_mb(stack, "bomb.npz", bomb, {})
        assert code == 422
        big = hostile.numeric_csv(30)
        code, csv_growth = peak_growth_mb(stack, "big.csv", big, {"target": "y"})
        assert code == 201
    print(
        f"\nAPI peak RSS growth: NPZ bomb ({len(bomb) / 2**20:.1f} MB, 1,909 MB inflated) "
        f"+{bomb_growth:.0f} MB; {len(big) / 2**20:.0f} MB CSV +{csv_growth:.0f} MB "
        f"({csv_growth / (len(big) / 2**20):.2f}x the file)"
    )
    assert bomb_growth < 32
    assert csv_growth < 2 * len(big) / 2**20
