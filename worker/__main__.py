"""``python -m worker [--concurrency N]``: what ``tfjobs worker`` runs."""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
from pathlib import Path

from app.core.config import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tfjobs worker", description="Run a training worker.")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs at once (one process each)")
    parser.add_argument("--loglevel", default="INFO")
    parser.add_argument("--ready-file", type=Path, help="touched once the worker takes jobs")
    parser.add_argument("--gpu", type=int, help="pin this worker to one GPU (its index)")
    args = parser.parse_args(argv)
    if args.gpu is not None:
        # Before TensorFlow loads: it then sees exactly one GPU, as GPU:0.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.gpu)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    logging.basicConfig(level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("absl", "tensorflow", "h5py"):  # per-batch INFO lines drown the worker's own
        logging.getLogger(chatty).setLevel(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    # This node's own queue (its processes share it): the scheduler sends a job here only
    # when one of them is free (app/scheduler.py).
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
    queue = f"tfjobs-w-{host}-{os.getpid()}"
    os.environ["TFJOBS_WORKER_QUEUE"] = queue

    from celery.signals import worker_ready

    from worker.celery_app import celery_app, warm_up

    if args.ready_file:
        args.ready_file.unlink(missing_ok=True)  # a restarted container must not look ready early
        worker_ready.connect(lambda **_: args.ready_file.touch(), weak=False)

    solo = args.concurrency == 1
    if solo:
        warm_up()  # prefork children warm up in worker_process_init instead
    argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--concurrency={args.concurrency}",
        f"--pool={'solo' if solo else 'prefork'}",
        "-Q",
        queue,
        f"--hostname=tfjobs-{os.getpid()}@%h",
    ]
    if get_settings().embedded_broker:  # the folder broker has no fanout for these
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    celery_app.worker_main(argv)


if __name__ == "__main__":
    main()
