"""The ``assay`` command: imports every command group (registration order is help order) and maps errors to exit codes."""

from __future__ import annotations

import importlib
import sys

import typer
from typer.exceptions import TyperException

from assay.cli import output
from assay.cli.app import app
from assay.errors import EXIT_ENVIRONMENT, EXIT_INPUT, AssayError

__all__ = ["app", "main"]

# Command groups, one module each; importing a module registers its commands, and this order is the help order.
GROUPS = (
    "blob",
    "checksums",
    "server",
    "image",
    "supply",
    "policy",
    "conformance",
    "attestation",
    "admission",
    "layout",
    "access",
    "evidence",
    "repository",
)
for _group in GROUPS:
    importlib.import_module(f"assay.cli.{_group}")


def main() -> None:
    """Entry point: run the app, map errors to exit codes."""
    try:
        rc = app(standalone_mode=False)
    except AssayError as exc:
        output.report_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        output.warn("error[aborted]: aborted")
        sys.exit(EXIT_INPUT)
    except TyperException as exc:  # usage errors: unknown flag, missing argument, bad value
        if type(exc).__name__ == "NoArgsIsHelpError":
            output.warn(exc.format_message())
        else:
            output.warn(f"error[usage]: {exc.format_message()}")
        sys.exit(EXIT_INPUT)
    except Exception as exc:  # a bug: still one line, traceback only with -v
        output.warn(f"error[internal]: {type(exc).__name__}: {exc}")
        if output.state["verbose"]:
            import traceback

            traceback.print_exc()
        sys.exit(EXIT_ENVIRONMENT)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)
