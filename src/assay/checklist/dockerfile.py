"""Dockerfile parsing for base-image pin checks (pure).

Follows the Dockerfile reference where it decides what a ``FROM`` names: only ``ARG``s declared before the first
``FROM`` are in scope for ``FROM`` lines; an ``ARG`` without a default is set at build time (``--build-arg``), so
an image that depends on one cannot be shown to be pinned; the ``# escape=`` parser directive changes the line
continuation character; heredocs (``RUN <<EOF``) belong to the instruction that opens them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from assay.errors import InputError

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<-?\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?")


@dataclass(frozen=True)
class FromLine:
    """One FROM instruction after ARG substitution; ``unresolved`` names build args with no default it uses."""

    line: int
    image: str
    stage: str | None
    pinned: bool
    unresolved: tuple[str, ...] = ()


def _escape_char(lines: list[str]) -> str:
    """The continuation character: ``\\`` unless a leading ``# escape=`` directive says otherwise."""
    for raw in lines:
        m = _DIRECTIVE.match(raw.strip())
        if not m:
            break
        if m.group(1).lower() == "escape":
            if m.group(2) not in ("\\", "`"):
                raise InputError("dockerfile-unparseable", f"escape directive {m.group(2)!r}: expected \\ or `")
            return m.group(2)
    return "\\"


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) pairs: comments dropped, continuations joined, heredoc bodies appended."""
    raw_lines = text.splitlines()
    esc = _escape_char(raw_lines)
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    i = 0
    while i < len(raw_lines):
        n, s = i + 1, raw_lines[i].strip()
        i += 1
        if (not buf and not s) or s.startswith("#"):
            continue
        if not buf:
            start = n
        if s.endswith(esc):
            buf += s[: -len(esc)] + " "
            continue
        line = buf + s
        buf = ""
        for word in _HEREDOC.findall(line):
            body: list[str] = []
            while i < len(raw_lines) and raw_lines[i].strip() != word:
                body.append(raw_lines[i])
                i += 1
            if i >= len(raw_lines):
                raise InputError("dockerfile-unparseable", f"line {start}: heredoc {word} is never closed")
            i += 1
            line += "\n" + "\n".join(body)
        out.append((start, line))
    if buf:
        raise InputError("dockerfile-unparseable", f"line {start}: continuation at end of file")
    return out


def _subst(word: str, args: dict[str, str | None]) -> tuple[str, tuple[str, ...]]:
    missing: list[str] = []

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        value, op, alt = args.get(name), m.group(2), m.group(3)
        if op in (":+", "+"):
            return alt if value else ""
        if value:
            return value
        if op in (":-", "-"):
            return alt
        missing.append(name)
        return m.group(0)

    return _VAR.sub(one, word), tuple(missing)


def _arg_pairs(rest: str, n: int) -> list[tuple[str, str | None]]:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise InputError("dockerfile-unparseable", f"line {n}: ARG: {exc}") from None
    out: list[tuple[str, str | None]] = []
    for a in words:
        k, sep, v = a.partition("=")
        out.append((k, v if sep else None))
    return out


def parse_froms(text: str) -> list[FromLine]:
    """Return the FROM lines of a Dockerfile; stage references and scratch count as pinned."""
    args: dict[str, str | None] = {}
    stages: set[str] = set()
    froms: list[FromLine] = []
    for n, line in logical_lines(text):
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "ARG" and not froms:
            args.update(_arg_pairs(rest.split("\n", 1)[0], n))
        elif op == "FROM":
            words = [w for w in rest.split() if not w.lower().startswith("--platform=")]
            if not words or (len(words) not in (1, 3)) or (len(words) == 3 and words[1].upper() != "AS"):
                raise InputError("dockerfile-unparseable", f"line {n}: malformed FROM")
            if words[0].startswith("--"):
                raise InputError("dockerfile-unparseable", f"line {n}: unknown FROM flag {words[0]}")
            image, unresolved = _subst(words[0], args)
            stage = words[2].lower() if len(words) == 3 else None
            ok = not unresolved and (image == "scratch" or image.lower() in stages or bool(_DIGEST.search(image)))
            froms.append(FromLine(n, image, stage, ok, unresolved))
            if stage:
                stages.add(stage)
    return froms


def parse_runs(text: str) -> list[tuple[int, str]]:
    """Return (line, command) for each RUN instruction (heredoc bodies included)."""
    out = []
    for n, ln in logical_lines(text):
        op, _, rest = ln.partition(" ")
        if op.upper() == "RUN" and rest.strip():
            out.append((n, rest))
    return out
