"""``assay tuf``: TUF trust distribution (the repository commands and the ``client`` subgroup)."""

from __future__ import annotations

import typer

from assay.cli.app import app as root
from assay.cli.tuf_client import client_app

app = typer.Typer(
    help="TUF trust distribution: repository roles, delegations, rotation, and a client.", no_args_is_help=True
)
root.add_typer(app, name="tuf")
app.add_typer(client_app, name="client")
