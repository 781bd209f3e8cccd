"""Proof generation on a big tree: bulk-load N entries (default 10,000,000) into SQLite, then time proofs.

The bulk load writes entries, every perfect-subtree node and a signed checkpoint
exactly as the sequencer would (same tables, same tree code), with fsync off
for speed. Then 2,000 random inclusion proofs and 2,000 random consistency
proofs are generated through ``LogService`` (database reads included) and
checked; p50/p99 are printed (target p99 <= 2 ms).
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from assay.crypto import keys
from assay.crypto.signer import KeyFileSigner
from assay.log import tree
from assay.log.note import LogIdentity
from assay.log.service import LogService
from assay.store.db import database_url, migrate, open_engine
from assay.verify import merkle

N = int(os.environ.get("BENCH_TREE_SIZE", 10_000_000))
CHUNK = 200_000


def bulk_load(db: Path, identity: LogIdentity) -> bytes:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous=OFF")
    compact: list[tuple[int, int, bytes]] = []
    t = time.perf_counter()
    for start in range(0, N, CHUNK):
        end = min(N, start + CHUNK)
        bodies = [b'{"bulk":%d}' % i for i in range(start, end)]
        leaves = [hashlib.sha256(b"\x00" + b).digest() for b in bodies]
        new, compact = tree.append(compact, leaves, start)
        conn.executemany(
            "INSERT INTO log_entries (idx, leaf_hash, kind, artifact_hash, integrated_time, body) VALUES (?, ?, 'bulk', NULL, 0, ?)",
            ((start + i, leaves[i], bodies[i]) for i in range(len(bodies))),
        )
        conn.executemany("INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)", new)
        conn.commit()
        print(f"\r  loaded {end:,} entries ({time.perf_counter() - t:.0f} s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    root = tree.fold([h for _, _, h in compact])
    conn.execute(
        "INSERT INTO log_checkpoints (size, root_hash, note, created) VALUES (?, ?, ?, 0)",
        (N, root, identity.checkpoint(N, root)),
    )
    conn.commit()
    conn.close()
    return root


def main() -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        data = Path(d)
        engine = open_engine(database_url(None, data))
        migrate(engine)
        engine.dispose()
        key = keys.generate("ecdsa-p256")
        identity = LogIdentity(
            "bench - 1", "bench", hashlib.sha256(keys.spki_der(key.public_key())).digest(), KeyFileSigner(key)
        )
        t = time.perf_counter()
        root = bulk_load(data / "assay.db", identity)
        print(f"bulk load: {N:,} entries in {time.perf_counter() - t:.0f} s")
        svc = LogService(engine, identity)
        rng = random.Random(1)
        incl, cons = [], []
        for _ in range(2000):
            i = rng.randrange(N)
            s = time.perf_counter()
            proof = svc.inclusion_proof(i, N)
            incl.append(time.perf_counter() - s)
            leaf = hashlib.sha256(b"\x00" + b'{"bulk":%d}' % i).digest()
            assert merkle.root_from_inclusion_proof(i, N, leaf, proof) == root
        for _ in range(2000):
            m = rng.randrange(1, N)
            s = time.perf_counter()
            svc.consistency_proof(m, N)
            cons.append(time.perf_counter() - s)
        svc.close()
        for name, xs in (("inclusion", incl), ("consistency", cons)):
            xs.sort()
            print(
                f"{name:11s} proof at size {N:,}: p50 {statistics.median(xs) * 1000:.2f} ms, p99 {xs[int(len(xs) * 0.99) - 1] * 1000:.2f} ms (target p99 <= 2 ms)"
            )


if __name__ == "__main__":
    main()
