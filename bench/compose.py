"""The compose stack as a user meets it: image sizes over their bases, time from
`docker compose up` to healthy, and time from submit to the first job's success.

    python -m bench.compose            # images from the build cache, if any
    python -m bench.compose --fresh    # rebuild the images from scratch first (--no-cache)

Needs a Docker daemon (``../shared/docker/setup.sh`` on a machine with no registry).
"""

from __future__ import annotations

import argparse
import subprocess
import time

from harness.stack import Compose, compose_stack, docker_answers

BASES = {"api": "python:3.11-slim", "worker": "tensorflow/tensorflow:2.21.0"}


def image_bytes(image: str) -> int:
    done = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", image], capture_output=True, text=True
    )
    return int(done.stdout.strip())


def first_job(stack: Compose) -> tuple[float, float]:
    """Seconds from submit to the first metric point and to success, for the card's minimal spec."""
    with stack.client() as client:
        started = time.monotonic()
        job = client.submit(model_type="residual", loss="huber", threshold=2.0, epochs=5)
        first_point = None
        for _ in job.stream():
            first_point = first_point or time.monotonic() - started
        job.wait()
        return first_point or float("nan"), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fresh", action="store_true", help="rebuild every image without the cache first")
    args = parser.parse_args()
    if not docker_answers():
        raise SystemExit("no Docker daemon answers `docker info`")
    with compose_stack(
        "tfjobs-bench", build_args=("--no-cache", "api", "worker") if args.fresh else ()
    ) as stack:
        healthy = stack.seconds_to_healthy
        to_point, to_success = first_job(stack)
        sizes = {
            name: (image_bytes(f"{stack.project}-{name}"), image_bytes(base)) for name, base in BASES.items()
        }
    print("| image | base | base size | image size | added |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, (size, base_size) in sizes.items():
        print(
            f"| {name} | `{BASES[name]}` | {base_size / 1e6:,.0f} MB | {size / 1e6:,.0f} MB | "
            f"**{(size - base_size) / 1e6:,.0f} MB** |"
        )
    print()
    print("| step | seconds |")
    print("| --- | ---: |")
    if stack.build_seconds is not None:
        print(f"| build both images from scratch (`build --no-cache`) | {stack.build_seconds:.1f} |")
    print(f"| `docker compose up --build --wait` → every service healthy (images cached) | {healthy:.1f} |")
    print(f"| submit → first metric point (minimal spec, 5 epochs) | {to_point:.1f} |")
    print(f"| submit → succeeded | {to_success:.1f} |")


if __name__ == "__main__":
    main()
