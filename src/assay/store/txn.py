"""Write transactions on SQLite and PostgreSQL: writers queue instead of failing, optionally under one lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text


@contextmanager
def write_transaction(engine: Engine, lock_id: int | None = None) -> Iterator[Connection]:
    """A transaction holding SQLite's write lock (BEGIN IMMEDIATE), or on PostgreSQL advisory lock ``lock_id``
    when given (else row locks only); committed on success, rolled back on any exception."""
    with engine.connect() as conn:
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
