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
import time
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from assay.crypto.digest import hash_stream
from assay.errors import InputError

DEFAULT_EXCLUDES = ("*.link*", ".git", "*.pyc", "*~")
SMALL = 1024 * 1024
WORKERS = 4
PARALLEL_BYTES = 8 * 1024 * 1024  # below this a tree hashes faster on one thread than a pool starts


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


Identity = tuple[int, int, int, int, int]  # device, inode, size, mtime and ctime in nanoseconds

# A file changed within this long after its last change may keep its stat (timestamps are coarse): only files
# whose last change is older than this, when they were hashed, have their digest reused.
RACY_NS = 2_000_000_000


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class DigestCache:
    """Digests already computed in this run, so one step hashes each unchanged file once.

    ``assay run`` hashes the materials, runs the command and hashes the products; a material the command
    left alone is a product with the same digest. A digest is reused only for the same path with the same
    device, inode, size, mtime and ctime (a write, a rename over the file or a ``touch`` changes the ctime,
    which no caller can set) and only when the file's last change was more than :data:`RACY_NS` before it
    was hashed, so a change within the timestamps' granularity of the hashing is never missed (git's rule
    for racily clean files). Any doubt means hashing the file again.
    """

    def __init__(self) -> None:
        self._known: dict[str, tuple[Identity, str]] = {}

    def get(self, path: str, st: os.stat_result) -> str | None:
        """The digest of ``path`` hashed earlier in this run, when the file is provably unchanged since."""
        hit = self._known.get(path)
        return hit[1] if hit is not None and hit[0] == _identity(st) else None

    def put(self, path: str, ident: Identity, digest: str, hashed_at: int) -> None:
        """Remember a digest computed at ``hashed_at`` (ns) of the file ``ident`` (its stat when opened)."""
        if ident[4] < hashed_at - RACY_NS and ident[3] < hashed_at - RACY_NS:
            self._known[path] = (ident, digest)


def _hash(path: str) -> tuple[str, Identity]:
    """The file's SHA-256 and its identity when it was opened (before any byte was read)."""
    try:
        with open(path, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            if st.st_size <= SMALL:  # most files of a tree: one read, no chunk buffer
                return hashlib.sha256(fh.read()).hexdigest(), _identity(st)
            return hash_stream(fh).hex(), _identity(st)
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
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(path, path relative to the base, stat) of every regular file under ``top``; symlinks stay under ``root``."""
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
            yield full, rel, st


def _hash_batch(paths: list[str]) -> list[tuple[str, Identity]]:
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
    cache: DigestCache | None = None,
) -> dict[str, dict[str, str]]:
    """``{path: {"sha256": hex}}`` for every file under ``paths`` (relative to ``base_path``).

    ``default_excludes`` applies in-toto-run's recording excludes (``*.link*``, ``.git``, ``*.pyc``, ``*~``);
    verification turns them off and sees every file but those it is told to skip. ``cache`` holds the
    digests of an earlier recording in the same run (materials, for the products), reused for unchanged files.
    """
    base = os.path.abspath(base_path or ".")
    if not os.path.isdir(base):
        raise InputError("base-path-invalid", f"{base_path}: not a directory")
    defaults = DEFAULT_EXCLUDES if default_excludes else ()
    excluded = matcher([*defaults, *(excludes or [])])
    lstrip = list(lstrip_paths or [])
    root = os.path.realpath(base)
    files: list[tuple[str, str, os.stat_result]] = []
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
            found = [] if excluded(rel) else [(full, rel, st)]
        files.extend((f, _normalise(r, lstrip), fst) for f, r, fst in found)
    names = [n for _, n, _ in files]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:5]
        raise InputError("artifact-path-conflict", f"several files record as the same path: {dup}")
    if not files:
        return {}
    known = {f: d for f, _, st in files if (d := cache.get(f, st)) is not None} if cache is not None else {}
    targets = [f for f, _, _ in files if f not in known]
    hashed_at = time.time_ns()
    if workers <= 1 or len(targets) < 8 or sum(st.st_size for _, _, st in files) < PARALLEL_BYTES:
        results = _hash_batch(targets)
    else:
        # contiguous batches, one task each: per-file tasks cost more than hashing small files
        size = -(-len(targets) // (workers * 4))
        batches = [targets[i : i + size] for i in range(0, len(targets), size)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            results = [d for batch in pool.map(_hash_batch, batches) for d in batch]
    for f, (digest, ident) in zip(targets, results, strict=True):
        known[f] = digest
        if cache is not None:
            cache.put(f, ident, digest, hashed_at)
    return {name: {"sha256": known[f]} for f, name, _ in files}


def tree_path(path: str) -> Path:
    """A directory argument that must exist."""
    p = Path(path)
    if not p.is_dir():
        raise InputError("not-a-directory", f"{path}: not a directory")
    return p
