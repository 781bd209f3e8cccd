"""Token-checking overhead: an authenticated read vs the same endpoint without auth, in one run.

Starts one real server (uvicorn, SQLite, then PostgreSQL when reachable) whose app carries,
beside ``GET /api/v1/projects/{project}`` (guarded by ``require("project.read")``), an
unguarded twin doing the same work. One keep-alive client alternates blocks of requests
between the two; prints p50/p99 latency and requests/s for each and the added latency.
Target: <= 0.3 ms added at p50.
"""

import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.conftest import PG_ADMIN, _pg_available

REQUESTS = int(os.environ.get("BENCH_REQUESTS", 4000))
BLOCK = 200


def _serve(data_dir: str, port: int, database: str | None) -> None:
    """(child) The real app plus an unguarded twin of the project read, on uvicorn."""
    import uvicorn
    from fastapi import Request

    from assay.server.app import asgi
    from assay.server.config import Settings

    wrapped = asgi(Settings(Path(data_dir), database, port=port, dev=True, login_rate_limit="100000/m"))
    app = wrapped.app.app  # AuditMiddleware -> BodyLimit -> FastAPI

    @app.get("/bench/noauth/projects/{project}")
    def twin(request: Request, project: str) -> dict[str, object]:
        access = request.app.state.access
        p = access.projects.get(project)
        return {
            "name": p.name,
            "parent": access.projects.parent_name(p),
            "created": p.created,
            "createdBy": p.created_by,
            "role": None,
        }

    uvicorn.run(wrapped, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def run(label: str, database: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = _port()
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", tmp, str(port), database or ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            with httpx.Client(base_url=url, timeout=30) as c:
                idt = c.post("/dev/oidc/token", json={"email": "admin@example.com"}).json()["id_token"]
                sess = c.post("/api/v1/auth/session", json={"identityToken": idt}).json()["session"]
                name = "bench-" + secrets.token_hex(3)
                c.post("/api/v1/projects", json={"name": name}, headers={"Authorization": f"Bearer {sess}"})
                tok = c.post(
                    f"/api/v1/projects/{name}/tokens",
                    json={"role": "viewer"},
                    headers={"Authorization": f"Bearer {sess}"},
                ).json()["token"]
                auth = ("/api/v1/projects/" + name, {"Authorization": f"Bearer {tok}"})
                open_ = ("/bench/noauth/projects/" + name, {})
                lat: dict[str, list[float]] = {"auth": [], "noauth": []}
                wall = {"auth": 0.0, "noauth": 0.0}
                for warm in (auth, open_):
                    for _ in range(200):
                        c.get(warm[0], headers=warm[1]).raise_for_status()
                for i in range(REQUESTS // BLOCK):
                    for key, (path, headers) in (("auth", auth), ("noauth", open_))[:: 1 if i % 2 else -1]:
                        start = time.perf_counter()
                        for _ in range(BLOCK // 2):
                            t = time.perf_counter()
                            r = c.get(path, headers=headers)
                            lat[key].append(time.perf_counter() - t)
                            if r.status_code != 200:
                                raise RuntimeError(r.text)
                        wall[key] += time.perf_counter() - start
            cold = _uncached(database or f"sqlite:///{tmp}/assay.db", tok, name)
        finally:
            child.terminate()
            child.wait(timeout=20)
    a50, n50 = _pct(lat["auth"], 0.5), _pct(lat["noauth"], 0.5)
    a99, n99 = _pct(lat["auth"], 0.99), _pct(lat["noauth"], 0.99)
    ars, nrs = len(lat["auth"]) / wall["auth"], len(lat["noauth"]) / wall["noauth"]
    print(
        f"{label:<10} token-checked: p50 {a50:.3f} ms  p99 {a99:.3f} ms  {ars:,.0f} req/s | "
        f"no auth: p50 {n50:.3f} ms  p99 {n99:.3f} ms  {nrs:,.0f} req/s | "
        f"added p50 {a50 - n50:+.3f} ms  p99 {a99 - n99:+.3f} ms  throughput x{ars / nrs:.2f}  "
        f"(mean {1000 * (statistics.fmean(lat['auth']) - statistics.fmean(lat['noauth'])):+.3f} ms)"
    )
    print(
        f"{'':<10} uncached check (cache bypassed: the database path, in-process): p50 {cold[0]:.3f} ms  p99 {cold[1]:.3f} ms"
    )


def _uncached(url: str, token: str, project: str) -> tuple[float, float]:
    """The database path of one token check (authenticate + role), bypassing the per-process cache."""
    from assay.access.credentials import Credentials
    from assay.store.db import database_url, open_engine

    engine = open_engine(database_url(url, Path("."))) if url.startswith("postgres") else open_engine(url)
    creds = Credentials(engine)
    times = []
    for _ in range(1000):
        t = time.perf_counter()
        creds.role_in(creds.authenticate(token), project)
        times.append(time.perf_counter() - t)
    engine.dispose()
    return _pct(times, 0.5), _pct(times, 0.99)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], int(sys.argv[3]), sys.argv[4] or None)
        return
    print(
        f"authz: {REQUESTS // 2} sequential GETs per variant, one keep-alive connection, target <= 0.3 ms added at p50"
    )
    run("sqlite", None)
    if _pg_available():
        import psycopg

        name = "assay_bench_" + secrets.token_hex(4)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            run("postgresql", PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
