"""Shared test helpers: running the CLI, requiring system components, shared data."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests run beside servers on a shared 2-core machine (and under pytest-xdist): wall-clock deadlines
# would fail on scheduling noise, not on behaviour. Examples stay deterministic per test.
settings.register_profile(
    "assay", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("assay")

REPO = Path(__file__).resolve().parent.parent


def _find_shared() -> Path:
    """``../shared`` beside the checkout; ASSAY_SHARED or /work/shared when the checkout lives elsewhere."""
    candidates = [os.environ.get("ASSAY_SHARED"), REPO.parent / "shared", "/work/shared"]
    for c in candidates:
        if c and (Path(c) / "conformance").is_dir():
            return Path(c)
    return REPO.parent / "shared"


SHARED = _find_shared()
CONFORMANCE = SHARED / "conformance"
ASSAY = Path(sys.executable).parent / "assay"


def require(condition: bool, component: str) -> None:
    """Skip with a visible reason when a component is missing; under CI=true, fail instead."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"required component missing under CI: {component}")
    pytest.skip(f"missing component: {component}")


def require_tool(name: str) -> str:
    """Path of an executable, or skip/fail as :func:`require` does."""
    # The test venv's own console scripts (in-toto-run, sigstore, ...) count even when its bin/ is not on PATH.
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    require(path is not None, name)
    assert path is not None
    return path


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_assay(
    *args: str, cwd: Path | None = None, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> Run:
    """Run the installed ``assay`` console script."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([str(ASSAY), *args], cwd=cwd, input=stdin, capture_output=True, env=full_env, timeout=120)
    return Run(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))


@pytest.fixture
def assay():
    return run_assay


@contextlib.contextmanager
def loopback_http(handler: type) -> Iterator[str]:
    """Serve ``handler`` (a BaseHTTPRequestHandler class) on a random 127.0.0.1 port; yields ``host:port``."""
    import threading
    from http.server import ThreadingHTTPServer

    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
