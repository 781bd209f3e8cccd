"""Where each artifact rule of a JSON layout is written (``file:line``), for reports and errors.

A token scan of the text the layout was parsed from: it looks only for ``steps`` and ``inspect`` (under
``signed`` for a Metablock) and the line of each ``expected_materials`` and ``expected_products`` entry,
without composing the document again as YAML. Best effort, like :func:`assay.layout.yamlform.json_locations`
(which it agrees with): text it cannot follow gives no locations, and the reports cite JSON paths instead.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([{}\[\]:,])|([^\s{}\[\]:,"]+))', re.S)
_RULES = ("expected_materials", "expected_products")


class _Unreadable(Exception):
    pass


class _Tokens:
    def __init__(self, text: str) -> None:
        self.text = text
        self.it: Iterator[re.Match[str]] = _TOKEN.finditer(text)
        self.pos = 0
        self.peeked: re.Match[str] | None = None

    def next(self) -> re.Match[str]:
        if self.peeked is not None:
            back, self.peeked = self.peeked, None
            return back
        m = next(self.it, None)
        if m is None or m.start() != self.pos:
            raise _Unreadable
        self.pos = m.end()
        return m


def _value(tok: _Tokens, path: tuple[Any, ...], found: dict[tuple[Any, ...], int]) -> Any:
    """Skip one value; record the offset of those at interesting paths; a string's value is returned."""
    m = tok.next()
    start = m.start(m.lastindex or 0)
    if path == ("signed",) or _interesting(path):
        found[path] = start
    if m.group(1) is not None:
        return json.loads(m.group(1))
    punct = m.group(2)
    if punct == "{":
        m = tok.next()
        if m.group(2) == "}":
            return None
        while True:
            if m.group(1) is None:
                raise _Unreadable
            key = json.loads(m.group(1))
            if tok.next().group(2) != ":":
                raise _Unreadable
            _value(tok, (*path, key), found)
            m = tok.next()
            if m.group(2) == "}":
                return None
            if m.group(2) != ",":
                raise _Unreadable
            m = tok.next()
    if punct == "[":
        i = 0
        m = tok.next()
        if m.group(2) == "]":
            return None
        tok.peeked = m
        while True:
            _value(tok, (*path, i), found)
            i += 1
            m = tok.next()
            if m.group(2) == "]":
                return None
            if m.group(2) != ",":
                raise _Unreadable
    if m.group(3) is None:
        raise _Unreadable
    return None


def _interesting(path: tuple[Any, ...]) -> bool:
    if path[:1] == ("signed",):
        path = path[1:]
    n = len(path)
    return (n == 3 and path[0] in ("steps", "inspect") and path[2] == "name") or (
        n == 4 and path[0] in ("steps", "inspect") and path[2] in _RULES
    )


def json_locations(text: str, filename: str) -> dict[tuple[str, str, int], str]:
    """``(item name, "materials"|"products", rule index) -> "file:line"`` for a JSON layout's rules."""
    found: dict[tuple[Any, ...], int] = {}
    tok = _Tokens(text)
    try:
        _value(tok, (), found)
    except (_Unreadable, ValueError, RecursionError):
        return {}
    signed = ("signed",) in found  # a Metablock: its rules are those of the signed layout
    newlines = [m.start() for m in re.finditer("\n", text)]
    names: dict[tuple[Any, ...], str] = {}
    for path, offset in found.items():
        if path[-1] == "name" and len(path) > 1:
            m = _TOKEN.match(text, offset)
            if m is not None and m.group(1) is not None:
                names[path[:-1]] = json.loads(m.group(1))
    out: dict[tuple[str, str, int], str] = {}
    for path, offset in found.items():
        if len(path) < 3 or path[-1] == "name" or (signed and path[:1] != ("signed",)):
            continue
        name = names.get(path[:2] if path[:1] != ("signed",) else path[:3])
        if isinstance(name, str):
            kind = "materials" if path[-2] == "expected_materials" else "products"
            out[(name, kind, path[-1])] = f"{filename}:{bisect_left(newlines, offset) + 1}"
    return out
