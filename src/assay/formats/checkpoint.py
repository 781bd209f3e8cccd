"""C2SP signed notes carrying tlog checkpoints.

A note is text lines, a blank line, then signature lines
``— <name> <base64(4-byte key hint || signature)>``. The checkpoint body is
the origin, the tree size and the base64 root hash, then optional extension
lines. Signatures cover the note text up to and including its final newline
before the blank line.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from assay.errors import InputError

_DASH = "\u2014 "
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line."""

    name: str
    key_hint: bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A parsed signed checkpoint."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...]
    signed_text: bytes
    signatures: tuple[NoteSignature, ...]


def _bad(message: str) -> InputError:
    return InputError("checkpoint-malformed", message, step="tlog")


def parse_checkpoint(envelope: str) -> Checkpoint:
    """Parse a signed note holding a checkpoint; malformed notes raise ``checkpoint-malformed``."""
    text, sep, sigblock = envelope.partition("\n\n")
    if not sep:
        raise _bad("checkpoint has no blank line before its signatures")
    lines = text.split("\n")
    if len(lines) < 3:
        raise _bad("checkpoint needs origin, size and root hash lines")
    origin, size_s, root_s, *ext = lines
    if not origin:
        raise _bad("checkpoint origin is empty")
    if not _SIZE.fullmatch(size_s) or int(size_s) > 2**63 - 1:
        raise _bad(f"checkpoint size {size_s[:40]!r} is not a decimal number below 2^63")
    try:
        root = base64.b64decode(root_s, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("checkpoint root hash is not base64") from None
    if len(root) != 32:
        raise _bad("checkpoint root hash is not 32 bytes")
    sigs = []
    for line in sigblock.split("\n"):
        if not line:
            continue
        if not line.startswith(_DASH):
            raise _bad("checkpoint signature line does not start with an em dash")
        parts = line[len(_DASH) :].split(" ")
        if len(parts) != 2 or not parts[0]:
            raise _bad("checkpoint signature line needs a name and a signature")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise _bad("checkpoint signature is not base64") from None
        if len(blob) < 5:
            raise _bad("checkpoint signature is too short")
        sigs.append(NoteSignature(parts[0], blob[:4], blob[4:]))
    if not sigs:
        raise _bad("checkpoint carries no signature")
    return Checkpoint(origin, int(size_s), root, tuple(ext), (text + "\n").encode(), tuple(sigs))
