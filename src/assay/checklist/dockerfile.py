"""Dockerfile parsing for base-image pin checks (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import InputError

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class FromLine:
    """One FROM instruction after ARG substitution."""

    line: int
    image: str
    stage: str | None
    pinned: bool


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        out.append((start, buf + s))
        buf = ""
    if buf:
        raise InputError("dockerfile-unparseable", f"line {start}: continuation at end of file")
    return out


def _subst(word: str, args: dict[str, str]) -> str:
    return _VAR.sub(lambda m: args.get(m.group(1) or m.group(3), m.group(2) or ""), word)


def parse_froms(text: str) -> list[FromLine]:
    """Return the FROM lines of a Dockerfile; stage references and scratch count as pinned."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    froms: list[FromLine] = []
    for n, line in _logical_lines(text):
        parts = line.split()
        op = parts[0].upper()
        if op == "ARG" and not froms:
            for a in parts[1:]:
                k, _, v = a.partition("=")
                args[k] = v.strip('"')
        elif op == "FROM":
            words = [w for w in parts[1:] if not w.startswith("--platform=")]
            if not words or (len(words) not in (1, 3)) or (len(words) == 3 and words[1].upper() != "AS"):
                raise InputError("dockerfile-unparseable", f"line {n}: malformed FROM")
            image = _subst(words[0], args)
            stage = words[2].lower() if len(words) == 3 else None
            ok = image == "scratch" or image.lower() in stages or bool(_DIGEST.search(image))
            froms.append(FromLine(n, image, stage, ok))
            if stage:
                stages.add(stage)
    return froms


def parse_runs(text: str) -> list[tuple[int, str]]:
    """Return (line, command) for each RUN instruction."""
    return [(n, ln.split(None, 1)[1]) for n, ln in _logical_lines(text) if ln.split()[0].upper() == "RUN" and " " in ln]
