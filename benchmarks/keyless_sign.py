"""End-to-end keyless signing throughput: token → certificate → log → timestamp → bundle.

16 concurrent clients (2 processes x 8 threads) on loopback against one
``assay server --dev`` (SQLite). assay's signer and sigstore-python's
``SigningContext`` sign the same files against the same server, in one run.
Tokens are minted beforehand by the server's development issuer.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.conftest import ServerProcess

N = int(os.environ.get("BENCH_SIGNATURES", 400))
PROCS, THREADS = 2, 8


def _tokens(url: str, n: int) -> list[str]:
    with httpx.Client(base_url=url) as c:
        return [c.post("/dev/oidc/token", json={"email": f"bench{i}@example.com"}).json()["id_token"] for i in range(n)]


def _assay_worker(url: str, tokens: list[str], q: mp.Queue) -> None:  # type: ignore[type-arg]
    from assay.sign import keyless

    def one(i_tok: tuple[int, str]) -> float:
        i, tok = i_tok
        t = time.perf_counter()
        keyless.sign_digest(url, tok, hashlib.sha256(f"artifact {i}".encode()).digest())
        return time.perf_counter() - t

    with ThreadPoolExecutor(THREADS) as pool:
        q.put(list(pool.map(one, enumerate(tokens))))


def _sigstore_worker(url: str, trust: str, tokens: list[str], q: mp.Queue) -> None:  # type: ignore[type-arg]
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    ctx = SigningContext.from_trust_config(ClientTrustConfig.from_json(trust))

    def one(i_tok: tuple[int, str]) -> float:
        i, tok = i_tok
        t = time.perf_counter()
        with ctx.signer(IdentityToken(tok)) as signer:  # a fresh Signer (key + certificate) per signature
            signer.sign_artifact(f"artifact {i}".encode())
        return time.perf_counter() - t

    with ThreadPoolExecutor(THREADS) as pool:
        q.put(list(pool.map(one, enumerate(tokens))))


def _run(label: str, target, args_for) -> None:  # type: ignore[no-untyped-def]
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [mp.Process(target=target, args=(*args_for(p), q)) for p in range(PROCS)]
    t = time.perf_counter()
    for p in procs:
        p.start()
    lat = sorted(x for _ in procs for x in q.get())
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t
    print(
        f"{label:16s}: {len(lat)} signatures in {elapsed:.1f} s = {len(lat) / elapsed:6.1f}/s; "
        f"p50 {statistics.median(lat) * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99) - 1] * 1000:.0f} ms"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        srv = ServerProcess(Path(d) / "data", None, extra=["--dev"]).start()
        try:
            trust = httpx.get(srv.url + "/api/v1/trustConfig").text
            per = N // PROCS
            toks = _tokens(srv.url, 2 * N)
            a, s = toks[:N], toks[N:]
            _run("assay", _assay_worker, lambda p: (srv.url, a[p * per : (p + 1) * per]))
            _run("sigstore-python", _sigstore_worker, lambda p: (srv.url, trust, s[p * per : (p + 1) * per]))
        finally:
            srv.stop()
    print(f"({PROCS} processes x {THREADS} threads = {PROCS * THREADS} concurrent clients, one server, 2 cores shared)")


if __name__ == "__main__":
    main()
