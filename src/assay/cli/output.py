"""Rendering results and errors for humans (rich-free, fast) and for machines (JSON)."""

from __future__ import annotations

import json
import sys
from typing import Any

from assay.errors import AssayError

state = {"verbose": False}


def emit_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def say(text: str) -> None:
    """Print a line on stdout."""
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    """Print a line on stderr."""
    sys.stderr.write(text + "\n")


def error_json(exc: AssayError) -> dict[str, Any]:
    """JSON form of a failure."""
    return {
        "verified": False,
        "step": exc.step,
        "reason": exc.reason,
        "message": exc.message,
        "exitCode": exc.exit_code,
    }


def report_error(exc: AssayError) -> None:
    """The one-line error on stderr (details with -v)."""
    warn(exc.line())
    if state["verbose"]:
        import traceback

        if exc.step:
            warn(f"  step: {exc.step}")
        traceback.print_exception(exc, file=sys.stderr)
