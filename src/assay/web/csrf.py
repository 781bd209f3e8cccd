"""CSRF tokens: an HMAC of the browser's random binding cookie under the server's dashboard key.

A form carries ``token(key, binding)``; a POST is accepted only when its ``csrf`` field equals the token of the
binding cookie it arrived with. A cross-site page can make the browser send the cookie but cannot read it, so it
cannot compute the token (the cookie is HttpOnly, SameSite=Lax as well).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

REASON = "csrf-token-invalid"


def new_binding() -> str:
    """A fresh random binding value for the cookie."""
    return secrets.token_urlsafe(32)


def token(key: bytes, binding: str) -> str:
    """The form token for ``binding``."""
    return hmac.new(key, b"assay-ui-csrf\0" + binding.encode(), hashlib.sha256).hexdigest()


def valid(key: bytes, binding: str | None, presented: str | None) -> bool:
    """Whether ``presented`` is the token of ``binding`` (both present)."""
    if not binding or not presented:
        return False
    return hmac.compare_digest(token(key, binding), presented)


def sign(key: bytes, value: str) -> str:
    """``value`` with an HMAC tag (for the short-lived login-state cookie)."""
    tag = hmac.new(key, b"assay-ui-state\0" + value.encode(), hashlib.sha256).hexdigest()
    return f"{value}.{tag}"


def unsign(key: bytes, signed: str | None) -> str | None:
    """The value of a :func:`sign` result, or None when the tag does not match."""
    if not signed or "." not in signed:
        return None
    value, _, tag = signed.rpartition(".")
    good = hmac.new(key, b"assay-ui-state\0" + value.encode(), hashlib.sha256).hexdigest()
    return value if hmac.compare_digest(good, tag) else None
