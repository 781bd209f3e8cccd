"""One strict JSON loader for the server and the CLI: bounded size and depth, no lone surrogates.

``json.loads`` recurses per nesting level and accepts unpaired surrogates (``"\\ud800"``), which later
explode when the text is encoded. Every untrusted document goes through :func:`loads` instead.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import chain, compress, repeat
from typing import Any

import orjson

from assay.errors import InputError

MAX_DEPTH = 64
MAX_BYTES = 64 * 1024 * 1024


_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.S)
_CONTAINERS = frozenset((dict, list))
_BRACKETS = re.compile(r"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _outside_strings(text: str) -> str:
    """``text`` without its string literals (an unterminated string runs to the end); linear."""
    pieces = []
    pos, end = 0, len(text)
    while True:
        q = text.find('"', pos)
        if q < 0:
            pieces.append(text[pos:])
            break
        pieces.append(text[pos:q])
        stop = _STRING_BODY.match(text, q + 1).end()  # type: ignore[union-attr]
        if stop >= end:
            break
        pos = stop + 1
    return "".join(pieces)


def _depth_ok(text: str, limit: int) -> bool:
    """True when brackets outside strings never nest deeper than ``limit`` (a linear pre-scan)."""
    depth = 0
    for ch in _BRACKETS.findall(_outside_strings(text)):
        if ch in "[{":
            depth += 1
            if depth > limit:
                return False
        else:
            depth -= 1
    return True


def _walk_levels(value: Any, limit: int) -> tuple[bool, bool]:
    """(nests no deeper than ``limit``, as the bracket scan counts; holds a float) for parsed JSON."""
    level: list[Any] = [value] if type(value) is dict or type(value) is list else []
    depth = 1
    floats = type(value) is float
    while level:  # one nesting level at a time, iterated by C builtins (documents hold many small objects)
        if depth > limit:
            return False, floats
        is_dict = list(map(operator.is_, map(type, level), repeat(dict)))
        children = list(
            chain(
                chain.from_iterable(map(dict.values, compress(level, is_dict))),
                chain.from_iterable(compress(level, map(operator.not_, is_dict))),
            )
        )
        types = list(map(type, children))
        floats = floats or float in types
        level = list(compress(children, map(_CONTAINERS.__contains__, types)))
        depth += 1
    return True, floats


def _value_depth_ok(value: Any, limit: int) -> bool:
    """True when parsed JSON nests containers no deeper than ``limit`` (as the bracket scan counts them)."""
    return _walk_levels(value, limit)[0]


def _fast_loads(data: bytes | bytearray | str, limit: int) -> tuple[bool, Any]:
    """(True, value) when orjson's parse is provably the one ``json.loads`` gives, else (False, None).

    orjson refuses what the slow path must explain (lone surrogates, NaN, infinities, bad syntax) and
    differs from ``json.loads`` only on numbers: an integer beyond 64 bits becomes a float there. So a value
    holding no float, nested within the limit, is the same value; anything else goes the slow way.
    """
    try:
        value = orjson.loads(data)
    except (ValueError, TypeError):  # orjson.JSONDecodeError, or an input type orjson does not read
        return False, None
    depth_ok, floats = _walk_levels(value, limit)
    if not depth_ok or floats:
        return False, None
    return True, value


def _may_hold_surrogate(text: str) -> bool:
    """False when ``text`` can decode to no surrogate: no ``\\uD800``-``\\uDFFF`` escape and none raw."""
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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
    fast, value = _fast_loads(data, max_depth)  # orjson reads UTF-8 itself; a BOM or bad UTF-8 goes below
    if fast:
        return value
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("json-invalid", f"{what} is not UTF-8: {exc.reason} at byte {exc.start}") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]
    too_deep = InputError("json-too-deep", f"{what} nests deeper than {max_depth} levels")
    # The C decoder guards its own recursion, so parsing first is safe; the depth limit is then checked on
    # the parsed value, or on the failure path with the scan of the text.
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:
        if not _depth_ok(text, max_depth):
            raise too_deep from None
        raise InputError("json-invalid", f"{what} is not valid JSON: {str(exc).splitlines()[0]}") from None
    if not _value_depth_ok(value, max_depth):
        raise too_deep
    if _may_hold_surrogate(text) and _has_lone_surrogate(value):
        raise InputError("json-invalid", f"{what} contains an unpaired UTF-16 surrogate")
    return value


def load_object(data: bytes | str, *, what: str = "JSON document", **limits: Any) -> dict[str, Any]:
    """:func:`loads` and require a JSON object at the top level."""
    return load_object_checked(data, what=what, **limits)[0]


def load_object_checked(
    data: bytes | str, *, what: str = "JSON document", **limits: Any
) -> tuple[dict[str, Any], bool]:
    """:func:`load_object`, and True when the object provably holds no float (encoders need not look again)."""
    if len(data) <= limits.get("max_bytes", MAX_BYTES):
        fast, value = _fast_loads(data, limits.get("max_depth", MAX_DEPTH))
        if fast and isinstance(value, dict):
            return value, True
    value = loads(data, what=what, **limits)
    if not isinstance(value, dict):
        raise InputError("json-invalid", f"{what} must be a JSON object, not {type(value).__name__}")
    return value, False
