"""Live streams of a job's metric points and log lines: one poller per job, many followers.

A stream never holds a database connection while it waits. Every follower of one job
(and kind: points or logs) shares one ``Feed``: a task that reads new rows in a short
transaction every ``POLL_SECONDS`` and hands each batch to its followers' queues. A
follower first catches up from the store on its own (short transactions, a page at a
time) from its cursor, so it may join at any point, and drops any row it has already
sent; a follower too slow to keep its queue short is cut off from the feed and catches
up from the store again. So the store sees one query per job per poll, however many
people watch, and memory stays bounded by the queue size per follower.

Per-process state: each API process has its own feeds and its own stream counts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.threads import Lane
from app.errors import TooManyRequests
from app.store.db import Store
from tfjobs import FINAL_STATUSES, JobStatus

__all__ = ["Feeds", "ReadRows"]

#: ``read(session, job_id=..., after=..., limit=...)`` → ``[(seq, json), ...]`` in seq order
ReadRows = Callable[..., list[tuple[int, str]]]

POLL_SECONDS = 0.2  # how often a feed looks for new rows: well inside the 1 s visibility goal
KEEPALIVE_SECONDS = 15.0
RECHECK_SECONDS = 3.0  # how often a stream asks whether its caller may still read it
REVOKED = "the token this stream was opened with is no longer valid"
QUEUE_BATCHES = 64  # batches a follower may fall behind before it is sent back to the store
READ_THREADS = 4  # store reads for streams share these, so streams never starve requests of threads

_in_thread = Lane(READ_THREADS).run  # a blocking store read, on the streams' own threads


@dataclass(eq=False)
class _Follower:
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_BATCHES))
    lagging: bool = False


class Feed:
    """One job's rows of one kind, polled once and fanned out to every follower."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        read: ReadRows,
        *,
        page: int,
        cursor: int,
        on_idle: Callable[[], None],
    ) -> None:
        self.store, self.job_id, self.read, self.page = store, job_id, read, page
        self.cursor = cursor  # the highest seq handed out (followers behind it catch up from the store)
        self.followers: set[_Follower] = set()
        self._on_idle = on_idle
        self._task: asyncio.Task[None] | None = None

    def poll(self, after: int) -> tuple[str, list[tuple[int, str]]]:
        """Status first, rows second: a final status means nothing is left to read."""
        from app.store import jobs as store_jobs

        with self.store.session() as session:
            job = store_jobs.get_job(session, job_id=self.job_id)
            status = job.status if job else JobStatus.CANCELLED
            return status, self.read(session, job_id=self.job_id, after=after, limit=self.page)

    def rows(self, after: int) -> list[tuple[int, str]]:
        """A page of rows after ``after`` (a follower catching up on its own)."""
        with self.store.session() as session:
            return self.read(session, job_id=self.job_id, after=after, limit=self.page)

    def join(self, follower: _Follower) -> None:
        self.followers.add(follower)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"feed-{self.job_id[:8]}")

    def leave(self, follower: _Follower) -> None:
        self.followers.discard(follower)

    def _hand_out(self, item: tuple[str, Any]) -> None:
        for follower in list(self.followers):
            try:
                follower.queue.put_nowait(item)
            except asyncio.QueueFull:  # too slow: it reads from the store instead
                follower.lagging = True
                self.followers.discard(follower)
                follower.queue = asyncio.Queue(QUEUE_BATCHES)

    async def _run(self) -> None:
        try:
            while self.followers:
                status, rows = await _in_thread(self.poll, self.cursor)
                if rows:
                    self.cursor = rows[-1][0]
                    self._hand_out(("rows", rows))
                    continue  # more may be waiting: read again before sleeping
                if status in FINAL_STATUSES:
                    self._hand_out(("end", status))
                    return
                await asyncio.sleep(POLL_SECONDS)
        except Exception as err:  # a store outage: followers end with an error event, not silence
            self._hand_out(("error", str(err)))
        finally:
            self._task = None
            self.followers.clear()
            self._on_idle()


