"""Gather a repository's Dockerfiles and lockfiles and run the pure checklist checks over them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from assay.checklist.dockerfile import parse_froms, parse_runs
from assay.checklist.locks import LOCKS, check_manifests, check_requirements, check_run

_SKIP = {".git", "node_modules", ".venv", "vendor"}


def check_repo(root: str) -> list[dict[str, Any]]:
    """Rows for 'base images pinned by digest' and 'dependencies locked' over the repository at ``root``."""
    paths: list[str] = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in _SKIP]
        rel = os.path.relpath(d, root)
        paths += [f if rel == "." else f"{rel}/{f}".replace(os.sep, "/") for f in files]
    unpinned: list[str] = []
    lock_ev: list[str] = []
    nfrom = 0
    for p in paths:
        name = p.rsplit("/", 1)[-1]
        if name == "Dockerfile" or name.endswith(".Dockerfile") or name.startswith("Dockerfile."):
            text = Path(root, p).read_text(errors="replace")
            for f in parse_froms(text):
                nfrom += 1
                if f.unresolved:
                    unpinned.append(f"{p}:{f.line} FROM {f.image} (set by --build-arg {', '.join(f.unresolved)})")
                elif not f.pinned:
                    unpinned.append(f"{p}:{f.line} FROM {f.image}")
            for n, cmd in parse_runs(text):
                lock_ev += [f"{x.reason} {x.path}: {x.evidence}" for x in check_run(p, n, cmd)]
        elif name.startswith("requirements") and name.endswith(".txt"):
            lock_ev += [
                f"{x.reason} {x.path}: {x.evidence}"
                for x in check_requirements(p, Path(root, p).read_text(errors="replace"))
            ]
    lock_ev += [f"{x.reason} {x.path}: {x.evidence}" for x in check_manifests(paths)]
    nman = sum(1 for p in paths if p.rsplit("/", 1)[-1] in LOCKS)
    return [
        {
            "item": "base-images-pinned",
            "status": ("fail" if unpinned else "pass") if nfrom else "unknown",
            "evidence": unpinned or [f"{nfrom} FROM lines pinned by digest"],
            "fix": "pin each FROM image as name@sha256:<digest>",
        },
        {
            "item": "dependencies-locked",
            "status": "fail" if lock_ev else ("pass" if nman or nfrom else "unknown"),
            "evidence": lock_ev or [f"{nman} manifests with lockfiles"],
            "fix": "commit lockfiles; use npm ci, pip --require-hashes, pkg=version for apk/apt",
        },
    ]


def check_registry(ref: str) -> dict[str, Any]:
    """Registry access row: the summary row of ``assay registry check`` (what an anonymous caller can do);
    ``unknown`` when the reference names no repository or the registry cannot be reached."""
    from assay.errors import AssayError
    from assay.registry.check import run

    try:
        return run(ref)[-1]
    except AssayError as exc:
        return {
            "item": "registry-access-restricted",
            "status": "unknown",
            "evidence": [f"{ref}: {exc.message}"],
            "fix": "run `assay registry check REGISTRY/REPOSITORY` against a reachable registry",
        }


def to_sarif(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """SARIF 2.1.0 log with one result per failing row."""
    rules = [{"id": r["item"], "help": {"text": r["fix"]}} for r in rows]
    results = [
        {"ruleId": r["item"], "level": "error", "message": {"text": "; ".join(r["evidence"])}}
        for r in rows
        if r["status"] == "fail"
    ]
    return {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "assay checklist", "rules": rules}}, "results": results}],
    }
