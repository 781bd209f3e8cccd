"""Shared test helpers: running the CLI, requiring system components, shared data."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# Every long-lived child process a test starts (servers, registries, webhooks), by PID. Helpers start them in a
# new session (their own process group, so server workers go with them) and forget them once stopped; whatever is
# still alive when the session ends is killed here, by process group of a PID this session started, never by name.
_CHILDREN: dict[int, subprocess.Popen[Any]] = {}


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` in a new process group, tracked so the session kills it if a test forgets."""
    proc: subprocess.Popen[Any] = subprocess.Popen(args, start_new_session=True, **kwargs)
    _CHILDREN[proc.pid] = proc
    return proc


def stop_process(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Signal ``proc`` (SIGTERM by default), wait, SIGKILL its whole group if it lingers; then forget it."""
    if proc is None:
        return
    try:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
        _kill_group(proc)  # workers or grandchildren left behind by the group leader
    finally:
        _CHILDREN.pop(proc.pid, None)


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    if _CHILDREN.get(proc.pid) is not proc:
        return  # not started by spawn() in this session: its PID is not ours to signal as a group
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def reap_children() -> list[int]:
    """Kill every tracked child still alive (with its process group); returns the PIDs that were alive."""
    alive = [pid for pid, proc in list(_CHILDREN.items()) if proc.poll() is None]
    for proc in list(_CHILDREN.values()):
        _kill_group(proc)
    _CHILDREN.clear()
    return alive


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Safety net: no server or helper process outlives the test session that started it."""
    alive = reap_children()
    if alive:
        print(f"\nassay tests: killed {len(alive)} leftover child process(es): {alive}", file=sys.stderr)
