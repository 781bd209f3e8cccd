"""Evidence store and artifact repository: query latency over a bulk-loaded table, upload throughput, 2 GiB files.

1. Bulk-load ``--rows`` evidence rows (default 200,000; the issue's figure is
   ``--rows 1000000``) straight into the tables, start a real ``assay server``
   on that store (SQLite, then PostgreSQL when reachable) and query
   ``GET /evidence?subject=sha256:…`` for random known digests: p50/p99 over
   HTTP, next to the bare SQL lookup (the floor the HTTP layer adds to).
2. Upload throughput with verification: distinct DSSE bundles signed by a
   trusted key, posted by 2 client processes × 16 connections; next to
   securesystemslib verifying the same signatures alone (no HTTP, no storage).
3. ``assay publish`` / ``assay fetch`` of a ``--artifact-mib`` file (default
   2048): throughput and peak RSS of client and server, next to pushing and
   pulling the same file as a blob to Debian's ``docker-registry``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing as mp
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.conftest import PG_ADMIN, RegistryProcess, ServerProcess, _pg_available

ASSAY = Path(sys.executable).parent / "assay"
PROJECT = "bench"


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _fresh_pg() -> str:
    import psycopg

    name = "assay_bench_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def _drop_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def bulk_load(data_dir: Path, database: str | None, rows: int) -> list[str]:
    """Insert ``rows`` evidence rows (one subject each) in batches; returns a sample of subject digests."""
    from sqlalchemy import insert

    from assay.store.db import database_url, migrate, open_engine
    from assay.store.schema import evidence, evidence_subjects
    from assay.store.txn import write_transaction

    data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_engine(database_url(database, data_dir))
    migrate(engine)
    sample: list[str] = []
    batch = 20000
    now = int(time.time())
    ptypes = [
        "https://slsa.dev/provenance/v1",
        "https://spdx.dev/Document",
        "https://in-toto.io/attestation/vulns/v0.2",
    ]
    start = time.perf_counter()
    for base in range(0, rows, batch):
        n = min(batch, rows - base)
        ev, subs = [], []
        for i in range(base, base + n):
            d = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
            subject = "sha256:" + hashlib.sha256(b"s" + i.to_bytes(8, "big")).hexdigest()
            ev.append({"id": i + 1, "project": PROJECT, "digest": d, "kind": "bundle", "predicate_type": ptypes[i % 3],
                       "signer": f"key:{i % 50}", "issuer": None, "claims": None, "verified": 1, "reason": None,
                       "verified_time": now - i, "log_entry": None, "uploader": "bench", "size": 1000})  # fmt: skip
            subs.append({"evidence_id": i + 1, "digest": subject, "project": PROJECT, "name": f"artifact-{i}"})
            if i % max(1, rows // 5000) == 0:
                sample.append(subject)
        with write_transaction(engine) as conn:  # one real transaction per batch (SQLite is in manual-transaction mode)
            conn.execute(insert(evidence), ev)
            conn.execute(insert(evidence_subjects), subs)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('evidence', 'id'), (SELECT max(id) FROM evidence))"
            )
            conn.exec_driver_sql("ANALYZE evidence; ANALYZE evidence_subjects")
    print(f"  loaded {rows:,} rows in {time.perf_counter() - start:.1f}s", flush=True)
    engine.dispose()
    return sample


def query_latency(srv: ServerProcess, sample: list[str], n: int) -> tuple[list[float], list[float]]:
    """(HTTP latencies, bare SQL latencies) in ms for ``n`` random subject queries."""
    from assay.evidence.store import EvidenceStore
    from assay.store.db import database_url, open_engine

    picks = [random.choice(sample) for _ in range(n)]
    http: list[float] = []
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        for s in picks[:50]:  # warm up
            client.get(f"/api/v1/projects/{PROJECT}/evidence", params={"subject": s})
        for s in picks:
            t = time.perf_counter()
            r = client.get(f"/api/v1/projects/{PROJECT}/evidence", params={"subject": s})
            http.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and len(r.json()["items"]) == 1, r.text
    store = EvidenceStore(open_engine(database_url(srv.database, srv.data_dir)), lambda: None)
    sql: list[float] = []
    for s in picks:
        t = time.perf_counter()
        store.search(PROJECT, subject=s)
        sql.append((time.perf_counter() - t) * 1000)
    store.engine.dispose()
    return http, sql


def _bundles(n: int, key_path: Path) -> list[bytes]:
    from assay.crypto import keys
    from assay.crypto.signer import KeyFileSigner
    from assay.sign import blob

    signer = KeyFileSigner(keys.load_private(key_path, None))
    out = []
    for i in range(n):
        st = blob.make_statement(f"a{i}", hashlib.sha256(secrets.token_bytes(16)).digest(),
                                 "https://slsa.dev/provenance/v1", {"i": i})  # fmt: skip
        out.append(blob.sign_statement(signer, st).to_bytes())
    return out


def _uploader(url: str, bodies: list[bytes], conc: int, q: Any) -> None:
    async def main() -> int:
        count = 0
        it = iter(bodies)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:

            async def worker() -> None:
                nonlocal count
                for body in it:
                    r = await client.post(f"/api/v1/projects/{PROJECT}/evidence", content=body)
                    count += r.status_code == 201

            await asyncio.gather(*(worker() for _ in range(conc)))
        return count

    q.put(asyncio.run(main()))


def upload_throughput(srv: ServerProcess, work: Path, n: int) -> tuple[float, float]:
    """(uploads/s with verification over HTTP, bare signature verifications/s by securesystemslib)."""
    subprocess.run([str(ASSAY), "keygen", "--output-prefix", "k"], cwd=work, check=True, capture_output=True)
    httpx.put(
        f"{srv.url}/api/v1/projects/{PROJECT}/trust", json={"keys": [(work / "k.pub").read_text()]}
    ).raise_for_status()
    bodies = _bundles(n, work / "k.key")
    procs = 2
    q: Any = mp.Queue()
    parts = [bodies[i::procs] for i in range(procs)]
    start = time.perf_counter()
    ps = [mp.Process(target=_uploader, args=(srv.url, p, 16, q)) for p in parts]
    for p in ps:
        p.start()
    stored = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    elapsed = time.perf_counter() - start
    assert stored == n, f"only {stored} of {n} uploads were stored"
    # peer: securesystemslib verifying the same DSSE signatures, in process
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import Signature, SSlibKey  # type: ignore[attr-defined]

    from assay.formats.bundle import parse_bundle

    key = SSlibKey.from_crypto(load_pem_public_key((work / "k.pub").read_bytes()))
    t = time.perf_counter()
    for body in bodies:
        env = parse_bundle(body).dsse_envelope
        assert env is not None
        key.verify_signature(Signature(key.keyid, env.signatures[0].sig.hex()), env.pae())
    peer = n / (time.perf_counter() - t)
    return n / elapsed, peer


def _child_rss(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one child command."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "assert r.returncode == 0, r.stderr.decode()\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    secs, rss = out.stdout.split()
    return float(secs), int(rss) / 1024


def _server_hwm(srv: ServerProcess) -> float:
    assert srv.proc is not None
    for line in Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def big_files(srv: ServerProcess, work: Path, mib: int) -> dict[str, float]:
    """publish/fetch of a MiB-sized file through assay, and the same bytes through docker-registry."""
    big = work / "big.bin"
    with big.open("wb") as fh:
        block = secrets.token_bytes(1 << 20)
        for _ in range(mib):
            fh.write(block)
    policy = (
        "apiVersion: assay.dev/v1\nkind: Policy\nmetadata:\n  name: bench\nspec:\n  mode: enforce\n"
        "  match:\n    blobs: ['*.bin']\n  require:\n    - name: signed\n      signature:\n"
        "        authorities:\n          keys: [k.pub]\n"
    )
    (work / "policy.yaml").write_text(policy)
    common = ["--server", srv.url, "--project", PROJECT]
    subprocess.run(
        [str(ASSAY), "repository", "policy", "policy.yaml", "--file", "k.pub", *common],
        cwd=work,
        check=True,
        capture_output=True,
    )
    subprocess.run([str(ASSAY), "sign-blob", "big.bin", "--key", "k.key"], cwd=work, check=True, capture_output=True)
    before = _server_hwm(srv)
    pub_s, pub_rss = _child_rss([str(ASSAY), "publish", "big.bin", "--name", "big.bin", "--version", "1",
                                 "--bundle", "big.bin.sigstore.json", *common], work)  # fmt: skip
    fetch_s, fetch_rss = _child_rss([str(ASSAY), "fetch", f"{PROJECT}/big.bin@1", "--out", "got.bin",
                                     "--server", srv.url], work)  # fmt: skip
    server_rss = _server_hwm(srv)
    (work / "got.bin").unlink()
    # peer: the same bytes as one blob in docker-registry (monolithic PUT, then GET), streamed by httpx
    reg = RegistryProcess(work / "registry").start()
    try:
        h = hashlib.sha256()
        with big.open("rb") as src:
            while chunk := src.read(1 << 20):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()

        def chunks() -> Any:
            with big.open("rb") as src:
                while block := src.read(1 << 20):
                    yield block

        t = time.perf_counter()
        loc = httpx.post(f"http://{reg.host}/v2/bench/blobs/uploads/").headers["Location"]
        url = loc if loc.startswith("http") else f"http://{reg.host}{loc}"
        httpx.put(url + ("&" if "?" in url else "?") + f"digest={digest}", content=chunks(),
                  headers={"Content-Length": str(big.stat().st_size)}, timeout=600).raise_for_status()  # fmt: skip
        reg_put = time.perf_counter() - t
        t = time.perf_counter()
        got = hashlib.sha256()
        with (
            httpx.stream("GET", f"http://{reg.host}/v2/bench/blobs/{digest}", timeout=600) as r,
            (work / "reg.bin").open("wb") as out,
        ):  # what a client does with a pulled blob: write it, check its digest
            for block in r.iter_bytes(1 << 20):
                got.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        reg_get = time.perf_counter() - t
        assert "sha256:" + got.hexdigest() == digest
        (work / "reg.bin").unlink()
    finally:
        reg.stop()
    return {"mib": mib, "publish_s": pub_s, "fetch_s": fetch_s, "publish_rss": pub_rss, "fetch_rss": fetch_rss,
            "server_rss_before": before, "server_rss": server_rss, "reg_put_s": reg_put, "reg_get_s": reg_get}  # fmt: skip


def run_store(label: str, database: str | None, args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="assay-bench-evidence-"))
    try:
        print(f"[{label}]", flush=True)
        sample = bulk_load(work / "data", database, args.rows)
        srv = ServerProcess(work / "data", database).start(timeout=120)
        try:
            http, sql = query_latency(srv, sample, args.queries)
            print(f"  query by subject over {args.rows:,} rows: HTTP p50 {_pct(http, .5):.2f} ms, "
                  f"p99 {_pct(http, .99):.2f} ms (target p99 <= 10 ms); bare SQL p50 {_pct(sql, .5):.2f} ms, "
                  f"p99 {_pct(sql, .99):.2f} ms; HTTP/SQL p50 ratio {_pct(http, .5) / _pct(sql, .5):.1f}x",
                  flush=True)  # fmt: skip
            rate, peer = upload_throughput(srv, work, args.uploads)
            print(f"  uploads with verification: {rate:.0f}/s (target >= 300/s); securesystemslib verify alone "
                  f"{peer:.0f}/s; ratio {rate / peer:.2f}", flush=True)  # fmt: skip
            if args.artifact_mib and label == "sqlite":
                f = big_files(srv, work, args.artifact_mib)
                size = f["mib"]
                print(f"  publish {size} MiB: {size / f['publish_s']:.0f} MiB/s, client peak RSS {f['publish_rss']:.0f} MiB; "
                      f"docker-registry blob PUT {size / f['reg_put_s']:.0f} MiB/s; ratio {f['reg_put_s'] / f['publish_s']:.2f}",
                      flush=True)  # fmt: skip
                print(f"  fetch {size} MiB: {size / f['fetch_s']:.0f} MiB/s, client peak RSS {f['fetch_rss']:.0f} MiB; "
                      f"docker-registry blob GET {size / f['reg_get_s']:.0f} MiB/s; ratio {f['reg_get_s'] / f['fetch_s']:.2f}",
                      flush=True)  # fmt: skip
                print(f"  server peak RSS {f['server_rss']:.0f} MiB (before the big files: {f['server_rss_before']:.0f} MiB;"
                      " target < 150 MiB)", flush=True)  # fmt: skip
        finally:
            srv.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if database:
            _drop_pg(database)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000, help="evidence rows to bulk-load (issue: 1000000)")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--uploads", type=int, default=3000)
    ap.add_argument("--artifact-mib", type=int, default=2048, help="publish/fetch file size (0 skips)")
    ap.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    if args.store in ("sqlite", "both"):
        run_store("sqlite", None, args)
    if args.store in ("postgresql", "both"):
        if _pg_available():
            run_store("postgresql", _fresh_pg(), args)
        else:
            print("[postgresql] skipped: no server at " + PG_ADMIN)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
