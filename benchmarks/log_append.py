"""Sustained appends to the log: entries/s and p50/p99 latency of POST /api/v1/log/entries.

Starts a real ``assay server`` on loopback (SQLite, then PostgreSQL when
reachable), pre-signs the entries, then drives it from several client
processes with many concurrent connections each. Prints one line per store.
Rekor v2, for comparison, makes each client wait for a checkpoint interval
(seconds) before an entry is acknowledged with a proof.

The same load runs first against the tranche-one log (``BENCH_BASELINE``,
commit ``ef09138``, extracted with ``git archive`` and run from its own
``src``), then against this checkout, one after the other on the same
machine, and the ratio is printed. After each run every acknowledged entry
must be in the log: the run fails loudly (exit 1) when the tree is smaller
than the number of 201 answers, or when a sample of acknowledged UUIDs
cannot be read back.
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
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.conftest import PG_ADMIN, ServerProcess, _pg_available

ENTRIES = int(os.environ.get("BENCH_ENTRIES", 8000))
PROCS = int(os.environ.get("BENCH_CLIENT_PROCS", 2))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 32))
WORKERS = int(os.environ.get("BENCH_SERVER_WORKERS", 1))
BASELINE = os.environ.get("BENCH_BASELINE", "ef09138")
SECONDS = int(os.environ.get("BENCH_SECONDS", 10))
REPO = Path(__file__).resolve().parents[1]


class LostEntries(RuntimeError):
    """Acknowledged entries missing from the log afterwards."""


def baseline_src(ref: str, into: Path) -> Path:
    """The ``src`` tree of ``ref`` (a commit of this repository), extracted for a baseline run."""
    import subprocess

    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


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
    async def run() -> tuple[list[float], list[str]]:
        lat: list[float] = []
        acked: list[str] = []
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
                    if r.status_code == 201:
                        acked.append(next(iter(r.json())))

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        if errors:
            print(f"  (client retried {len(errors)} requests after connection errors)", file=sys.stderr)
        return lat, acked

    try:
        q.put(asyncio.run(run()))
    except BaseException:
        q.put(([], []))
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


def bench_wrk(label: str, database: str | None, env: dict[str, str], seconds: int = SECONDS) -> float:
    """Drive the server with wrk (C, so the load generator does not starve the server of CPU); entries/s."""
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
        srv = ServerProcess(Path(d) / "data", database, workers=WORKERS, env=env).start()
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
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    acknowledged = int(total.group(1)) - int(errors.group(1) if errors else 0) if total else 0
    print(
        f"{label:22s}: {float(rate.group(1)) if rate else 0:,.0f} entries/s; latency p50 {p50.group(1) if p50 else '?'}, "
        f"p99 {p99.group(1) if p99 else '?'}; {size} entries in the log, {acknowledged} acknowledged; "
        f"non-201: {errors.group(1) if errors else 0} (wrk, {CONCURRENCY} connections; {WORKERS} server worker(s))"
    )
    if size < acknowledged:
        raise LostEntries(f"{label}: {acknowledged} entries acknowledged but the log holds {size}")
    return float(rate.group(1)) if rate else 0.0


def bench(label: str, database: str | None, env: dict[str, str] | None = None) -> float:
    import shutil

    env = env or {}
    if shutil.which("wrk"):
        return bench_wrk(label, database, env)
    with tempfile.TemporaryDirectory() as d:
        srv = ServerProcess(Path(d) / "data", database, workers=WORKERS, env=env).start()
        try:
            per = ENTRIES // PROCS
            batches = [_proposals(f"{label}{p}", per) for p in range(PROCS)]
            q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
            procs = [mp.Process(target=_client, args=(srv.url, b, q)) for b in batches]
            t = time.perf_counter()
            for p in procs:
                p.start()
            results = [q.get() for _ in procs]
            for p in procs:
                p.join()
            elapsed = time.perf_counter() - t
            lat = [x for r in results for x in r[0]]
            acked = [u for r in results for u in r[1]]
            _check_acknowledged(srv.url, label, acked)
        finally:
            srv.stop()
    lat.sort()
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    print(
        f"{label:22s}: {len(lat)} entries in {elapsed:.1f} s = {len(lat) / elapsed:,.0f} entries/s; "
        f"latency p50 {statistics.median(lat) * 1000:.1f} ms, p99 {p99:.1f} ms "
        f"({WORKERS} server workers; {PROCS} client processes x {CONCURRENCY} connections)"
    )
    return len(lat) / elapsed


def _check_acknowledged(url: str, label: str, acked: list[str]) -> None:
    """Every acknowledged UUID must be in the log: the size, and a sample read back."""
    size = httpx.get(url + "/api/v1/log").json()["treeSize"]
    if size < len(acked):
        raise LostEntries(f"{label}: {len(acked)} entries acknowledged but the log holds {size}")
    for uuid in acked[:: max(1, len(acked) // 200)]:
        if httpx.get(f"{url}/api/v1/log/entries/{uuid}").status_code != 200:
            raise LostEntries(f"{label}: acknowledged entry {uuid} cannot be read back")


def run_pair(store: str, database_for: Any) -> None:
    """The baseline, then this checkout, on the same store; prints the ratio."""
    with tempfile.TemporaryDirectory() as d:
        old_src = baseline_src(BASELINE, Path(d))
        before = bench(f"{store} @ {BASELINE}", database_for(), {"PYTHONPATH": str(old_src)})
    now = bench(f"{store} @ this checkout", database_for(), {"PYTHONPATH": str(REPO / "src")})
    print(f"{store:22s}: {now / before if before else float('nan'):.2f}x the {BASELINE} log in the same run")


def main() -> None:
    import psycopg

    def sqlite() -> str | None:
        return None

    made: list[str] = []

    def fresh_pg() -> str:
        name = "assay_bench_" + secrets.token_hex(4)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    try:
        run_pair("sqlite", sqlite)
        if _pg_available():
            run_pair("postgresql", fresh_pg)
        else:
            print("postgresql: not reachable, skipped")
    except LostEntries as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        for name in made:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
