"""Validating names that arrive in paths: projects, artifact names and versions."""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse

from assay.errors import InputError, VerificationError

_PROJECT = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,255}")


def check_project(project: str) -> str:
    """A project name (lowercase letters, digits, ``.-_``), else InputError ``bad-project-name``."""
    if not _PROJECT.fullmatch(project):
        raise InputError("bad-project-name", f"{project!r} is not a project name")
    return project


def check_name(value: str, what: str) -> str:
    """An artifact name or version: one path segment, no ``..``, ``/``, NUL or leading dot."""
    if not _NAME.fullmatch(value) or ".." in value:
        raise InputError("bad-name", f"{what} {value!r} is not allowed (letters, digits, '.', '_', '+', '-')")
    return value


def untrusted(exc: VerificationError) -> JSONResponse:
    """422 for evidence or an artifact that does not verify or pass policy (clients map it to exit code 1)."""
    return JSONResponse({"code": 422, "reason": exc.reason, "message": exc.message}, status_code=422)
