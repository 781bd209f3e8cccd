"""Use cases for encrypted files: open paths, stream through the age codec, publish the output atomically."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from assay.crypt import age
from assay.errors import EnvironmentFailure, InputError
from assay.service.io import read_file

BUFFER = 1 << 20


@contextlib.contextmanager
def _source(path: str) -> Iterator[BinaryIO]:
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


@contextlib.contextmanager
def atomic_output(path: str, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A sink that becomes ``path`` only when the block completes; on any error nothing is left behind."""
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


def parse_recipients(values: Sequence[str], files: Sequence[str] = ()) -> list[age.Recipient]:
    """age recipients from ``--recipient`` strings and recipient files (one a line, ``#`` comments)."""
    out = [age.Recipient.parse(v) for v in values]
    for f in files:
        text = read_file(f, "recipients file").decode(errors="replace")
        out += [age.Recipient.parse(ln) for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not out:
        raise InputError("no-recipients", "give at least one --recipient age1…")
    return out


def load_identities(paths: Sequence[str]) -> list[age.Identity]:
    """Identities from identity files (as ``age-keygen`` writes them)."""
    if not paths:
        raise InputError("no-identity", "give --identity FILE")
    out: list[age.Identity] = []
    for p in paths:
        out += age.parse_identities(read_file(p, "identity file").decode(errors="replace"))
    return out


def encrypt_file(path: str, out: str, recipients: Sequence[age.Recipient]) -> int:
    """Encrypt ``path`` to ``out`` in the age format; returns the plaintext size."""
    with _source(path) as src, atomic_output(out) as sink:
        return age.encrypt(src, sink, recipients)


def decrypt_file(path: str, out: str, identities: Sequence[age.Identity]) -> int:
    """Decrypt an age file to ``out``; ``out`` appears only after the final chunk authenticated (mode 0600)."""
    with _source(path) as src, atomic_output(out, 0o600) as sink:
        return age.decrypt(src, sink, identities)
