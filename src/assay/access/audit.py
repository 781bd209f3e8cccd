"""The audit log: one row per state-changing request or refusal, each hash-chained to the one before.

``hash = SHA-256(prev_hash || canonical JSON of the row's fields)``; the first row's
``prev_hash`` is 32 zero bytes. Rows are appended under one lock, so processes sharing
PostgreSQL extend one chain. The head is anchored in the transparency log (``anchor.py``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, insert, select

from assay.store.schema import audit_anchors, audit_log
from assay.store.txn import write_transaction

GENESIS = b"\x00" * 32
LOCK = 7234011
FIELDS = ("seq", "time", "actor", "token_id", "project", "action", "target", "result", "request_id", "address")


@dataclass(frozen=True)
class Event:
    """What happened, before it gets a place in the chain."""

    actor: str
    action: str
    result: str
    target: str = ""
    project: str | None = None
    token_id: str | None = None
    request_id: str = ""
    address: str = ""


def row_hash(prev: bytes, fields: dict[str, Any]) -> bytes:
    """The chain hash of one row."""
    body = json.dumps({k: fields[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(prev + body.encode()).digest()


def row_json(row: Any) -> dict[str, Any]:
    """A stored row as the API shows it."""
    doc = {k: getattr(row, k) for k in FIELDS}
    doc["prev_hash"] = row.prev_hash.hex()
    doc["hash"] = row.hash.hex()
    return doc


class AuditLog:
    """Appending to and reading the chain."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, event: Event) -> int:
        """Append one row at the chain's head; returns its sequence number."""
        return self.append_many([event])[-1]

    def append_many(self, events: list[Event]) -> list[int]:
        """Append rows in order in one transaction (one commit for a group of callers); their sequence numbers."""
        seqs: list[int] = []
        with write_transaction(self.engine, LOCK) as conn:
            last = conn.execute(
                select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
            rows = []
            for event in events:
                fields = {
                    "seq": seq,
                    "time": int(time.time()),
                    "actor": event.actor[:2000],
                    "token_id": event.token_id,
                    "project": event.project,
                    "action": event.action,
                    "target": event.target[:2000],
                    "result": event.result[:128],
                    "request_id": event.request_id[:64],
                    "address": event.address[:64],
                }
                digest = row_hash(prev, fields)
                rows.append({**fields, "prev_hash": prev, "hash": digest})
                seqs.append(seq)
                seq, prev = seq + 1, digest
            if rows:
                conn.execute(insert(audit_log), rows)
        return seqs

    def head(self) -> tuple[int, bytes]:
        """(last sequence number, its hash); (0, zeros) when empty."""
        with self.engine.connect() as conn:
            last = conn.execute(
                select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
            ).first()
        return (int(last.seq), bytes(last.hash)) if last else (0, GENESIS)

    def rows(
        self,
        *,
        project: str | None = None,
        since: int | None = None,
        actor: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Rows in chain order, filtered."""
        q = select(audit_log).where(audit_log.c.seq > after)
        if project is not None:
            q = q.where(audit_log.c.project == project)
        if since is not None:
            q = q.where(audit_log.c.time >= since)
        if actor is not None:
            q = q.where(audit_log.c.actor.contains(actor, autoescape=True))
        with self.engine.connect() as conn:
            return [row_json(r) for r in conn.execute(q.order_by(audit_log.c.seq).limit(max(1, min(limit, 10000))))]

    def latest(self, *, project: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` rows, newest first (for the dashboard)."""
        q = select(audit_log)
        if project is not None:
            q = q.where(audit_log.c.project == project)
        with self.engine.connect() as conn:
            return [
                row_json(r) for r in conn.execute(q.order_by(audit_log.c.seq.desc()).limit(max(1, min(limit, 1000))))
            ]

    def anchors(self) -> list[dict[str, Any]]:
        """Every recorded anchor, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_anchors).order_by(audit_anchors.c.seq))
            return [
                {
                    "seq": r.seq,
                    "head_hash": r.head_hash.hex(),
                    "log_index": r.log_index,
                    "log_uuid": r.log_uuid,
                    "created": r.created,
                }
                for r in rows
            ]

    def count(self) -> int:
        """How many rows the chain has."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


@dataclass(frozen=True)
class Broken:
    """The first place where the chain does not hold."""

    seq: int
    reason: str
    message: str


def walk(rows: Iterable[dict[str, Any]], anchors: Iterable[dict[str, Any]]) -> tuple[int, Broken | None]:
    """Check an ordered run of rows from the genesis and the anchored heads; (rows checked, first break)."""
    prev = GENESIS
    expect = 1
    hashes: dict[int, str] = {}
    count = 0
    for row in rows:
        seq = int(row["seq"])
        if seq != expect:
            return count, Broken(expect, "audit-row-missing", f"row {expect} is missing (next row is {seq})")
        if row["prev_hash"] != prev.hex():
            return count, Broken(seq, "audit-chain-broken", f"row {seq} does not follow row {seq - 1}")
        if row_hash(prev, row).hex() != row["hash"]:
            return count, Broken(
                seq, "audit-row-altered", f"row {seq} was altered: its hash does not match its content"
            )
        prev = bytes.fromhex(row["hash"])
        hashes[seq] = row["hash"]
        expect += 1
        count += 1
    for anchor in anchors:
        seq = int(anchor["seq"])
        if seq not in hashes:
            return count, Broken(seq, "audit-row-missing", f"row {seq} was anchored in the log but is gone")
        if hashes[seq] != anchor["head_hash"]:
            return count, Broken(seq, "audit-anchor-mismatch", f"row {seq} differs from the head anchored in the log")
    return count, None
