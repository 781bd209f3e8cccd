"""The one parser of numeric query parameters: ASCII digits only, bounded, 400 ``invalid-parameter`` otherwise.

``str.isdigit()`` accepts ``²`` and other Unicode digits that ``int()`` refuses; ``int()`` accepts ``+5``,
`` 5 ``, ``5_000`` and refuses 5,000 digits with ValueError only after the conversion limit; a 20-digit value
overflows SQLite's 64-bit integers. Every numeric query parameter goes through :func:`number` instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from assay.errors import InputError

MAX_SAFE = 2**53 - 1  # exact in every JSON client (JavaScript numbers), and within int64
MAX_DIGITS = len(str(MAX_SAFE))
INVALID = "invalid-parameter"
_DIGITS = re.compile(r"[0-9]+")


def _show(value: str) -> str:
    return repr(value[:30] + ("…" if len(value) > 30 else ""))


def optional(
    value: str | None, name: str, *, minimum: int = 0, maximum: int = MAX_SAFE, reason: str = INVALID
) -> int | None:
    """``value`` as an int in ``[minimum, maximum]``, None when absent; InputError ``reason`` otherwise.

    Only ASCII ``[0-9]+`` of at most as many digits as ``maximum`` has is read (no sign, space, ``_`` or
    Unicode digits), so nothing is ever converted that could not fit.
    """
    if value is None:
        return None
    if (
        not _DIGITS.fullmatch(value)
        or len(value.lstrip("0")) > len(str(maximum))
        or not (minimum <= int(value) <= maximum)
    ):
        raise InputError(reason, f"{name} must be a decimal integer from {minimum} to {maximum}, got {_show(value)}")
    return int(value)


def number(
    value: str | None,
    name: str,
    default: int,
    *,
    minimum: int = 0,
    maximum: int = MAX_SAFE,
    reason: str = INVALID,
) -> int:
    """:func:`optional`, with ``default`` when the parameter is absent."""
    n = optional(value, name, minimum=minimum, maximum=maximum, reason=reason)
    return default if n is None else n


def unix_time(value: str | None, name: str) -> int | None:
    """Seconds since the epoch (via :func:`optional`) or an RFC 3339 time (UTC without offset); InputError."""
    if value is None:
        return None
    if _DIGITS.fullmatch(value):
        return optional(value, name)
    try:
        if len(value) > 64:
            raise ValueError(value)
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if when.tzinfo is None:  # a date or a time without offset: UTC
            when = when.replace(tzinfo=UTC)
        seconds = int(when.timestamp())
    except (ValueError, OverflowError, OSError):
        raise InputError(
            INVALID, f"{name}: {_show(value)} is neither an RFC 3339 time nor seconds since the epoch"
        ) from None
    return max(0, seconds)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TEXT = 2048


def text(value: str | None, name: str, *, max_chars: int = MAX_TEXT) -> str | None:
    """A string query parameter: at most ``max_chars``, no NUL or other control characters (PostgreSQL refuses
    NUL in text); InputError ``invalid-parameter`` otherwise."""
    if value is None:
        return None
    if len(value) > max_chars or _CONTROL.search(value):
        raise InputError(INVALID, f"{name} must be text of at most {max_chars} characters without control characters")
    return value
