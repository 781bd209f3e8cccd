"""RFC 8785 (JCS) canonical JSON, with a fast path for the plain documents the log signs.

For a document built only of objects with string keys, arrays, ASCII strings without control characters
other than the short-escaped ones, booleans, null and integers within ±(2^53 − 1), RFC 8785's output is
exactly what ``json.dumps(sort_keys=True, separators=(",", ":"))`` writes: members sorted by key (UTF-16
order equals code-point order for ASCII), the same escapes, integers in decimal. Anything else — floats,
non-ASCII text, other control characters, large integers — goes through the ``rfc8785`` library.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return value.isascii()
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def dumps(value: Any) -> bytes:
    """The RFC 8785 serialisation of ``value``."""
    if _plain(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        if "\\u" not in text:  # no character needed a \u escape: nothing where the two could differ
            return text.encode()
    return rfc8785.dumps(value)