class Feeds:
    """The API process's feeds, by ``(job_id, kind)``, and its open streams by owner."""

    def __init__(self, store: Store, *, page: int, max_per_owner: int) -> None:
        self.store, self.page, self.max_per_owner = store, page, max_per_owner
        self._feeds: dict[tuple[str, str], Feed] = {}
        self.open: Counter[str] = Counter()

    def _feed(self, job_id: str, kind: str, read: ReadRows, cursor: int) -> Feed:
        key = (job_id, kind)
        feed = self._feeds.get(key)
        if feed is None:
            feed = Feed(
                self.store, job_id, read, page=self.page, cursor=cursor, on_idle=lambda: self._drop(key)
            )
            self._feeds[key] = feed
        return feed

    def _drop(self, key: tuple[str, str]) -> None:
        self._feeds.pop(key, None)

    def __len__(self) -> int:
        return len(self._feeds)

    def admit(self, owner: str) -> None:
        """Counts one more open stream for ``owner``; 429 beyond the per-owner cap."""
        if self.open[owner] >= self.max_per_owner:
            raise TooManyRequests(
                f"{self.open[owner]} streams are already open for this owner (the limit is "
                f"{self.max_per_owner}); close one, or poll the page endpoints",
                retry_after=5,
            )
        self.open[owner] += 1

    def release(self, owner: str) -> None:
        self.open[owner] -= 1
        if self.open[owner] <= 0:
            del self.open[owner]

    async def check(self, job_id: str, owner: str, find: Callable[..., Any]) -> str:
        """The job's full id if it exists for ``owner`` (else ``find`` raises), read off the loop."""

        def look() -> str:
            with self.store.session() as session:
                return str(find(session, job_id, owner).id)

        return str(await _in_thread(look))

    async def follow(
        self,
        *,
        owner: str,
        job_id: str,
        kind: str,
        event: str,
        start: int,
        read: ReadRows,
        disconnected: Any,
        still_allowed: Callable[[], bool] | None = None,
    ) -> AsyncIterator[str]:
        """Server-Sent Events of the rows after ``start``, then ``end`` once the job is final.
        ``id:`` is each row's seq, so a reconnect with ``Last-Event-ID`` resumes exactly.
        The caller has already ``admit``-ted ``owner``; this releases it. ``still_allowed``
        (a store read, run every few seconds) ends the stream once it says no: a revoked
        token does not keep the streams it opened."""
        cursor, follower, idle = start, _Follower(), 0.0
        feed: Feed | None = None
        checked = time.monotonic()
        try:
            yield "retry: 1000\n\n"
            while True:
                if feed is None or follower.lagging:
                    # Join first, then catch up from the store to at least what the feed has
                    # already handed out: nothing falls between the two, duplicates are dropped.
                    follower.lagging = False
                    feed = self._feed(job_id, kind, read, cursor)
                    feed.join(follower)
                    target = feed.cursor
                    while True:
                        rows = await _in_thread(feed.rows, cursor)
                        for seq, data in rows:
                            cursor = seq
                            yield f"id: {seq}\nevent: {event}\ndata: {data}\n\n"
                        if not rows or (cursor >= target and len(rows) < self.page):
                            break
                if still_allowed is not None and time.monotonic() - checked >= RECHECK_SECONDS:
                    checked = time.monotonic()
                    if not await _in_thread(still_allowed):
                        yield f"event: error\ndata: {json.dumps({'detail': REVOKED})}\n\n"
                        return
                try:
                    what, payload = await asyncio.wait_for(follower.queue.get(), timeout=1.0)
                except TimeoutError:
                    if await disconnected():
                        return
                    idle += 1.0
                    if idle >= KEEPALIVE_SECONDS:
                        idle = 0.0
                        yield ": keep-alive\n\n"
                    continue
                idle = 0.0
                if what == "rows":
                    for seq, data in payload:
                        if seq > cursor:
                            cursor = seq
                            yield f"id: {seq}\nevent: {event}\ndata: {data}\n\n"
                elif what == "end":
                    yield f"event: end\ndata: {json.dumps({'status': payload})}\n\n"
                    return
                else:
                    yield f"event: error\ndata: {json.dumps({'detail': payload})}\n\n"
                    return
        finally:
            if feed is not None:
                feed.leave(follower)
            self.release(owner)
