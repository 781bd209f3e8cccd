"""Helpers shared by the benchmarks: timing commands and reading peak RSS."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def time_command(cmd: list[str], runs: int, cwd: Path | None = None) -> float:
    """Median wall time of ``cmd`` over ``runs`` runs (output discarded)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mib(cmd: list[str], cwd: Path | None = None) -> float:
    """Peak RSS of one run of ``cmd`` in a fresh child of a fresh interpreter."""
    probe = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def time_interleaved(
    cmds: list[list[str]], runs: int, cwd: Path | None = None, env: dict[str, str] | None = None
) -> list[list[float]]:
    """Wall times of each command over ``runs`` rounds, the commands taking turns within a round.

    On a shared machine the load drifts; running the tools one after the other in every round (the order
    rotated each round) exposes both to the same drift, so the ratio of their medians is meaningful.
    """
    times: list[list[float]] = [[] for _ in cmds]
    for r in range(runs):
        order = list(range(len(cmds)))
        order = order[r % len(order) :] + order[: r % len(order)]
        for i in order:
            start = time.perf_counter()
            subprocess.run(cmds[i], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times[i].append(time.perf_counter() - start)
    return times


def bytecode_env(*packages: Path) -> dict[str, str]:
    """An environment for timing CLIs as installed: each package compiled, bytecode writes not turned off.

    A pip-installed tool runs from compiled bytecode; a source checkout under ``PYTHONDONTWRITEBYTECODE``
    recompiles every module on every start, which would be measured as start-up cost.
    """
    import compileall
    import os

    for p in packages:
        compileall.compile_dir(str(p), quiet=1)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
