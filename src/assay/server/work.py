"""Keeping the event loop free: CPU-bound work in a bounded process pool, blocking work in bounded threads.

Every job has a deadline (the client gets 503 ``deadline-exceeded``; the job's slot is
freed only when the job really ends, so the pool is never oversubscribed). Waiting jobs
start cheapest first, and heavy jobs (large bodies) may hold at most all slots but one,
so an ordinary request always finds a worker within one light job's time. Worker processes
run at a lower CPU priority than the server process, so the event loop and the sequencer are
scheduled first. When too many jobs wait, new ones are refused at once with 503 ``server-busy``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from assay.errors import EnvironmentFailure

T = TypeVar("T")

DEADLINE = 10.0  # seconds per job, queueing included
HEAVY_COST = 64 * 1024  # bodies at least this large are "heavy"
SMALL_COST = 4 * 1024  # bodies under this size are verified in a thread: bounded work, no IPC
MAX_WAITING = 256  # jobs allowed to queue per lane


class Lane:
    """At most ``slots`` jobs at once; cheapest waiting job first; heavy jobs leave one slot free."""

    def __init__(self, slots: int, max_waiting: int = MAX_WAITING) -> None:
        self.slots = slots
        self.heavy_max = max(1, slots - 1)
        self.max_waiting = max_waiting
        self._running = 0
        self._heavy = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def _can_start(self, cost: int) -> bool:
        return self._running < self.slots and (cost < HEAVY_COST or self._heavy < self.heavy_max)

    def _start(self, cost: int) -> None:
        self._running += 1
        self._heavy += cost >= HEAVY_COST

    async def acquire(self, cost: int) -> None:
        """Wait for a slot (raises ``server-busy`` when the queue is full)."""
        if len(self._waiting) >= self.max_waiting:
            raise EnvironmentFailure("server-busy", "the server is at capacity; retry shortly")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        item = (cost, next(self._seq), fut)
        heapq.heappush(self._waiting, item)
        self._dispatch()
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(cost)  # the slot was handed over just as we gave up
            elif item in self._waiting:
                self._waiting.remove(item)
                heapq.heapify(self._waiting)
            raise

    def release(self, cost: int) -> None:
        """Free a slot and start the cheapest waiting jobs that may run."""
        self._running -= 1
        self._heavy -= cost >= HEAVY_COST
        self._dispatch()

    def _dispatch(self) -> None:
        # Cheapest first; when the cheapest waiting job is heavy and blocked, every other waiting job is too.
        while self._waiting:
            next_cost, _, fut = self._waiting[0]
            if fut.done():
                heapq.heappop(self._waiting)
                continue
            if not self._can_start(next_cost):
                return
            heapq.heappop(self._waiting)
            self._start(next_cost)
            fut.set_result(None)


WORKER_NICENESS = 10  # verification yields the CPU to the event loop and the sequencer


def _init_worker() -> None:
    try:
        os.nice(WORKER_NICENESS)
    except OSError:
        pass


def _warm() -> int:
    import assay.log.entries  # noqa: F401  (import the verification code once per worker)

    return os.getpid()


class WorkerPool:
    """A process pool for pure CPU-bound functions and a thread pool for blocking calls, each behind a lane."""

    def __init__(self, processes: int | None = None, threads: int = 8, deadline: float = DEADLINE) -> None:
        self.processes = processes or max(1, min(4, os.cpu_count() or 1))
        self.deadline = deadline
        self._procs = self._new_procs()
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="assay-work")
        self.cpu_lane = Lane(self.processes)
        self._small = ThreadPoolExecutor(2, thread_name_prefix="assay-small")
        self.small_lane = Lane(2)
        self.io_lane = Lane(threads)

    def _new_procs(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
        )

    def warm(self) -> None:
        """Start the worker processes now rather than on the first request."""
        for _ in range(self.processes):
            self._procs.submit(_warm)

    def close(self) -> None:
        """Stop both pools (queued jobs are dropped)."""
        self._procs.shutdown(wait=False, cancel_futures=True)
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._small.shutdown(wait=False, cancel_futures=True)

    async def _run(self, lane: Lane, cost: int, submit: Callable[[], Future[T]]) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        try:
            await asyncio.wait_for(lane.acquire(cost), timeout=self.deadline)
        except TimeoutError:
            raise EnvironmentFailure("deadline-exceeded", "the request waited too long for a worker") from None
        try:
            job = submit()
        except BaseException:
            lane.release(cost)
            raise
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(lane.release, cost))
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job)), timeout=deadline - loop.time())
        except TimeoutError:
            raise EnvironmentFailure("deadline-exceeded", f"the request took longer than {self.deadline:g} s") from None

    async def cpu(self, fn: Callable[..., T], *args: Any, cost: int = 0) -> T:
        """Run a picklable pure function in a worker process (small inputs: in a worker thread)."""
        if cost < SMALL_COST:
            return await self._run(self.small_lane, cost, lambda: self._small.submit(fn, *args))
        try:
            return await self._run(self.cpu_lane, cost, lambda: self._procs.submit(fn, *args))
        except BrokenProcessPool:
            self._procs = self._new_procs()  # a worker died; later requests get a fresh pool
            raise EnvironmentFailure("worker-failed", "a verification worker stopped; retry") from None

    async def blocking(self, fn: Callable[..., T], *args: Any, cost: int = 0) -> T:
        """Run a blocking or CPU-light call (database, signing) in a worker thread."""
        return await self._run(self.io_lane, cost, lambda: self._threads.submit(fn, *args))
