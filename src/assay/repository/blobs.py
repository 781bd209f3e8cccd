"""Content-addressed blobs in the data directory, written through a per-process temporary directory."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from assay.errors import InputError

CHUNK = 1024 * 1024


@dataclass
class Received:
    """A fully received, fsynced temporary file and what it hashed to."""

    path: Path
    sha256: str
    size: int


class BlobStore:
    """``root/sha256/ab/HEX`` files; ``root/tmp/<pid>-<rand>/`` per process, locked while it lives."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True, mode=0o700)
        (root / "sha256").mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sweep()
        self.tmp = root / "tmp" / f"{os.getpid()}-{secrets.token_hex(4)}"
        self.tmp.mkdir(mode=0o700)
        self._lock_fd = os.open(self.tmp / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def sweep(self) -> int:
        """Remove temporary directories no live process holds (interrupted uploads)."""
        removed = 0
        for d in (self.root / "tmp").iterdir():
            lock = d / ".lock"
            try:
                fd = os.open(lock, os.O_RDWR)
            except OSError:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live process owns it
            finally:
                os.close(fd)
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
        return removed

    def path(self, sha256: str) -> Path:
        """Where a blob lives (whether or not it exists)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InputError("bad-digest", f"{sha256!r} is not a sha256 hex digest")
        return self.root / "sha256" / sha256[:2] / sha256

    async def receive(self, chunks: AsyncIterator[bytes], limit: int) -> Received:
        """Stream a body into a temporary file, hashing it; refuse it past ``limit`` bytes."""
        path = self.tmp / secrets.token_hex(8)
        h = hashlib.sha256()
        size = 0
        try:
            with path.open("wb") as fh:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise InputError("artifact-too-large", f"artifacts are limited to {limit} bytes")
                    h.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Received(path, h.hexdigest(), size)

    def commit(self, received: Received) -> Path:
        """Move a received file to its content address (atomic rename, directory fsynced)."""
        final = self.path(received.sha256)
        final.parent.mkdir(exist_ok=True, mode=0o700)
        if final.exists():
            received.path.unlink(missing_ok=True)
            return final
        os.replace(received.path, final)
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return final

    def discard(self, received: Received) -> None:
        """Drop a received file that was refused."""
        received.path.unlink(missing_ok=True)

    def delete(self, sha256: str) -> None:
        """Remove a blob (callers check that no version references it)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()

    def scratch(self) -> Path:
        """A fresh scratch directory inside this process's temporary directory."""
        d = self.tmp / ("s-" + secrets.token_hex(6))
        d.mkdir(mode=0o700)
        return d
