"""Dependency-lock checks over a repository's file names and Dockerfile RUN lines (pure)."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

# manifest name -> lockfile names accepted beside it
LOCKS: dict[str, tuple[str, ...]] = {
    "package.json": ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"),
    "pyproject.toml": ("poetry.lock", "uv.lock"),
    "go.mod": ("go.sum",),
    "Cargo.toml": ("Cargo.lock",),
}


@dataclass(frozen=True)
class Finding:
    """One unlocked dependency source: a reason code, where, and what was seen."""

    reason: str
    path: str
    evidence: str


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


def check_run(path: str, line: int, cmd: str) -> list[Finding]:
    """Check one RUN/shell command for unpinned package installs."""
    out: list[Finding] = []
    for part in re.split(r"&&|\|\||;|\n", cmd):
        try:
            w = shlex.split(part)
        except ValueError:
            w = part.split()
        if not w:
            continue
        where = f"{path}:{line}"
        if w[:2] == ["npm", "install"] or w[:2] == ["npm", "i"]:
            out.append(Finding("npm-install-not-ci", where, part.strip()))
        elif w[0] in ("apk", "apt-get", "apt") and len(w) > 1 and w[1] in ("add", "install"):
            pkgs = [x for x in w[2:] if not x.startswith("-")]
            loose = [x for x in pkgs if "=" not in x]
            if loose:
                out.append(Finding(f"{w[0].replace('-get', '')}-unpinned", where, " ".join(loose)))
        elif w[0] in ("pip", "pip3") and len(w) > 1 and w[1] == "install":
            if "--require-hashes" not in w and not any(x in ("-r", "--requirement") for x in w):
                out.append(Finding("pip-install-unhashed", where, part.strip()))
    return out
