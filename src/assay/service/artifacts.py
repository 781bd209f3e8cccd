"""Hashing materials and products: walk paths under a base path, apply excludes, hash files in parallel.

Paths are recorded relative to the base path with forward slashes, like in-toto-run: directories are
walked (symbolic links followed while they stay under the base path; a link out of it, whether to a file or a
directory, is refused with ``artifact-path-escapes`` and a loop with ``symlink-loop``), excludes use gitignore patterns, and
``--lstrip-paths`` prefixes are removed. Each file is hashed in one streaming pass; small files are read
whole. Files are hashed on a few threads (hashlib releases the GIL), so memory stays flat.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from assay.crypto.digest import hash_stream
from assay.errors import InputError

DEFAULT_EXCLUDES = ("*.link*", ".git", "*.pyc", "*~")
SMALL = 1024 * 1024
WORKERS = 4


# A pattern of these characters (no "/", "**", "?", "[", "!" or escape) means in gitignore what it means to
# fnmatch applied to each path component: it names files and directories by their name at any depth.
_BASENAME_PATTERN = re.compile(r"[A-Za-z0-9._~*-]+\Z")

Matcher = Callable[[str], bool]


def matcher(patterns: list[str] | tuple[str, ...]) -> Matcher:
    """``match(relative_path)``: True when a gitignore-style pattern excludes the path (or a directory above it).

    Name-only patterns (in-toto-run's default excludes among them) are matched per path component here;
    anything else is pathspec's gitwildmatch, imported only then (its import is a large share of start-up).
    """
    if all(_BASENAME_PATTERN.match(p) and "**" not in p and p.strip(".") for p in patterns):
        names = tuple(patterns)

        def by_name(rel: str) -> bool:
            return any(fnmatchcase(part, pat) for part in rel.split("/") for pat in names)

        return by_name
    import pathspec

    return pathspec.PathSpec.from_lines("gitwildmatch", list(patterns)).match_file


def _hash(path: str) -> str:
    try:
        with open(path, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size <= SMALL:  # most files of a tree: one read, no chunk buffer
                return hashlib.sha256(fh.read()).hexdigest()
            return hash_stream(fh).hex()
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: str, exc: OSError) -> InputError:
    """The reason code for a file that cannot be read: a symlink loop, a permission, or anything else."""
    if isinstance(exc, PermissionError):
        return InputError("artifact-unreadable", f"{path}: permission denied")
    if exc.errno == errno.ELOOP:
        return InputError("symlink-loop", f"{path}: symbolic link loop")
    return InputError("artifact-unreadable", f"{path}: {exc.strerror or exc}")


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None  # a dangling symlink or a path that is not there: skipped, as in-toto-run does
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _inside(root: str, path: str, shown: str) -> None:
    """Refuse ``path`` (resolved through every symbolic link) when it is not under ``root`` (resolved)."""
    real = os.path.realpath(path)
    if real != root and os.path.commonpath([root, real]) != root:
        raise InputError(
            "artifact-path-escapes", f"{shown}: a symbolic link to {real}, outside the base path {root}; not followed"
        )


def _walk(
    top: str, rel_top: str, ancestors: frozenset[tuple[int, int]], excluded: Matcher, root: str
) -> Iterator[tuple[str, str]]:
    """(path, path relative to the base) of every regular file under ``top``; symlinks must stay under ``root``."""
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except PermissionError:
        raise InputError("artifact-unreadable", f"{top}: permission denied") from None
    for entry in entries:
        rel = entry.name if rel_top in ("", ".") else rel_top + "/" + entry.name
        if excluded(rel):
            continue
        full = entry.path
        st = _stat(full)
        if st is None:
            continue
        if entry.is_symlink():  # scandir's cached lstat: only links pay for the resolution
            _inside(root, full, full)
        if stat.S_ISDIR(st.st_mode):
            ident = (st.st_dev, st.st_ino)
            if ident in ancestors:
                raise InputError("symlink-loop", f"{full}: symbolic link loop (a directory links to its ancestor)")
            if excluded(rel + "/"):
                continue
            yield from _walk(full, rel, ancestors | {ident}, excluded, root)
        elif stat.S_ISREG(st.st_mode):
            yield full, rel


def _hash_batch(paths: list[str]) -> list[str]:
    return [_hash(p) for p in paths]


def _normalise(rel: str, lstrip: list[str]) -> str:
    rel = rel.replace(os.sep, "/")
    for prefix in lstrip:
        if rel.startswith(prefix):
            return rel[len(prefix) :]
    return rel


def record(
    paths: list[str],
    *,
    base_path: str | None = None,
    excludes: list[str] | None = None,
    lstrip_paths: list[str] | None = None,
    workers: int = WORKERS,
    default_excludes: bool = True,
) -> dict[str, dict[str, str]]:
    """``{path: {"sha256": hex}}`` for every file under ``paths`` (relative to ``base_path``).

    ``default_excludes`` applies in-toto-run's recording excludes (``*.link*``, ``.git``, ``*.pyc``, ``*~``);
    verification turns them off and sees every file but those it is told to skip.
    """
    base = os.path.abspath(base_path or ".")
    if not os.path.isdir(base):
        raise InputError("base-path-invalid", f"{base_path}: not a directory")
    defaults = DEFAULT_EXCLUDES if default_excludes else ()
    excluded = matcher([*defaults, *(excludes or [])])
    lstrip = list(lstrip_paths or [])
    root = os.path.realpath(base)
    files: list[tuple[str, str]] = []
    for p in paths:
        full = os.path.normpath(os.path.join(base, p))
        if os.path.commonpath([base, full]) != base:
            raise InputError("artifact-path-escapes", f"{p}: outside the base path {base}")
        st = _stat(full)
        if st is None:
            continue
        _inside(root, full, p)
        rel = os.path.relpath(full, base)
        if stat.S_ISDIR(st.st_mode):
            found = list(_walk(full, rel, frozenset({(st.st_dev, st.st_ino)}), excluded, root))
        else:
            found = [] if excluded(rel) else [(full, rel)]
        files.extend((f, _normalise(r, lstrip)) for f, r in found)
    names = [n for _, n in files]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:5]
        raise InputError("artifact-path-conflict", f"several files record as the same path: {dup}")
    if not files:
        return {}
    targets = [f for f, _ in files]
    if workers <= 1 or len(files) < 8:
        digests = _hash_batch(targets)
    else:
        # contiguous batches, one task each: per-file tasks cost more than hashing small files
        size = -(-len(targets) // (workers * 4))
        batches = [targets[i : i + size] for i in range(0, len(targets), size)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            digests = [d for batch in pool.map(_hash_batch, batches) for d in batch]
    return {name: {"sha256": d} for (_, name), d in zip(files, digests, strict=True)}


def tree_path(path: str) -> Path:
    """A directory argument that must exist."""
    p = Path(path)
    if not p.is_dir():
        raise InputError("not-a-directory", f"{path}: not a directory")
    return p
