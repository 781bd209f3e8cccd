"""Rendering results and errors for humans (rich-free, fast) and for machines (JSON)."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

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


def emit_rows(rows: list[dict[str, Any]], fmt: str) -> NoReturn:
    """Print checklist rows (``assay checklist``, ``assay registry check``) as a table, JSON or SARIF; exit 1 when
    a row fails."""
    import typer

    from assay.service.checklist import to_sarif

    if fmt == "sarif":
        emit_json(to_sarif(rows))
    elif fmt == "json":
        emit_json({"rows": rows})
    else:
        for r in rows:
            say(f"{r['status']:8} {r['item']:28} {'; '.join(r['evidence'])[:200]}")
    raise typer.Exit(1 if any(r["status"] == "fail" for r in rows) else 0)
