"""The root ``assay`` Typer application and its global options; command groups register on it."""

from __future__ import annotations

from typing import Annotated

import typer

from assay import __version__
from assay.cli import output

app = typer.Typer(
    name="assay",
    help="Sign, attest, log and verify software artifacts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        output.say(f"assay {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show details and tracebacks")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    output.state["verbose"] = verbose
