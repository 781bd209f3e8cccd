"""Single-pass streaming digests (SHA-256, SHA-384, SHA-512) of files and standard input."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from assay.errors import EnvironmentFailure, InputError

CHUNK = 4 * 1024 * 1024
PROGRESS_THRESHOLD = 256 * 1024 * 1024

Progress = Callable[[int], None]


ALGORITHMS = ("sha256", "sha384", "sha512")


def hash_stream(stream: BinaryIO, progress: Progress | None = None) -> bytes:
    """Return SHA-256 of everything left in ``stream``, reading in large chunks."""
    return hash_stream_multi(stream, ("sha256",), progress)["sha256"]


def hash_stream_multi(
    stream: BinaryIO, algorithms: Iterable[str], progress: Progress | None = None
) -> dict[str, bytes]:
    """Every requested digest of everything left in ``stream``, in one pass over the data."""
    hs = [hashlib.new(a) for a in dict.fromkeys(algorithms)]
    for a in (h.name for h in hs):
        if a not in ALGORITHMS:
            raise InputError("unsupported-digest-algorithm", f"digest algorithm {a!r} is not supported")
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    readinto = getattr(stream, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(view)
            if not n:
                break
            for h in hs:
                h.update(view[:n])
        else:
            data = stream.read(CHUNK)
            if not data:
                break
            n = len(data)
            for h in hs:
                h.update(data)
        if progress is not None:
            progress(n)
    return {h.name: h.digest() for h in hs}


def open_input(path: str) -> BinaryIO:
    """Open a file argument for reading (``-`` is standard input), with clear errors."""
    if path == "-":
        return sys.stdin.buffer
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError("file-not-found", f"{path}: no such file") from None
    except PermissionError:
        raise EnvironmentFailure("permission-denied", f"{path}: permission denied") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is-a-directory", f"{path}: is a directory, expected a file")
    try:
        return p.open("rb")
    except PermissionError:
        raise EnvironmentFailure("permission-denied", f"{path}: permission denied") from None


def sha256_file(path: str, *, show_progress: bool | None = None) -> bytes:
    """Hash a file (or ``-``) in one pass; shows a progress bar for big files on a TTY."""
    return digest_file(path, ("sha256",), show_progress=show_progress)["sha256"]


def digest_file(path: str, algorithms: Iterable[str], *, show_progress: bool | None = None) -> dict[str, bytes]:
    """Hash a file (or ``-``) once in every requested algorithm; a progress bar for big files on a TTY."""
    stream = open_input(path)
    try:
        size = os.fstat(stream.fileno()).st_size if path != "-" else 0
        if show_progress is None:
            show_progress = size > PROGRESS_THRESHOLD and sys.stderr.isatty()
        if not show_progress:
            return hash_stream_multi(stream, algorithms)
        from rich.progress import (  # imported lazily: only big files on a terminal need it
            BarColumn,
            DownloadColumn,
            TransferSpeedColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        with RichProgress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(f"hashing {Path(path).name}", total=size)
            return hash_stream_multi(stream, algorithms, lambda n: bar.advance(task, n))
    except OSError as exc:
        raise EnvironmentFailure("read-failed", f"{path}: {exc.strerror or exc}") from None
    finally:
        if path != "-":
            stream.close()


def parse_digest_ref(value: str) -> bytes | None:
    """Return the digest of a ``sha256:HEX`` argument, or None when it is a path."""
    if not value.startswith("sha256:"):
        return None
    hexpart = value[len("sha256:") :]
    if len(hexpart) != 64:
        raise InputError("bad-digest", f"{value}: a sha256 digest has 64 hex characters")
    try:
        return bytes.fromhex(hexpart)
    except ValueError:
        raise InputError("bad-digest", f"{value}: not a hex digest") from None


_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def parse_typed_digest_ref(value: str) -> tuple[str, bytes] | None:
    """Return ``(algorithm, digest)`` of a ``sha256:``/``sha384:``/``sha512:HEX`` argument, or None for a path."""
    alg, sep, hexpart = value.partition(":")
    if not sep or alg not in _HEX_LENGTHS:
        return None
    if len(hexpart) != _HEX_LENGTHS[alg]:
        raise InputError("bad-digest", f"{value}: a {alg} digest has {_HEX_LENGTHS[alg]} hex characters")
    try:
        return alg, bytes.fromhex(hexpart)
    except ValueError:
        raise InputError("bad-digest", f"{value}: not a hex digest") from None
