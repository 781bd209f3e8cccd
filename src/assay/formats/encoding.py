"""Strict decoders shared by the format parsers."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from assay.errors import InputError
from assay.formats import safejson

_DECIMAL = re.compile(r"-?[0-9]{1,20}")


def b64decode(value: object, field: str) -> bytes:
    """Decode standard or URL-safe base64 (padding optional), failing on anything else."""
    if not isinstance(value, str):
        raise InputError("malformed-base64", f"{field}: expected a base64 string")
    s = value.strip()
    if "-" in s or "_" in s:
        s = s.replace("-", "+").replace("_", "/")
    if len(s) % 4 == 1:
        raise InputError("malformed-base64", f"{field}: truncated base64")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("malformed-base64", f"{field}: invalid base64") from None


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as protobuf JSON writes bytes."""
    return base64.b64encode(data).decode("ascii")


INT64_MAX = 2**63 - 1
MAX_UNIX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold


def load_json(data: bytes | str, what: str) -> Any:
    """Parse untrusted JSON through the depth-limited loader; syntax errors are ``malformed-json``."""
    try:
        return safejson.loads(data, what=what)
    except InputError as exc:
        if exc.reason == "json-invalid":
            raise InputError("malformed-json", exc.message) from None
        raise


def as_int(value: object, field: str, *, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """Read a protobuf-JSON int64 (number or decimal string) within ``[minimum, maximum]``."""
    if isinstance(value, bool):
        raise InputError("malformed-field", f"{field}: expected an integer")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value):
        n = int(value)
    else:
        raise InputError("malformed-field", f"{field}: expected an integer")
    if n < minimum:
        raise InputError("malformed-field", f"{field}: must be >= {minimum}, got {n}")
    if n > maximum:
        raise InputError("malformed-field", f"{field}: must be <= {maximum}, got {n}")
    return n


def obj(value: object, field: str) -> dict[str, Any]:
    """Require a JSON object."""
    if not isinstance(value, dict):
        raise InputError("malformed-field", f"{field}: expected an object")
    return value


def string(value: object, field: str) -> str:
    """Require a JSON string."""
    if not isinstance(value, str):
        raise InputError("malformed-field", f"{field}: expected a string")
    return value


def optional_list(value: object, field: str, *, reason: str = "malformed-field") -> list[Any]:
    """A JSON list; absent or null reads as empty, any other type raises ``InputError(reason)``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(reason, f"{field}: expected a list, got {type(value).__name__}")
    return value


def optional_object(value: object, field: str, *, reason: str = "malformed-field") -> dict[str, Any]:
    """A JSON object; absent or null reads as empty, any other type raises ``InputError(reason)``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(reason, f"{field}: expected an object, got {type(value).__name__}")
    return value


def objects(value: object, field: str, *, reason: str = "malformed-field") -> list[dict[str, Any]]:
    """A JSON list of objects (absent or null: empty); anything else raises ``InputError(reason)``."""
    out = optional_list(value, field, reason=reason)
    for i, item in enumerate(out):
        if not isinstance(item, dict):
            raise InputError(reason, f"{field}[{i}]: expected an object, got {type(item).__name__}")
    return out
