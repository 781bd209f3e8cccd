"""The ``assay`` command: registers the command groups (registration order is help order), maps errors to exit codes.

Importing every group costs a tenth of a second of start-up, so ``main`` imports only the group of the command
named on the command line (``COMMANDS``); anything else (``--help``, an unknown or unmapped name) loads them all.
``app`` read from this module is always the complete application. ``assay run`` and ``assay verify-layout``
in their plain forms do not load Typer at all (:mod:`assay.cli.fastpath`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from assay.cli import output
from assay.errors import EXIT_ENVIRONMENT, EXIT_INPUT, AssayError

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]  # noqa: F822 (app is served by __getattr__ once every group is loaded)

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
    "profile",
    "crypt",
    "broker",
    "checklist",
    "tuf",
    "registry",
)
# Top-level command (or sub-app) name -> its group; tests/unit/cli/test_lazy_groups.py keeps it complete.
COMMANDS = {
    **dict.fromkeys(
        ("keygen", "public-key", "sign-blob", "verify-blob", "attest-blob", "verify-blob-attestation", "bundle"), "blob"
    ),
    **dict.fromkeys(("checksums", "pgp"), "checksums"),
    **dict.fromkeys(("server", "trust-config", "dev", "log"), "server"),
    **dict.fromkeys(("sign", "verify", "attest", "verify-attestation", "tree", "copy", "attach"), "image"),
    **dict.fromkeys(("sbom", "scan", "verify-provenance", "vulndb", "provenance"), "supply"),
    "policy": "policy",
    "conformance": "conformance",
    "attestation": "attestation",
    "admission": "admission",
    **dict.fromkeys(("run", "verify-layout", "rebuild-check", "record", "layout"), "layout"),
    **dict.fromkeys(("login", "logout", "whoami", "project", "token", "audit"), "access"),
    "evidence": "evidence",
    **dict.fromkeys(("publish", "fetch", "repository"), "repository"),
    **dict.fromkeys(("entity", "profile", "history", "alert"), "profile"),
    **dict.fromkeys(("encrypt-blob", "decrypt-blob", "encrypt", "decrypt"), "crypt"),
    "checklist": "checklist",
    "tuf": "tuf",
    "registry": "registry",
    "broker": "broker",
}


def _application() -> typer.Typer:
    from assay.cli.app import app

    return app


def load_all() -> typer.Typer:
    """Import every command group (in help order) and return the complete application."""
    for group in GROUPS:
        importlib.import_module(f"assay.cli.{group}")
    return _application()


def registered(name: str) -> bool:
    """True when a top-level command or sub-app called ``name`` is registered on the application."""
    _app = _application()
    for c in _app.registered_commands:
        if (c.name or (c.callback.__name__.replace("_", "-") if c.callback else None)) == name:
            return True
    return any((g.name or g.typer_instance.info.name) == name for g in _app.registered_groups if g.typer_instance)


def _load_for(argv: list[str]) -> typer.Typer:
    """The application with at least the group of the command in ``argv`` (all groups when unsure)."""
    name = next((a for a in argv if not a.startswith("-")), None)
    if name is None and "--version" in argv and "--help" not in argv:
        return _application()  # the eager --version option answers before any command is needed
    if name is None or name not in COMMANDS or "--help" in argv[: argv.index(name)]:
        return load_all()
    importlib.import_module(f"assay.cli.{COMMANDS[name]}")
    return _application() if registered(name) else load_all()


def __getattr__(name: str) -> Any:
    if name == "app":
        return load_all()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _internal(exc: Exception) -> NoReturn:
    output.warn(f"error[internal]: {type(exc).__name__}: {exc}")
    if output.state["verbose"]:
        import traceback

        traceback.print_exc()
    sys.exit(EXIT_ENVIRONMENT)


def _run_planned(call: Callable[[], int]) -> NoReturn:
    """A command :mod:`assay.cli.fastpath` parsed, with the errors mapped as for the Typer commands."""
    try:
        rc = call()
    except AssayError as exc:
        output.report_error(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: still one line, traceback only with -v
        _internal(exc)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rc)


def main() -> None:
    """Entry point: run the app, map errors to exit codes."""
    from assay.cli import fastpath

    planned = fastpath.plan(sys.argv[1:])
    if planned is not None:
        _run_planned(planned)
    import typer
    from typer.exceptions import TyperException

    try:
        rc = _load_for(sys.argv[1:])(standalone_mode=False)
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
        _internal(exc)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)
