"""One job trained by a gang of processes under MultiWorkerMirroredStrategy, on this
machine's CPU: two real processes, each a rank with its own gRPC server on localhost,
all-reducing gradients every step (TensorFlow's collectives; nothing of ours in between).

The gang trains what one process trains: the same spec and seed end within 15 % of the
single process's val_loss (the global batch is the same; only its split differs). A gang
stopped after 2 epochs resumes from the chief's checkpoint and trains epochs 3 and 4 only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.stack import REPO, free_port

SPEC = {
    "model_type": "mlp",
    "loss": "mse",
    "epochs": 4,
    "dataset": "synthetic",
    "batch_size": 64,
    "steps_per_execution": 10,
    "seed": 7,
}

# One rank: its TF_CONFIG first (the collective context is fixed at the strategy), then
# the same run_job every rank calls. Prints the chief's history as JSON.
RANK = """
import json, sys
from pathlib import Path
from tfcore.distribute import is_chief, multi_worker_strategy, tf_config
addresses, rank, spec, workdir, resume = json.loads(sys.argv[1])
strategy = multi_worker_strategy(tf_config(addresses, rank))
from tfcore.data import load_builtin
from tfcore.runner import run_job
from tfcore.spec import JobSpec
spec = JobSpec.model_validate(spec)
work = Path(workdir)
chief = is_chief(strategy)
result = run_job(
    spec,
    load_builtin(spec.dataset_name, seed=spec.seed),
    workdir=work / f"rank-{rank}",
    strategy=strategy,
    resume=resume,
    checkpoint_dir=work / ("checkpoints" if chief else f"rank-{rank}-checkpoints"),
    restore_dir=work / "checkpoints",
)
print(json.dumps({"chief": chief, "replicas": strategy.num_replicas_in_sync, "history": result.history}))
"""

SINGLE = """
import json, sys
from pathlib import Path
from tfcore.data import load_builtin
from tfcore.runner import run_job
from tfcore.spec import JobSpec
spec = JobSpec.model_validate(json.loads(sys.argv[1]))
result = run_job(spec, load_builtin(spec.dataset_name, seed=spec.seed), workdir=Path(sys.argv[2]))
print(json.dumps({"history": result.history}))
"""


def python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def gang(workdir: Path, spec: dict, *, ranks: int = 2, resume: bool = False) -> list[dict]:
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(ranks)]
    processes = [
        python(RANK, json.dumps([addresses, rank, spec, str(workdir), resume])) for rank in range(ranks)
    ]
    outputs = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err[-4000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            process.kill()
    return outputs


def test_two_ranks_train_what_one_process_trains(tmp_path):
    chief, other = gang(tmp_path / "gang", SPEC)
    assert chief["chief"] and not other["chief"]
    assert chief["replicas"] == other["replicas"] == 2
    assert [row["epoch"] for row in chief["history"]] == [1, 2, 3, 4]
    # every rank saw the same all-reduced weights: the same validation loss, epoch by epoch
    assert [r["val_loss"] for r in chief["history"]] == pytest.approx(
        [r["val_loss"] for r in other["history"]]
    )
    single = python(SINGLE, json.dumps(SPEC), str(tmp_path / "single"))
    out, err = single.communicate(timeout=300)
    assert single.returncode == 0, err[-4000:]
    alone = json.loads(out.strip().splitlines()[-1])["history"][-1]["val_loss"]
    together = chief["history"][-1]["val_loss"]
    assert abs(together - alone) <= 0.15 * alone, (together, alone)


def test_a_gang_resumes_from_the_chiefs_checkpoint(tmp_path):
    first, _ = gang(tmp_path, {**SPEC, "epochs": 2})
    assert [row["epoch"] for row in first["history"]] == [1, 2]
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.index")) == [
        "ckpt-1.index",
        "ckpt-2.index",
    ]
    resumed, other = gang(tmp_path, SPEC, resume=True)
    # the restored history carries epochs 1-2; only 3 and 4 were trained again
    assert [row["epoch"] for row in resumed["history"]] == [1, 2, 3, 4]
    assert resumed["history"][:2] == first["history"]
    assert [r["val_loss"] for r in resumed["history"]] == pytest.approx(
        [r["val_loss"] for r in other["history"]]
    )
