"""Refusals with an HTTP status: 401 (who are you), 403 (not allowed), 404, 409, 429."""

from __future__ import annotations

from assay.errors import InputError


class AccessError(InputError):
    """A refused request; ``status`` is the HTTP status the server answers with."""

    def __init__(self, status: int, reason: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(reason, message, hint=hint)
        self.status = status


def unauthenticated(reason: str, message: str) -> AccessError:
    """401: no usable credentials."""
    return AccessError(401, reason, message)


def forbidden(reason: str, message: str) -> AccessError:
    """403: authenticated, but not allowed."""
    return AccessError(403, reason, message)


def not_found(reason: str, message: str) -> AccessError:
    """404: the named project, grant or token does not exist."""
    return AccessError(404, reason, message)


def conflict(reason: str, message: str) -> AccessError:
    """409: the change would break an invariant or already happened."""
    return AccessError(409, reason, message)
