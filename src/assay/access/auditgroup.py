"""Group commit for audit rows: concurrent requests share one transaction.

Every audited write (and every registry token) is recorded before its caller moves on, and a commit (an
fsync) costs milliseconds; so callers hand their rows to one writer thread that appends everything waiting in one transaction and then releases each
caller. A caller waits for at most the commit in progress and its own; the chain order is the hand-over order.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from assay.access.audit import AuditLog, Event

MAX_GROUP = 512


class GroupAppender:
    """Appends audit events in groups, one writer thread, callers blocking until their rows are committed."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self._queue: queue.SimpleQueue[tuple[list[Event], Future[None]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.groups = 0  # transactions written (for the benchmark and tests)

    def append(self, events: list[Event]) -> None:
        """Append ``events`` (in order) and return once they are committed; raises what the write raised."""
        self.submit(events).result()

    def submit(self, events: list[Event]) -> Future[None]:
        """Hand ``events`` (in order) to the writer; the future completes once they are committed (an event loop
        awaits it with ``asyncio.wrap_future`` instead of parking a worker thread on it)."""
        done: Future[None] = Future()
        if not events:
            done.set_result(None)
            return done
        self._queue.put((events, done))
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-group", daemon=True)
                    self._thread.start()
        return done

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_GROUP:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.audit.append_many([e for events, _ in batch for e in events])
                self.groups += 1
            except BaseException as exc:  # every waiter learns of the failure; the writer goes on
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for _, done in batch:
                done.set_result(None)
