"""A malicious TUF mirror for the client attack tests, and ``assay tuf client`` as the client under attack.

:class:`Mirror` is a loopback HTTP server in the test process: every request is passed through to the real assay
server unless the test put a tampered answer (bytes, or an endless stream) under that path. :class:`Forger`
signs tampered metadata with the server's own online key (read from its data directory), the compromise TUF's
snapshot/timestamp roles are designed to survive.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Run, run_assay
from tests.integration.conftest import ServerProcess

ENDLESS = object()  # an override that streams bytes until the client hangs up


class Mirror:
    """Pass-through to ``upstream`` with per-path overrides: ``mirror.overrides["/tuf/p/timestamp.json"] = b"…"``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.overrides: dict[str, Any] = {}
        self.requests: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                body = mirror.overrides.get(self.path)
                if body is ENDLESS:
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(1 << 16):
                            self.wfile.write(b" " * 65536)
                    except OSError:
                        pass
                    return
                status = 200
                if body is None:
                    r = httpx.get(mirror.upstream + self.path, timeout=10)
                    status, body = r.status_code, r.content
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Client:
    """``assay tuf client`` with its own metadata directory, pointed at a repository URL (the mirror)."""

    metadata_url: str
    where: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def metadata_dir(self) -> Path:
        return self.where / "metadata"

    def run(self, command: str, *args: str, faketime: str | None = None) -> Run:
        argv = ["tuf", "client", command, *args, "--metadata-dir", str(self.metadata_dir)]
        if command != "init" and "--offline" not in args:
            argv += ["--metadata-url", self.metadata_url]
        if faketime is None:
            return run_assay(*argv, env=self.env)
        import shutil
        import subprocess

        from tests.conftest import ASSAY

        assert shutil.which("faketime"), "faketime is in the Makefile's SYSTEM_PACKAGES"
        p = subprocess.run(["faketime", "-f", faketime, str(ASSAY), *argv], capture_output=True, timeout=120)
        return Run(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))

    def init(self, root: bytes) -> Run:
        self.where.mkdir(parents=True, exist_ok=True)
        (self.where / "root.json").write_bytes(root)
        return self.run("init", str(self.where / "root.json"), "--metadata-url", self.metadata_url)


def refused(r: Run, reason: str) -> None:
    """The client refused with exit 1 and exactly one ``error[reason]`` line."""
    assert r.code == 1, (r.code, r.out, r.err)
    lines = [line for line in r.err.splitlines() if line.startswith("error[")]
    assert len(lines) == 1 and lines[0].startswith(f"error[{reason}]:"), r.err


class Forger:
    """Builds tampered snapshot/timestamp versions with the server's online key (a compromised online key)."""

    def __init__(self, srv: ServerProcess, project: str) -> None:
        from assay.tuf import keys

        self.signer = keys.tuf_signer(str(srv.data_dir / "keys" / "tuf-online.pem"))
        self.base = f"{srv.url}/tuf/{project}"
        self.path = f"/tuf/{project}"
        self.step = 0  # each forged version lies further ahead than the last

    def current(self, role: str) -> Any:
        from tuf.api.metadata import Metadata

        if role == "timestamp":
            return Metadata.from_bytes(httpx.get(f"{self.base}/timestamp.json", timeout=10).content)
        snap = self.current("timestamp").signed.snapshot_meta.version
        if role == "snapshot":
            return Metadata.from_bytes(httpx.get(f"{self.base}/{snap}.snapshot.json", timeout=10).content)
        version = self.current("snapshot").signed.meta[f"{role}.json"].version
        return Metadata.from_bytes(httpx.get(f"{self.base}/{version}.{role}.json", timeout=10).content)

    def sign(self, md: Any, *signers: Any) -> bytes:
        from assay.tuf.repository import to_bytes

        md.signatures.clear()
        for s in signers or (self.signer,):
            md.sign(s, append=True)
        return bytes(to_bytes(md))

    def publish(self, mirror: Mirror, snapshot_meta: dict[str, int], expires: datetime | None = None) -> None:
        """A new snapshot (``snapshot_meta`` applied over the current one) and a timestamp naming it, on the mirror."""
        from tuf.api.metadata import MetaFile

        snap = self.current("snapshot")
        ts = self.current("timestamp")
        self.step += 10
        for name, version in snapshot_meta.items():
            snap.signed.meta[f"{name}.json"] = MetaFile(version)
        snap.signed.version = ts.signed.snapshot_meta.version + self.step
        mirror.overrides[f"{self.path}/{snap.signed.version}.snapshot.json"] = self.sign(snap)
        ts.signed.version += self.step
        ts.signed.snapshot_meta = MetaFile(snap.signed.version)
        ts.signed.expires = expires or datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        mirror.overrides[f"{self.path}/timestamp.json"] = self.sign(ts)
