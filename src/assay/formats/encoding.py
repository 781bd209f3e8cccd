"""Strict decoders shared by the format parsers."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from assay.errors import InputError


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


def load_json(data: bytes | str, what: str) -> Any:
    """Parse JSON, turning syntax errors into ``malformed-json``."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("malformed-json", f"{what}: not valid JSON ({exc})") from None


def as_int(value: object, field: str, *, minimum: int = 0) -> int:
    """Read a protobuf-JSON int64 (number or decimal string) and check its lower bound."""
    if isinstance(value, bool):
        raise InputError("malformed-field", f"{field}: expected an integer")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and value.lstrip("-").isdigit():
        n = int(value)
    else:
        raise InputError("malformed-field", f"{field}: expected an integer")
    if n < minimum:
        raise InputError("malformed-field", f"{field}: must be >= {minimum}, got {n}")
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
