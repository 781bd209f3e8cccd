"""Dependency-lock checks over a repository's file names and Dockerfile RUN lines (pure)."""

from __future__ import annotations

import posixpath
import re

from assay.checklist.model import Finding
from assay.checklist.runs import check_run

__all__ = ["LOCKS", "Finding", "check_manifests", "check_requirements", "check_run"]

# manifest name -> lockfile names accepted beside it
LOCKS: dict[str, tuple[str, ...]] = {
    "package.json": ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"),
    "pyproject.toml": ("poetry.lock", "uv.lock"),
    "go.mod": ("go.sum",),
    "Cargo.toml": ("Cargo.lock",),
}


def check_manifests(paths: list[str]) -> list[Finding]:
    """Report manifests with no lockfile beside them."""
    present = set(paths)
    out: list[Finding] = []
    for p in paths:
        d, name = posixpath.split(p)
        locks = LOCKS.get(name)
        if locks and not any(posixpath.join(d, lk) in present for lk in locks):
            out.append(Finding("lockfile-missing", p, f"no {' / '.join(locks)} beside {name}"))
    return out


_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def check_requirements(path: str, text: str) -> list[Finding]:
    """A requirements file is locked when every requirement line carries a sha256 hash."""
    reqs = [
        ln for ln in text.replace("\\\n", " ").splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "-"))
    ]
    bad = [r.split()[0] for r in reqs if not _HASH.search(r)]
    return [Finding("requirements-unhashed", path, ", ".join(bad[:5]))] if bad else []
