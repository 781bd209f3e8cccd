"""The test session's safety net: a child process a test started with ``spawn`` and never stopped (here a
``sleep`` standing in for a server) is killed when the session ends, along with its process group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

INNER = """
import os, subprocess
from pathlib import Path
from tests.conftest import spawn

def test_forgets_to_stop(tmp_path):
    leader = spawn(["sh", "-c", "sleep 600 & echo $! > {out}/worker; exec sleep 600"])
    Path("{out}/leader").write_text(str(leader.pid))
    assert False, "fails before any cleanup"
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead; its parent just has not waited yet
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_failed_test_session_leaves_no_child_running(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_sessionfinish  # noqa: F401\n")
    (tmp_path / "test_inner.py").write_text(INNER.format(out=tmp_path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # the inner test failed ...
    leader = int((tmp_path / "leader").read_text())
    pids = [leader]
    try:
        deadline = time.monotonic() + 30
        worker_file = tmp_path / "worker"
        while not (worker_file.exists() and worker_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids.append(int(worker_file.read_text()))
        assert "killed 1 leftover child process" in run.stderr, run.stderr
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)  # ... and neither the child nor its group survived
    finally:
        for pid in pids:  # only if the net failed: these PIDs are the ones this test started
            if _alive(pid):
                os.kill(pid, 9)
