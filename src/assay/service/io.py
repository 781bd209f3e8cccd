"""Small file helpers shared by the use cases."""

from __future__ import annotations

import contextlib
import mmap
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from assay.errors import EnvironmentFailure, InputError


def read_file(path: str, what: str) -> bytes:
    """Read a whole (small) file or ``-``, with clear errors."""
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if p.is_dir():
        raise InputError("is-a-directory", f"{path}: is a directory, expected a {what}")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError("file-not-found", f"{path}: no such {what}") from None
    except PermissionError:
        raise EnvironmentFailure("permission-denied", f"{path}: permission denied") from None


BUFFER = 1 << 20


@contextlib.contextmanager
def atomic_sink(path: str, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A sink that becomes ``path`` (with ``mode``) only when the block completes, via a temporary sibling and a
    rename; on any error nothing is left behind. ``-`` is standard output."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise InputError("is-a-directory", f"{path}: is a directory")
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.")
    except FileNotFoundError:
        raise InputError("file-not-found", f"{directory}: no such directory") from None
    except PermissionError:
        raise EnvironmentFailure("permission-denied", f"{directory}: permission denied") from None
    try:
        with os.fdopen(fd, "wb", buffering=BUFFER) as fh:
            yield fh
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def open_source(path: str) -> Iterator[BinaryIO]:
    """A file (or ``-``, standard input) opened for streaming reads, with clear errors."""
    if path == "-":
        yield sys.stdin.buffer
        return
    p = Path(path)
    if p.is_dir():
        raise InputError("is-a-directory", f"{path}: is a directory")
    try:
        fh = open(p, "rb", buffering=BUFFER)
    except FileNotFoundError:
        raise InputError("file-not-found", f"{path}: no such file") from None
    except PermissionError:
        raise EnvironmentFailure("permission-denied", f"{path}: permission denied") from None
    with fh:
        yield fh


def write_atomic(path: str, data: bytes) -> None:
    """Write a file via a temporary sibling and rename, so a crash never leaves half a file."""
    with atomic_sink(path) as sink:
        sink.write(data)


def map_message(path: str) -> bytes | mmap.mmap:
    """The whole artifact as a buffer (memory-mapped for files), for algorithms that sign messages."""
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return b""
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def password(password_file: str | None) -> bytes | None:
    """The key password from ``--password-file`` or ``ASSAY_PASSWORD``; None when neither is set."""
    if password_file:
        data = read_file(password_file, "password file")
        return data.rstrip(b"\r\n")
    env = os.environ.get("ASSAY_PASSWORD")
    return env.encode() if env else None
