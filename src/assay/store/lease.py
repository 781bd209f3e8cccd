"""Leases: at most one process does a named background job at a time (SQLite and PostgreSQL).

A lease is a row ``(name, holder, expires)``. :func:`acquire` takes a free or expired lease, or renews one the
caller already holds, with conditional statements in one transaction: an UPDATE guarded by "held by me or
expired", else an INSERT that does nothing on conflict. The database decides the winner, so two processes never
both believe they hold it. Times are the callers' wall clocks in milliseconds: hosts sharing a database need
clocks closer together than the TTL's margin over the job's interval.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from assay.store.schema import leases
from assay.store.txn import write_transaction


def _now_ms() -> int:
    return int(time.time() * 1000)


def acquire(engine: Engine, name: str, holder: str, ttl: float) -> bool:
    """Take lease ``name`` for ``holder`` for ``ttl`` seconds if free, expired or already ours; True if held."""
    now = _now_ms()
    expires = now + int(ttl * 1000)
    with write_transaction(engine) as conn:
        taken = conn.execute(
            update(leases)
            .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires <= now))
            .values(holder=holder, expires=expires)
        )
        if taken.rowcount == 1:
            return True
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        created = conn.execute(
            dialect.insert(leases)
            .values(name=name, holder=holder, expires=expires)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(leases.c.name)
        )
        return created.first() is not None


def release(engine: Engine, name: str, holder: str) -> bool:
    """Give up lease ``name`` if ``holder`` holds it; True if it did."""
    with write_transaction(engine) as conn:
        gone = conn.execute(delete(leases).where(and_(leases.c.name == name, leases.c.holder == holder)))
        return bool(gone.rowcount == 1)


def holder_of(engine: Engine, name: str) -> str | None:
    """The current unexpired holder of lease ``name``, if any."""
    with engine.connect() as conn:
        row = conn.execute(select(leases.c.holder).where(leases.c.name == name, leases.c.expires > _now_ms())).first()
    return None if row is None else str(row[0])
