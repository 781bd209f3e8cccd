"""GNU ``sha256sum`` and BSD ``--tag`` checksum lines: format and parse.

Escaping follows coreutils: a name holding a backslash, newline or carriage
return is written with ``\\\\``, ``\\n``, ``\\r`` and the line starts with a backslash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import InputError

DIGEST_HEX_LEN = 64
_HEX = frozenset("0123456789abcdefABCDEF")
_BSD = re.compile(r"^SHA256 ?\((?P<name>.*)\) ?= ?(?P<digest>[0-9A-Za-z]*)$", re.S)


@dataclass(frozen=True)
class Line:
    """One checksum line: the file name and its expected digest (lowercase hex)."""

    name: str
    digest: str
    lineno: int


def _needs_escape(name: str) -> bool:
    return any(c in name for c in "\\\n\r")


def escape(name: str) -> str:
    """coreutils-style name escaping."""
    return name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def unescape(name: str) -> str | None:
    """Undo :func:`escape`; None when an escape sequence is invalid."""
    out = []
    i = 0
    while i < len(name):
        c = name[i]
        if c == "\\":
            if i + 1 >= len(name):
                return None
            nxt = name[i + 1]
            mapped = {"\\": "\\", "n": "\n", "r": "\r"}.get(nxt)
            if mapped is None:
                return None
            out.append(mapped)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def format_line(name: str, digest_hex: str, *, tag: bool = False) -> str:
    """One line of ``sha256sum`` (or ``sha256sum --tag``) output, without the newline."""
    prefix = "\\" if _needs_escape(name) else ""
    shown = escape(name) if prefix else name
    if tag:
        return f"{prefix}SHA256 ({shown}) = {digest_hex}"
    return f"{prefix}{digest_hex}  {shown}"


def parse_line(raw: str, lineno: int) -> Line | None:
    """Parse one line; None when it is not a properly formatted sha256 checksum line."""
    line = raw[:-1] if raw.endswith("\r") else raw
    escaped = line.startswith("\\")
    if escaped:
        line = line[1:]
    m = _BSD.match(line)
    if m:
        name, digest = m.group("name"), m.group("digest")
    else:
        i = 0
        while i < len(line) and line[i] in _HEX:
            i += 1
        digest = line[:i]
        rest = line[i:]
        if not rest or rest[0] not in " \t":
            return None
        if len(rest) >= 3 and rest[1] in " *":
            name = rest[2:]
        else:
            name = rest[1:]
    if len(digest) != DIGEST_HEX_LEN or not all(c in _HEX for c in digest) or not name:
        return None
    if escaped:
        unesc = unescape(name)
        if unesc is None:
            return None
        name = unesc
    return Line(name, digest.lower(), lineno)


@dataclass(frozen=True)
class Parsed:
    """Parsed checksums file: good lines and the numbers of improperly formatted ones."""

    lines: tuple[Line, ...]
    bad_lines: tuple[int, ...]


def parse(text: str, *, strict: bool, source: str = "checksums") -> Parsed:
    """Parse a whole checksums file.

    Comment lines (``#``) are skipped as coreutils does. Improperly formatted
    lines are collected; with ``strict`` the first one is an error. A file with
    no properly formatted line is always an error.
    """
    if not text.strip():
        raise InputError("checksums-empty", f"{source}: no checksum lines (the file is empty)")
    good: list[Line] = []
    bad: list[int] = []
    for n, raw in enumerate(text.split("\n"), start=1):
        if raw == "" and n == text.count("\n") + 1:
            break
        if raw.startswith("#"):
            continue
        parsed = parse_line(raw, n)
        if parsed is None:
            if strict:
                raise InputError("checksums-malformed", f"{source}:{n}: improperly formatted sha256 checksum line")
            bad.append(n)
        else:
            good.append(parsed)
    if not good:
        first = bad[0] if bad else 1
        raise InputError(
            "checksums-malformed",
            f"{source}: no properly formatted sha256 checksum lines found (first bad line: {first})",
        )
    return Parsed(tuple(good), tuple(bad))
