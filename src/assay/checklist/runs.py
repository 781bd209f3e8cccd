"""Unpinned dependency installs in shell commands (Dockerfile ``RUN`` lines, both forms) (pure).

Each finding names the install that fetches something not fixed by a digest, a commit or a lockfile:
``npm install`` (``npm ci`` installs the lockfile), ``pip install`` without ``--require-hashes`` (a ``-r FILE``
is judged by that file's hashes, checked where the file lives), ``go install/get MOD@VERSION`` unless the version
is a commit hash or a full
``vX.Y.Z`` version (fixed by the Go checksum database unless ``-insecure``; inside a module go.sum decides), ``apt-get``/``apk`` packages without
``=VERSION``, Chocolatey without checksums, NuGet/dotnet restores without locked mode and package adds without a
version, and a download piped into a shell.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable

from assay.checklist.model import Finding

_COMMIT = re.compile(r"^[0-9a-fA-F]{40,}$")
# a full module version is fixed by the Go checksum database (sum.golang.org) unless -insecure turns it off
_SEMVER = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PIP = re.compile(r"^pip[0-9.]*$")
_PYTHON = re.compile(r"^python[0-9.]*$")
_SHELLS = {"sh", "bash", "zsh", "dash", "ash", "python", "python3", "perl", "ruby"}


def _words(part: str) -> list[str]:
    try:
        w = shlex.split(part)
    except ValueError:
        w = part.split()
    while w and (_ASSIGN.match(w[0]) or w[0] in ("sudo", "env", "exec", "then", "do", "else", "time")):
        w = w[1:]
    if w:
        w[0] = posixpath.basename(w[0])
    return w


def _pip(args: list[str]) -> str | None:
    if not args or args[0] != "install":
        return None
    rest = args[1:]
    if "--require-hashes" in rest or any(a in ("-r", "--requirement") or a.startswith("--requirement=") for a in rest):
        return None
    pkgs = [a for a in rest if not a.startswith("-")]
    if not pkgs:
        return None  # nothing to install (pip errors out)

    def local(p: str) -> bool:
        p = p.strip("'\"")
        scheme = p.split("://")[0] if "://" in p else ""
        # git and Mercurial name a revision by its content hash; svn and bzr revisions are not hashes
        vcs = scheme.split("+")[0] in ("git", "hg") and "+" in scheme and re.search(r"@[0-9a-fA-F]{40}(#|$)", p)
        return p.startswith((".", "/")) or p.endswith(".whl") or bool(vcs)

    if "--no-deps" in rest and all(local(p) for p in pkgs):
        return None
    return "pip-install-unhashed"


def _go(args: list[str]) -> str | None:
    if not args or args[0] not in ("install", "get"):
        return None
    mods = [a for a in args[1:] if not a.startswith("-")]
    for m in mods:
        if m.startswith((".", "/")):
            continue
        _, at, version = m.partition("@")
        if not at and args[0] == "install":
            continue  # inside a module: go.mod and go.sum decide
        if version == "none" or _COMMIT.match(version) or (_SEMVER.match(version) and "-insecure" not in args):
            continue
        return "go-install-unpinned"
    return None


def _npm(args: list[str]) -> str | None:
    if not args or args[0] not in ("install", "i", "add", "install-test", "it", "update"):
        return None
    gits = [a for a in args[1:] if a.startswith(("github:", "git://", "git+http://", "git+https://"))]
    if (
        gits
        and all(_COMMIT.match(g.partition("#")[2]) for g in gits)
        and len(gits) == len([a for a in args[1:] if not a.startswith("-")])
    ):
        return None  # only git dependencies, each at a commit
    return "npm-install-not-ci"


def _os_pkgs(tool: str) -> Callable[[list[str]], str | None]:
    def check(args: list[str]) -> str | None:
        if not args or args[0] not in ("add", "install"):
            return None
        pkgs = [x for x in args[1:] if not x.startswith("-")]
        loose = [x for x in pkgs if "=" not in x and not x.startswith((".", "/"))]
        return f"{tool}-unpinned:{' '.join(loose)}" if loose else None

    return check


def _choco(args: list[str]) -> str | None:
    ok = {"--requirechecksum", "--requirechecksums", "--require-checksums"}
    return "choco-unverified" if args and args[0] == "install" and not ok & set(args) else None


def _nuget(args: list[str]) -> str | None:
    if args and args[0] == "restore" and "-LockedMode" not in args:
        return "nuget-not-locked"
    if args and args[0] == "install" and "-Version" not in args and not any(a.endswith(".config") for a in args):
        return "nuget-unpinned"
    return None


def _dotnet(args: list[str]) -> str | None:
    if args and args[0] == "restore" and "--locked-mode" not in args:
        return "nuget-not-locked"
    if "add" in args[:2] and "package" in args[:3] and not {"-v", "--version"} & set(args):
        return "nuget-unpinned"
    return None


def _msbuild(args: list[str]) -> str | None:
    restore = any(a.lower() in ("/t:restore", "-t:restore") for a in args)
    locked = any(a.lower() == "/p:restorelockedmode=true" for a in args)
    return "nuget-not-locked" if restore and not locked else None


TOOLS: dict[str, Callable[[list[str]], str | None]] = {
    "npm": _npm, "go": _go, "apt-get": _os_pkgs("apt"), "apt": _os_pkgs("apt"), "apk": _os_pkgs("apk"),
    "choco": _choco, "nuget": _nuget, "nuget.exe": _nuget, "dotnet": _dotnet, "msbuild": _msbuild,
    "msbuild.exe": _msbuild,
}  # fmt: skip


def _command(w: list[str]) -> str | None:
    if not w:
        return None
    if _PIP.match(w[0]):
        return _pip(w[1:])
    if _PYTHON.match(w[0]) and w[1:3] == ["-m", "pip"]:
        return _pip(w[3:])
    check = TOOLS.get(w[0])
    return check(w[1:]) if check else None


def shell_text(cmd: str) -> str:
    """A RUN instruction's command as shell text (the exec form ``["a", "b"]`` joined as the shell would run it)."""
    s = cmd.strip()
    if s.startswith("["):
        try:
            argv = json.loads(s)
        except ValueError:
            return cmd
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            return shlex.join(argv)
    return cmd


def check_run(path: str, line: int, cmd: str) -> list[Finding]:
    """Check one RUN/shell command for unpinned installs and downloads run by a shell."""
    out: list[Finding] = []
    where = f"{path}:{line}"
    for pipeline in re.split(r"&&|\|\||;|\n", shell_text(cmd)):
        stages = [_words(s) for s in pipeline.split("|")]
        if len(stages) > 1 and stages[0][:1] and stages[0][0] in ("curl", "wget"):
            if any(s[:1] and s[0] in _SHELLS for s in stages[1:]):
                out.append(Finding("download-piped-to-shell", where, pipeline.strip()))
                continue
        for w in stages:
            found = _command(w)
            if found:
                reason, _, detail = found.partition(":")
                out.append(Finding(reason, where, detail or " ".join(w)))
    return out
