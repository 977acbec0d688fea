"""A thread lane runs at most its number of blocking calls at once, and leaves the
default thread pool (every other request's) untouched while it is full."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread

from app.core.threads import Lane


def test_a_full_lane_holds_back_its_own_work_and_nothing_else():
    lane, running, most = Lane(2), [0], [0]
    release = threading.Event()
    lock = threading.Lock()

    def blocking() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(10)
        with lock:
            running[0] -= 1

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(lane.run, blocking)
            with anyio.fail_after(10):  # however slow threads start on a busy machine
                while running[0] < 2:
                    await anyio.sleep(0.02)
            await anyio.sleep(0.2)
            assert running[0] == 2  # the other three wait for the lane
            # the default pool still answers while the lane is full
            assert await anyio.to_thread.run_sync(lambda: "free") == "free"
            release.set()
        assert most[0] == 2 and running[0] == 0

    anyio.run(main)
