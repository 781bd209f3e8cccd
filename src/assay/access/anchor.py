"""Anchoring the audit chain's head in the transparency log, as a hashedrekord signed by the server."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import Engine, insert, select

from assay.access.audit import AuditLog
from assay.store.schema import audit_anchors
from assay.store.txn import write_transaction

LOCK = 7234012

# (statement bytes) -> (log index, entry uuid): appends a signed entry over the statement.
Append = Callable[[bytes], tuple[int, str]]


def statement(seq: int, head: bytes) -> bytes:
    """The bytes whose SHA-256 the log entry records for an anchored head."""
    return f"assay-audit-head v1\nseq {seq}\nhash {head.hex()}\n".encode()


def statement_digest(seq: int, head: bytes) -> str:
    """Hex SHA-256 of :func:`statement`."""
    return hashlib.sha256(statement(seq, head)).hexdigest()


def anchor_now(engine: Engine, audit: AuditLog, append: Append) -> int | None:
    """Record the current head in the log unless it already is; returns the anchored sequence number."""
    seq, head = audit.head()
    if seq == 0:
        return None
    with engine.connect() as conn:
        if conn.execute(select(audit_anchors.c.seq).where(audit_anchors.c.seq == seq)).first() is not None:
            return None
    # The log append takes the database's write lock itself: never hold ours across it.
    index, uuid = append(statement(seq, head))
    with write_transaction(engine, LOCK) as conn:
        if conn.execute(select(audit_anchors.c.seq).where(audit_anchors.c.seq == seq)).first() is not None:
            return None  # another process anchored the same head meanwhile
        conn.execute(
            insert(audit_anchors).values(
                seq=seq, head_hash=head, log_index=index, log_uuid=uuid, created=int(time.time())
            )
        )
    return seq
