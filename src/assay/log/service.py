"""The log service: a group-commit sequencer over durable storage, plus reads and proofs.

Appends are queued; one sequencer thread takes every waiting request, and in
one transaction (holding the database write lock, or a PostgreSQL advisory
lock so several processes never fork the tree) assigns indexes, stores
entries, new tree nodes and a signed checkpoint, then commits. Only then are
clients answered, each with an inclusion proof against that checkpoint.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from assay.errors import InputError
from assay.log import tree
from assay.log.entries import CanonicalEntry, canonicalize
from assay.log.note import LogIdentity
from assay.store.schema import log_checkpoints, log_entries, log_nodes, log_search
from assay.store.txn import sqlite_write_lock

BATCH_MAX = 1024
ADVISORY_LOCK = 7234002


@dataclass(frozen=True)
class StoredEntry:
    """An entry as stored, with what a client needs to prove it."""

    index: int
    leaf_hash: bytes
    kind: str
    integrated_time: int
    body: bytes
    artifact_hash: str | None = None


@dataclass(frozen=True)
class Receipt:
    """The answer to an append: the entry, a proof against a checkpoint, and the SET."""

    entry: StoredEntry
    created: bool
    tree_size: int
    root_hash: bytes
    proof: list[bytes]
    checkpoint: str
    set: bytes


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head."""

    size: int
    root_hash: bytes
    checkpoint: str


@dataclass(frozen=True)
class SideWrites:
    """Rows a caller commits in the same transaction as its entry (no commit of their own).

    ``claim`` runs first, in a savepoint: when it raises, that entry is left out of the batch and its caller gets the
    error (a replayed nonce, say), the rest of the batch goes on. ``record`` runs after indexes are assigned, with the
    entry's index; when it raises, the whole batch fails and no entry in it is acknowledged.
    """

    claim: Callable[[Connection], None] | None = None
    record: Callable[[Connection, int], None] | None = None


Item = tuple[CanonicalEntry, "Future[Sequenced]", SideWrites | None]


@dataclass(frozen=True)
class Sequenced:
    """What the sequencer hands back: the stored entry and the head it is in; the receipt is built by the caller.

    ``nodes`` holds the tree nodes an inclusion proof of a fresh entry needs (the right edge before the batch and
    the batch's own nodes), so the proof is computed from memory; an entry that already existed has ``None``.
    """

    entry: StoredEntry
    created: bool
    head: TreeHead
    nodes: dict[tuple[int, int], bytes] | None


