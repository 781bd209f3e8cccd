"""Sustained appends to the log: entries/s and p50/p99 latency of POST /api/v1/log/entries.

Starts a real ``assay server`` on loopback (SQLite, then PostgreSQL when
reachable), pre-signs the entries, then drives it from several client
processes with many concurrent connections each. Prints one line per store.
Rekor v2, for comparison, makes each client wait for a checkpoint interval
(seconds) before an entry is acknowledged with a proof.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.conftest import PG_ADMIN, ServerProcess, _pg_available

ENTRIES = int(os.environ.get("BENCH_ENTRIES", 8000))
PROCS = int(os.environ.get("BENCH_CLIENT_PROCS", 2))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 32))
WORKERS = int(os.environ.get("BENCH_SERVER_WORKERS", 1))


def _proposals(seed: str, n: int) -> list[bytes]:
    import json

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    from assay.log.entries import hashedrekord_proposal

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = []
    for i in range(n):
        d = hashlib.sha256(f"{seed}-{i}".encode()).digest()
        out.append(
            json.dumps(hashedrekord_proposal(key.sign(d, ec.ECDSA(Prehashed(hashes.SHA256()))), d, pem)).encode()
        )
    return out


def _client(url: str, bodies: list[bytes], q: mp.Queue) -> None:  # type: ignore[type-arg]
    async def run() -> list[float]:
        lat: list[float] = []
        errors: list[int] = []
        it = iter(bodies)
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

            async def worker() -> None:
                for body in it:
                    t = time.perf_counter()
                    for _attempt in range(3):
                        try:
                            r = await client.post(
                                "/api/v1/log/entries", content=body, headers={"Content-Type": "application/json"}
                            )
                            break
                        except httpx.TransportError:
                            errors.append(1)
                    else:
                        raise RuntimeError("connection kept failing")
                    lat.append(time.perf_counter() - t)
                    if r.status_code not in (201, 409):
                        raise RuntimeError(r.text)

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        if errors:
            print(f"  (client retried {len(errors)} requests after connection errors)", file=sys.stderr)
        return lat

    try:
        q.put(asyncio.run(run()))
    except BaseException:
        q.put([])
        raise


WRK_SCRIPT = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies+1] = line end
local counter = 0
local threadid = 0
setup = function(thread) thread:set("tid", threadid); threadid = threadid + 1 end
init = function(args) counter = tid * 1000000 end
request = function()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/log/entries", {["Content-Type"]="application/json"}, bodies[(counter %% #bodies) + 1])
end
"""


def bench_wrk(label: str, database: str | None, seconds: int = 10) -> None:
    """Drive the server with wrk (C, so the load generator does not starve the server of CPU)."""
    import re
    import shutil
    import subprocess

    wrk = shutil.which("wrk")
    assert wrk
    with tempfile.TemporaryDirectory() as d:
        bodies = Path(d) / "bodies.txt"
        # more distinct entries than wrk can send, so every request is a fresh append
        bodies.write_bytes(b"\n".join(_proposals(label, 30000)) + b"\n")
        script = Path(d) / "post.lua"
        script.write_text(WRK_SCRIPT % bodies)
        srv = ServerProcess(Path(d) / "data", database, workers=WORKERS).start()
        try:
            out = subprocess.run(
                [wrk, "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "--latency", "-s", str(script), srv.url],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            size = httpx.get(srv.url + "/api/v1/log").json()["treeSize"]
        finally:
            srv.stop()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(
        f"{label:10s}: {float(rate.group(1)) if rate else 0:,.0f} entries/s; latency p50 {p50.group(1) if p50 else '?'}, "
        f"p99 {p99.group(1) if p99 else '?'}; {size} entries in the log; non-201: {errors.group(1) if errors else 0} "
        f"(wrk, {CONCURRENCY} connections; {WORKERS} server worker(s))"
    )


def bench(label: str, database: str | None) -> None:
    import shutil

    if shutil.which("wrk"):
        bench_wrk(label, database)
        return
    with tempfile.TemporaryDirectory() as d:
        srv = ServerProcess(Path(d) / "data", database, workers=WORKERS).start()
        try:
            per = ENTRIES // PROCS
            batches = [_proposals(f"{label}{p}", per) for p in range(PROCS)]
            q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
            procs = [mp.Process(target=_client, args=(srv.url, b, q)) for b in batches]
            t = time.perf_counter()
            for p in procs:
                p.start()
            lat = [x for _ in procs for x in q.get()]
            for p in procs:
                p.join()
            elapsed = time.perf_counter() - t
        finally:
            srv.stop()
    lat.sort()
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    print(
        f"{label:10s}: {len(lat)} entries in {elapsed:.1f} s = {len(lat) / elapsed:,.0f} entries/s; "
        f"latency p50 {statistics.median(lat) * 1000:.1f} ms, p99 {p99:.1f} ms "
        f"({WORKERS} server workers; {PROCS} client processes x {CONCURRENCY} connections)"
    )


def main() -> None:
    bench("sqlite", None)
    if _pg_available():
        import psycopg

        name = "assay_bench_" + secrets.token_hex(4)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            bench("postgresql", PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        print("postgresql: not reachable, skipped")


if __name__ == "__main__":
    main()
