"""One strict JSON loader for the server and the CLI: bounded size and depth, no lone surrogates.

``json.loads`` recurses per nesting level and accepts unpaired surrogates (``"\\ud800"``), which later
explode when the text is encoded. Every untrusted document goes through :func:`loads` instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from assay.errors import InputError

MAX_DEPTH = 64
MAX_BYTES = 64 * 1024 * 1024


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _depth_ok(text: str, limit: int) -> bool:
    """True when brackets outside strings never nest deeper than ``limit`` (linear: strings are cut out by
    a regular expression first, then only bracket characters are visited)."""
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return False
        else:
            depth -= 1
    return True


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str, *, what: str = "JSON", max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """Parse untrusted JSON; raise ``InputError`` (``json-invalid``, ``json-too-deep``, ``json-too-large``)."""
    if len(data) > max_bytes:
        raise InputError("json-too-large", f"{what} is larger than {max_bytes} bytes")
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("json-invalid", f"{what} is not UTF-8: {exc.reason} at byte {exc.start}") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]
    if not _depth_ok(text, max_depth):
        raise InputError("json-too-deep", f"{what} nests deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InputError("json-invalid", f"{what} is not valid JSON: {str(exc).splitlines()[0]}") from None
    if _has_lone_surrogate(value):
        raise InputError("json-invalid", f"{what} contains an unpaired UTF-16 surrogate")
    return value


def load_object(data: bytes | str, *, what: str = "JSON document", **limits: Any) -> dict[str, Any]:
    """:func:`loads` and require a JSON object at the top level."""
    value = loads(data, what=what, **limits)
    if not isinstance(value, dict):
        raise InputError("json-invalid", f"{what} must be a JSON object, not {type(value).__name__}")
    return value
