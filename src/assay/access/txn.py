"""Write transactions that serialise on one lock per purpose, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text


@contextmanager
def locked(engine: Engine, lock_id: int | None = None) -> Iterator[Connection]:
    """A transaction holding SQLite's write lock, or (PostgreSQL) advisory lock ``lock_id`` if given."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.begin()
            if lock_id is not None:
                conn.execute(text(f"SELECT pg_advisory_xact_lock({int(lock_id)})"))
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
