"""Group commit for evidence writes: concurrent uploads share one transaction (and one fsync).

A batch first runs as one plain transaction; if any job fails, the batch is
run again with each job in its own SAVEPOINT, so the failing job is rolled
back alone and reported to its caller while the others commit together.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

Job = Callable[[Connection], Any]
BATCH_MAX = 256


class GroupWriter:
    """One writer thread per process; ``run(job)`` blocks until the job's transaction committed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.Queue[tuple[Job, Future[Any]]] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="evidence-writer", daemon=True)
        self._thread.start()

    def run(self, job: Job, timeout: float = 60.0) -> Any:
        """Run ``job(conn)`` in the next group transaction and return its result (or raise its error)."""
        fut: Future[Any] = Future()
        self._queue.put((job, fut))
        return fut.result(timeout=timeout)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except BaseException as exc:  # the whole transaction failed: every waiter hears it
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)

    def _commit(self, batch: list[tuple[Job, Future[Any]]]) -> None:
        from assay.store.txn import write_transaction

        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:  # the common case: every job succeeds, one transaction and no savepoints
            with write_transaction(self.engine) as conn:
                results = [(fut, job(conn), None) for job, fut in batch]
        except Exception:  # some job failed: redo each in its own savepoint so only it fails
            results = []
            with write_transaction(self.engine) as conn:
                for job, fut in batch:
                    results.append((fut, *self._one(conn, job)))
        for fut, value, error in results:
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(value)

    @staticmethod
    def _one(conn: Connection, job: Job) -> tuple[Any, BaseException | None]:
        for attempt in range(2):
            sp = conn.begin_nested()
            try:
                value = job(conn)
            except IntegrityError as exc:  # another process stored the same row: once more reads it back
                sp.rollback()
                if attempt == 1:
                    return None, exc
                continue
            except Exception as exc:
                sp.rollback()
                return None, exc
            sp.commit()
            return value, None
        raise AssertionError("unreachable")
