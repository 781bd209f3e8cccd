"""Write transactions on SQLite and PostgreSQL: writers queue instead of failing, optionally under one lock.

On SQLite the writers of one process also queue on a process lock per engine before ``BEGIN IMMEDIATE``: SQLite's
own busy handler polls with sleeps of up to 100 ms, so two group-commit writers of one process contending for the
file's write lock would wait far longer than the commit they wait for. Other processes still meet SQLite's lock.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

_locks: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def sqlite_write_lock(engine: Engine) -> contextlib.AbstractContextManager[object]:
    """The process's write lock for a SQLite ``engine`` (re-entrant); no lock for other databases."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    with _guard:
        lock = _locks.get(engine)
        if lock is None:
            lock = _locks[engine] = threading.RLock()
    return lock


@contextmanager
def write_transaction(engine: Engine, lock_id: int | None = None) -> Iterator[Connection]:
    """A transaction holding SQLite's write lock (BEGIN IMMEDIATE), or on PostgreSQL advisory lock ``lock_id``
    when given (else row locks only); committed on success, rolled back on any exception."""
    with sqlite_write_lock(engine), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.begin()
            if lock_id is not None:
                conn.execute(text(f"SELECT pg_advisory_xact_lock({int(lock_id)})"))
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
