"""Request authentication and authorisation for project-scoped routes.

# TEMPORARY: replaced by the access branch on merge
This stand-in allows every request and takes the caller's identity from the
``X-Assay-Test-Identity`` header (or ``anonymous``); the access branch's module
with the same ``require(action)`` signature authenticates bearer tokens,
checks the role table and audits writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    identity: str
    issuer: str


def require(action: str) -> Callable[[Request], Principal]:
    """A FastAPI dependency authorising ``action`` in the path's ``project`` (TEMPORARY: allows everything)."""

    def dependency(request: Request) -> Principal:
        who = request.headers.get("x-assay-test-identity") or "anonymous"
        return Principal(identity=who, issuer="assay-test")

    dependency.__name__ = f"require_{action.replace('.', '_')}"
    return dependency
