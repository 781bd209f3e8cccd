"""Structure-aware mutations of valid documents, shared by the hypothesis suite and ``benchmarks/fuzz.py``.

A JSON (or YAML) seed is parsed, one to three nodes are changed — replaced by a value of another type,
deleted, nested thousands deep, set to huge numbers or odd strings, swapped with another node — and the
result is serialised again. Base64 strings that hold JSON (Rekor bodies, DSSE payloads) are mutated inside
and re-encoded, so nested parsers see structured damage too. Text seeds get line-level mutations, and any
seed sometimes gets raw byte damage.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from typing import Any

import yaml

ODD_STRINGS = (
    "",
    " ",
    "\u00b2",  # a superscript digit: str.isdigit() is true, int() refuses it
    "\u0661\u0662",  # Arabic-Indic digits
    "-1",
    "1e999",
    "NaN",
    "99999999999999999999999",
    "99999999999999999999999h",
    "sha256:",
    "sha256:" + "0" * 64,
    "\x00",
    "\n\t\r",
    "\u2028",
    "\ufeff",
    "\ud800",  # a lone surrogate (json.dumps writes it escaped)
    "a" * 5000,
    "==",
    "AAAA",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "(" * 200,
    "*",
    "\u2014 ",
)
HUGE_NUMBERS = (2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, -1, 0, 1e308, -0.0, 1.5)


def _scalar(rng: random.Random) -> Any:
    pick = rng.randrange(6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice((True, False))
    if pick == 2:
        return rng.choice(HUGE_NUMBERS)
    if pick == 3:
        return rng.choice(ODD_STRINGS)
    if pick == 4:
        return []
    return {}


_DEEP = re.compile(r'"__deep_([0-9]+)_([lo])__"|__deep_([0-9]+)_([lo])__')


def _deep(rng: random.Random) -> str:
    """A marker that :func:`_expand` turns into brackets nested thousands deep (serialisers would recurse)."""
    return f"__deep_{rng.choice((70, 200, 1000, 5000, 100000))}_{rng.choice('lo')}__"


def _expand(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        n, kind = min(int(m.group(1) or m.group(3)), 100_000), m.group(2) or m.group(4)
        return "[" * n + "]" * n if kind == "l" else '{"a":' * n + "1" + "}" * n

    return _DEEP.sub(repl, text)


def _nodes(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every node below the root, iteratively."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k in list(item):
                out.append((item, k))
                stack.append(item[k])
        elif isinstance(item, list):
            for i in range(len(item)):
                out.append((item, i))
                stack.append(item[i])
    return out


def _inner_json(value: str) -> Any | None:
    if len(value) < 8:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith((b"{", b"[")):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def mutate_value(doc: Any, rng: random.Random, graft: Any = None) -> Any:
    """Apply one to three structural mutations to a parsed document (copied first)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, 3)):
        nodes = _nodes(doc)
        if not nodes:
            return _scalar(rng) if rng.random() < 0.5 else _deep(rng)
        container, key = rng.choice(nodes)
        current = container[key]
        op = rng.randrange(9)
        if op == 0 and isinstance(container, dict):
            del container[key]
        elif op == 1:
            container[key] = _scalar(rng)
        elif op == 2:
            container[key] = _deep(rng)
        elif op == 3 and isinstance(current, str) and (inner := _inner_json(current)) is not None:
            container[key] = base64.b64encode(_expand(json.dumps(mutate_value(inner, rng))).encode()).decode()
        elif op == 4 and isinstance(current, str):
            cut = rng.randrange(len(current) + 1)
            container[key] = current[:cut] + rng.choice(ODD_STRINGS) + current[cut + rng.randrange(3) :]
        elif op == 5:
            other_container, other_key = rng.choice(nodes)
            container[key] = json.loads(json.dumps(other_container[other_key]))
        elif op == 6 and isinstance(current, list):
            container[key] = current * rng.choice((0, 2, 50)) if len(current) < 50 else current[:1]
        elif op == 7 and isinstance(current, dict):
            current[rng.choice(("extra", "", "\u00b2", "mediaType"))] = _scalar(rng)
        elif op == 8 and graft is not None:
            container[key] = graft
        else:
            container[key] = rng.choice(HUGE_NUMBERS)
    return doc


def mutate_text(text: str, rng: random.Random) -> str:
    """Line-level damage: delete, duplicate, swap, splice odd strings, change numbers."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.randrange(6)
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            cut = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:cut] + rng.choice(ODD_STRINGS) + lines[i][cut:]
        elif op == 4:
            lines[i] = "".join(str(rng.choice(HUGE_NUMBERS)) if c.isdigit() else c for c in lines[i][:200])
        else:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    return "\n".join(lines)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Raw damage: flip, insert, delete or truncate bytes."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf and pos < len(buf):
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 2:
            del buf[pos : pos + rng.randint(1, 16)]
        else:
            del buf[pos:]
    return bytes(buf)


def _as_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _as_yaml(data: bytes) -> Any:
    try:
        doc = yaml.safe_load(data)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    return doc if isinstance(doc, dict | list) else None


def mutate(seed: bytes, rng: random.Random, graft: Any = None) -> bytes:
    """One mutant of ``seed``: structural when it parses as JSON or YAML, else textual; sometimes raw."""
    if rng.random() < 0.1 or len(seed) > 200_000:
        return mutate_bytes(seed, rng)
    try:
        return _structural(seed, rng, graft)
    except (RecursionError, ValueError):  # a mutant of a mutant nested too deep for the serialisers
        return mutate_bytes(seed, rng)


def _structural(seed: bytes, rng: random.Random, graft: Any) -> bytes:
    doc = _as_json(seed)
    if doc is not None and isinstance(doc, dict | list):
        return _expand(json.dumps(mutate_value(doc, rng, graft))).encode()
    ydoc = _as_yaml(seed) if b"&" not in seed else None  # aliases: copying the data would expand them
    if ydoc is not None and seed.lstrip()[:1] not in (b"{", b"["):
        mutated = mutate_value(ydoc, rng, graft)
        if rng.random() < 0.5:
            try:
                text = yaml.safe_dump(mutated, allow_unicode=True, width=1 << 20)
                return _expand(text).encode("utf-8", "surrogatepass")
            except (yaml.YAMLError, UnicodeError):
                pass
        return _expand(json.dumps(mutated)).encode()
    return mutate_text(seed.decode("utf-8", "replace"), rng).encode("utf-8", "surrogatepass")
