"""Real servers for integration tests: assay on a random loopback port, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ASSAY, require

PG_ADMIN = os.environ.get("ASSAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """``assay server`` in a child process, bound to 127.0.0.1."""

    data_dir: Path
    database: str | None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    workers: int = 1
    extra: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [str(ASSAY), "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        if self.database:
            args += ["--database", self.database]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        args += self.extra
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        self.proc = subprocess.Popen(
            args, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT, env={**os.environ, **self.env}
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite in the data directory, else a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    yield from _fresh_pg()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database (for tests only PostgreSQL can run)."""
    yield from _fresh_pg()


def _fresh_pg() -> Iterator[str]:
    require(_pg_available(), f"PostgreSQL at {PG_ADMIN}")
    import psycopg

    name = "assay_test_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def server(tmp_path: Path, database: str | None) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data", database).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def dev_server(tmp_path: Path, database: str | None) -> Iterator[ServerProcess]:
    """A --dev server (built-in OIDC issuer), on SQLite and on PostgreSQL."""
    srv = ServerProcess(tmp_path / "data", database, extra=["--dev"]).start()
    try:
        yield srv
    finally:
        srv.stop()


def dev_token(srv: ServerProcess, flavour: str = "", **body: object) -> str:
    """Mint a token from a --dev server's issuer (``flavour`` "" for email, "github" for Actions-shaped)."""
    path = "/dev/oidc/token" if not flavour else f"/dev/oidc/{flavour}/token"
    r = httpx.post(srv.url + path, json=body, timeout=10)
    r.raise_for_status()
    return str(r.json()["id_token"])
