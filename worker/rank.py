"""One rank of a gang, in a fresh process (``python -m worker.rank``), started by its
worker (worker/gang.py): TensorFlow fixes a process's collective context when the
MultiWorkerMirroredStrategy is made, so the warm worker itself cannot be a rank.

It speaks JSON lines: the task arrives on stdin; points and log lines go to stdout as the
loop reports them (the chief's worker stores them; the others' ignore them); then
``{"trained": …}``, and it waits for ``{"export": …}`` on stdin — every rank exports
(saving may take collectives), the chief to the job's folder, the others to a folder
of their own — and ends with ``{"exported": {name: sha256}}``. A TensorFlow-side error
ends it with ``{"error": [type, message]}`` and exit status 3. It exits at once if its
worker dies (a watchdog on its parent), so a killed node leaves no training orphan.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["LineReporter", "main"]

ERROR_EXIT = 3


def _emit(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


class LineReporter:
    """tfcore's reporter as JSON lines on stdout (non-finite values as null)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def report(self, point: Any) -> None:
        values = {k: float(v) if math.isfinite(v) else None for k, v in point.values.items()}
        kind, epoch, step = point.kind, point.epoch, point.step
        _emit(self.out, {"point": {"kind": kind, "epoch": epoch, "step": step, "values": values}})

    def log(self, message: str) -> None:
        _emit(self.out, {"log": message})


def _orphan_watch(parent: int) -> None:
    """Ends this process when its worker is gone (its parent changes)."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def main() -> None:
    parent = os.getppid()
    threading.Thread(target=_orphan_watch, args=(parent,), daemon=True).start()
    out = sys.stdout
    task = json.loads(sys.stdin.readline())
    # The strategy first: nothing may touch TensorFlow's runtime before it.
    from tfcore.distribute import multi_worker_strategy, tf_config

    strategy = multi_worker_strategy(tf_config(task["addresses"], task["rank"]))

    import tfcore.components  # noqa: F401 - registers the Keras objects
    from tfcore.data import load_builtin, load_file
    from tfcore.errors import TfcoreError
    from tfcore.runner import export_job, run_job
    from tfcore.spec import JobSpec

    try:
        spec = JobSpec.model_validate(task["spec"])
        source = task["dataset"]
        dataset = (
            load_builtin(source["builtin"], seed=spec.seed)
            if "builtin" in source
            else load_file(source["path"], target=source.get("target"), name=source.get("name"))
        )
        result = run_job(
            spec,
            dataset,
            workdir=Path(task["workdir"]),
            reporter=LineReporter(out),
            strategy=strategy,
            resume=task["resume"],
            checkpoint_dir=Path(task["checkpoint_dir"]),
            restore_dir=Path(task["restore_dir"]),
            already_reported_epoch=task["already_reported_epoch"],
            report_every_steps=task["report_every_steps"],
            report_every_seconds=task["report_every_seconds"],
            max_params=task["max_params"],
        )
        _emit(
            out,
            {
                "trained": {
                    "history": result.history,
                    "stop_reason": result.stop_reason,
                    "final_metrics": result.final_metrics,
                }
            },
        )
        order = json.loads(sys.stdin.readline())["export"]
        digests = export_job(
            result,
            Path(order["dir"]),
            extra_files={name: Path(path) for name, path in order.get("extra_files", {}).items()},
            dataset=order.get("dataset"),
        )
        _emit(out, {"exported": digests})
    except TfcoreError as err:
        _emit(out, {"error": [err.type, str(err)]})
        sys.exit(ERROR_EXIT)


if __name__ == "__main__":
    main()