class LogService:
    """Sequencing and reads for one log in one database."""

    def __init__(self, engine: Engine, identity: LogIdentity) -> None:
        self.engine = engine
        self.identity = identity
        self._queue: queue.Queue[tuple[CanonicalEntry | bytes, Future[Sequenced], SideWrites | None] | None] = (
            queue.Queue()
        )
        self._conn: Connection | None = None  # the sequencer's own connection, kept across batches
        self._size = -1
        self._compact: list[tuple[int, int, bytes]] = []
        self._thread = threading.Thread(target=self._run, name="log-sequencer", daemon=True)
        self._stopping = False
        # Set by the server: search-index keys of an entry, written in the batch's own transaction (one commit
        # per batch, and an acknowledged entry is always searchable); and a hook run after a created entry of
        # one of ``on_append_kinds`` is acknowledged (DSSE envelopes kept as evidence).
        self.index_keys: Callable[[CanonicalEntry], Iterable[str]] | None = None
        self.on_append: Callable[[StoredEntry, bytes], None] | None = None
        self.on_append_kinds: frozenset[str] = frozenset()
        self._ensure_head()
        self._thread.start()

    # ---- writes -------------------------------------------------------------------------

    def submit(self, entry: CanonicalEntry, timeout: float = 30.0, side: SideWrites | None = None) -> Receipt:
        """Append (or find) an entry, with ``side`` rows in the same transaction; returns once it is durably stored."""
        return self.receipt(self.enqueue(entry, side).result(timeout=timeout))

    def enqueue(self, entry: CanonicalEntry | bytes, side: SideWrites | None = None) -> Future[Sequenced]:
        """Queue an append; the future resolves once the entry is durably stored (then call :meth:`receipt`).

        ``entry`` may be a small proposal still to verify: the sequencer verifies it with the rest of its batch
        (one thread, no hand-off per request); a proposal that fails resolves the future with its ``InputError``.
        """
        fut: Future[Sequenced] = Future()
        self._queue.put((entry, fut, side))
        return fut

    def receipt(self, done: Sequenced) -> Receipt:
        """The answer for a sequenced entry: its inclusion proof against the head it was stored under, and its SET.

        Built by the caller, off the sequencer's path: a fresh entry's proof comes from the nodes kept in memory
        (no database read); an entry that already existed is proved from storage.
        """
        e, head = done.entry, done.head
        if done.nodes is not None:
            proof = tree.inclusion_proof(e.index, head.size, _memory_fetch(done.nodes))
        else:
            proof = self.inclusion_proof(e.index, head.size)
        sig = self.identity.signed_entry_timestamp(e.body, e.integrated_time, e.index)
        return Receipt(e, done.created, head.size, head.root_hash, proof, head.checkpoint, sig)

    def close(self) -> None:
        """Stop the sequencer after the queued work."""
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout=10)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH_MAX:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            verified = self._verified(batch)
            if not verified:
                continue
            try:
                self._sequence(verified)
            except BaseException as exc:  # answer every waiter; the sequencer keeps running
                self._size = -1  # reload the right edge from storage next time
                self._drop_connection()
                for _, fut, _ in verified:
                    if not fut.done():
                        fut.set_exception(exc)

    @staticmethod
    def _verified(batch: list[tuple[CanonicalEntry | bytes, Future[Sequenced], SideWrites | None]]) -> list[Item]:
        """Verify the proposals queued raw; each refused one is answered with its error and left out."""
        out: list[Item] = []
        for item, fut, side in batch:
            if isinstance(item, CanonicalEntry):
                out.append((item, fut, side))
                continue
            try:
                out.append((canonicalize(item), fut, side))
            except InputError as exc:
                fut.set_exception(exc)
        return out

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # a broken connection: nothing more to release
                pass
            self._conn = None

    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})"))
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _begin(self, conn: Connection) -> None:
        if conn.dialect.name != "postgresql":
            self._lock(conn)
        else:
            conn.begin()
            self._lock(conn)

    def _sequence(self, batch: list[Item]) -> None:
        """One transaction for the whole batch: callers' claims, indexes, entries, nodes, search keys, callers'
        records and a signed checkpoint."""
        conn = self._connection()
        with sqlite_write_lock(self.engine):
            self._begin(conn)
            try:
                batch = self._claimed(conn, batch)
                size = self._stored_size(conn)
                if size != self._size:
                    self._load_compact(conn, size)
                hashes = list({e.leaf_hash for e, _, _ in batch})
                existing = {
                    row.leaf_hash: _row(row)
                    for row in conn.execute(select(log_entries).where(log_entries.c.leaf_hash.in_(hashes)))
                } if hashes else {}  # fmt: skip
                fresh: list[CanonicalEntry] = []
                seen: set[bytes] = set()
                for e, _, _ in batch:
                    if e.leaf_hash not in existing and e.leaf_hash not in seen:
                        seen.add(e.leaf_hash)
                        fresh.append(e)
                now = int(time.time())
                stored = [
                    StoredEntry(size + i, e.leaf_hash, e.kind, now, e.body, e.artifact_hash)
                    for i, e in enumerate(fresh)
                ]
                by_hash = {**existing, **{s.leaf_hash: s for s in stored}}
                compact_before = list(self._compact)
                new_nodes, compact_after = tree.append(self._compact, [s.leaf_hash for s in stored], size)
                new_size = size + len(stored)
                memory = {(lvl, idx): h for lvl, idx, h in compact_before + new_nodes}
                if stored:
                    self._store(conn, fresh, stored, new_nodes)
                recorded = self._recorded(conn, batch, by_hash)
                if stored:
                    root = tree.fold([h for _, _, h in compact_after])
                    note = self.identity.checkpoint(new_size, root)
                    conn.execute(insert(log_checkpoints).values(size=new_size, root_hash=root, note=note, created=now))
                    head = TreeHead(new_size, root, note)
                else:
                    head = self._head(conn)
                if stored or recorded:
                    conn.commit()
                else:
                    conn.rollback()
                if stored:
                    self._compact, self._size = compact_after, new_size
            except BaseException:
                conn.rollback()
                raise
        created: set[bytes] = set()  # identical proposals in one batch: the first is created, the rest exist
        for e, fut, _ in batch:
            old = existing.get(e.leaf_hash)
            fresh_here = old is None and e.leaf_hash not in created
            created.add(e.leaf_hash)
            fut.set_result(Sequenced(by_hash[e.leaf_hash], fresh_here, head, None if old is not None else memory))

    @staticmethod
    def _claimed(conn: Connection, batch: list[Item]) -> list[Item]:
        """The batch without the entries whose claim failed (each in its own savepoint; their callers get the error)."""
        out: list[Item] = []
        for item in batch:
            side = item[2]
            if side is not None and side.claim is not None:
                sp = conn.begin_nested()
                try:
                    side.claim(conn)
                except Exception as exc:
                    sp.rollback()
                    item[1].set_exception(exc)
                    continue
                sp.commit()
            out.append(item)
        return out

    @staticmethod
    def _recorded(conn: Connection, batch: list[Item], by_hash: dict[bytes, StoredEntry]) -> bool:
        """Run the callers' records with their entries' indexes; True when there was any claim or record."""
        wrote = False
        for e, _, side in batch:
            if side is None:
                continue
            wrote = wrote or side.claim is not None
            if side.record is not None:
                side.record(conn, by_hash[e.leaf_hash].index)
                wrote = True
        return wrote

    def _store(
        self, conn: Connection, fresh: list[CanonicalEntry], stored: list[StoredEntry], nodes: list[Any]
    ) -> None:
        conn.execute(
            insert(log_entries),
            [
                {
                    "idx": s.index,
                    "leaf_hash": s.leaf_hash,
                    "kind": s.kind,
                    "artifact_hash": s.artifact_hash,
                    "integrated_time": s.integrated_time,
                    "body": s.body,
                }
                for s in stored
            ],
        )
        conn.execute(insert(log_nodes), [{"level": lvl, "idx": idx, "hash": h} for lvl, idx, h in nodes])
        search = self._search_rows(fresh, stored)
        if search:
            conn.execute(insert(log_search), search)

    def _search_rows(self, fresh: list[CanonicalEntry], stored: list[StoredEntry]) -> list[dict[str, Any]]:
        """The search-index rows of a batch; an entry without keys gets ``idx:N`` so indexing never stalls."""
        if self.index_keys is None:
            return []
        rows = []
        for e, s in zip(fresh, stored, strict=True):
            try:
                keys = set(self.index_keys(e))
            except Exception:  # a canonical body the indexer cannot read: the entry stays findable by index
                logging.getLogger("assay.log").exception("search keys of entry %s", s.index)
                keys = set()
            for k in sorted(keys or {f"idx:{s.index}"}):
                rows.append({"key": k[:320], "leaf_hash": s.leaf_hash, "idx": s.index})
        return rows

    def _stored_size(self, conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(log_checkpoints.c.size), 0))).scalar_one())

    def _load_compact(self, conn: Connection, size: int) -> None:
        keys = tree.perfect_subtrees(0, size)
        nodes = _fetch(conn, keys)
        self._compact = [(lvl, idx, nodes[(lvl, idx)]) for lvl, idx in keys]
        self._size = size

    def _ensure_head(self) -> None:
        with sqlite_write_lock(self.engine), self.engine.connect() as conn:
            self._begin(conn)
            if (
                self._stored_size(conn) == 0
                and conn.execute(select(func.count()).select_from(log_checkpoints)).scalar_one() == 0
            ):
                empty = tree.root(0, lambda keys: {})
                conn.execute(
                    insert(log_checkpoints).values(
                        size=0, root_hash=empty, note=self.identity.checkpoint(0, empty), created=int(time.time())
                    )
                )
                conn.commit()
            else:
                conn.rollback()

    # ---- reads --------------------------------------------------------------------------

    def _head(self, conn: Connection) -> TreeHead:
        row = conn.execute(select(log_checkpoints).order_by(log_checkpoints.c.size.desc()).limit(1)).one()
        return TreeHead(row.size, row.root_hash, row.note)

    def head(self) -> TreeHead:
        """The latest signed tree head."""
        with self.engine.connect() as conn:
            return self._head(conn)

    def checkpoint_at(self, size: int) -> TreeHead | None:
        """The signed tree head published for ``size``, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(log_checkpoints).where(log_checkpoints.c.size == size)).first()
        return TreeHead(row.size, row.root_hash, row.note) if row else None

    def _fetcher(self) -> tree.Fetch:
        def fetch(keys: Iterable[tree.NodeKey]) -> dict[tree.NodeKey, bytes]:
            with self.engine.connect() as conn:
                return _fetch(conn, list(keys))

        return fetch

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Audit path for ``index`` at tree ``size``."""
        return tree.inclusion_proof(index, size, self._fetcher())

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """Consistency proof between two tree sizes."""
        return tree.consistency_proof(first, second, self._fetcher())

    def entry_by_index(self, index: int) -> StoredEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(log_entries).where(log_entries.c.idx == index)).first()
        return _row(row) if row else None

    def entry_by_leaf_hash(self, leaf_hash: bytes) -> StoredEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(log_entries).where(log_entries.c.leaf_hash == leaf_hash)).first()
        return _row(row) if row else None

    def receipt_for(self, entry: StoredEntry) -> Receipt:
        """Proof material for a stored entry against the latest head."""
        head = self.head()
        return Receipt(
            entry,
            False,
            head.size,
            head.root_hash,
            self.inclusion_proof(entry.index, head.size),
            head.checkpoint,
            self.identity.signed_entry_timestamp(entry.body, entry.integrated_time, entry.index),
        )

    def nodes_at(self, level: int, start: int, count: int) -> list[bytes]:
        """Hashes of ``count`` consecutive nodes at ``level`` (for tiles)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(log_nodes.c.idx, log_nodes.c.hash)
                .where(log_nodes.c.level == level, log_nodes.c.idx >= start, log_nodes.c.idx < start + count)
                .order_by(log_nodes.c.idx)
            ).all()
        return [r.hash for r in rows]

    def entries_by_artifact_hash(self, artifact_hash: str, limit: int = 100) -> list[StoredEntry]:
        """Entries whose artifact (or DSSE payload) has this ``sha256:<hex>`` digest."""
        value = artifact_hash if artifact_hash.startswith("sha256:") else "sha256:" + artifact_hash
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(log_entries).where(log_entries.c.artifact_hash == value).order_by(log_entries.c.idx).limit(limit)
            ).all()
        return [_row(r) for r in rows]

    def recent(self, limit: int = 20) -> list[StoredEntry]:
        """The newest ``limit`` entries, newest first (for the dashboard)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(log_entries).order_by(log_entries.c.idx.desc()).limit(max(1, limit))).all()
        return [_row(r) for r in rows]

    def size_history(self, points: int = 120) -> list[tuple[int, int]]:
        """(time, tree size) at most ``points`` times, oldest first: the largest size signed in each time bucket."""
        with self.engine.connect() as conn:
            first, last = conn.execute(
                select(func.min(log_checkpoints.c.created), func.max(log_checkpoints.c.created))
            ).one()
            if first is None:
                return []
            width = max(1, (int(last) - int(first)) // max(1, points - 1) + 1)
            bucket = (log_checkpoints.c.created - int(first)) // width
            rows = conn.execute(
                select(func.max(log_checkpoints.c.created), func.max(log_checkpoints.c.size))
                .group_by(bucket)
                .order_by(func.max(log_checkpoints.c.size))
            ).all()
        return [(int(t), int(n)) for t, n in rows]

    def bodies(self, start: int, count: int) -> list[bytes]:
        """Bodies of ``count`` consecutive entries (for entry bundles)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(log_entries.c.body)
                .where(log_entries.c.idx >= start, log_entries.c.idx < start + count)
                .order_by(log_entries.c.idx)
            ).all()
        return [r.body for r in rows]


def _row(row: Any) -> StoredEntry:
    return StoredEntry(row.idx, row.leaf_hash, row.kind, row.integrated_time, row.body, row.artifact_hash)


def _fetch(conn: Connection, keys: list[tree.NodeKey]) -> dict[tree.NodeKey, bytes]:
    """Fetch node hashes in one statement, one ``level = L AND idx IN (...)`` term per level (primary-key lookups).

    The SQL is built from integers only (formatted with ``:d``), which keeps the
    hot path free of expression-building overhead without any injection risk.
    """
    by_level: dict[int, list[int]] = {}
    for level, idx in keys:
        by_level.setdefault(int(level), []).append(int(idx))
    if not by_level:
        return {}
    terms = " OR ".join(
        f"(level = {lvl:d} AND idx IN ({','.join(f'{i:d}' for i in idxs)}))" for lvl, idxs in by_level.items()
    )
    rows = conn.exec_driver_sql("SELECT level, idx, hash FROM log_nodes WHERE " + terms).fetchall()
    return {(r[0], r[1]): bytes(r[2]) for r in rows}


def _memory_fetch(memory: dict[tree.NodeKey, bytes]) -> tree.Fetch:
    def fetch(keys: Iterable[tree.NodeKey]) -> dict[tree.NodeKey, bytes]:
        return {k: memory[k] for k in keys if k in memory}

    return fetch
