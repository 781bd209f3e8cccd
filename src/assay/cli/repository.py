"""``assay publish`` / ``assay fetch`` and ``assay repository policy|delete``: the verified artifact repository."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app as root_app
from assay.cli.evidence import ProjectOpt, ServerOpt, TokenOpt
from assay.cli.options import VersionRefArg

repository_app = typer.Typer(help="The verified artifact repository: policy and versions.", no_args_is_help=True)


def _client(server: str | None, project: str, token: str | None):  # type: ignore[no-untyped-def]
    from assay.clients.evidence import EvidenceClient

    return EvidenceClient.create(server, project, token)


def publish(
    file: Annotated[str, typer.Argument(help="the artifact file")],
    project: ProjectOpt,
    name: Annotated[str, typer.Option("--name", help="artifact name")],
    version: Annotated[str, typer.Option("--version", help="version (immutable once published)")],
    server: ServerOpt = None,
    bundle: Annotated[
        Optional[list[str]], typer.Option("--bundle", help="evidence to upload first, repeatable")
    ] = None,
    token: TokenOpt = None,
) -> None:
    """Upload an artifact with its evidence; the server publishes it only if it passes the repository policy."""
    from assay.service import evidence

    doc = evidence.publish(_client(server, project, token), file, name, version, bundle or [])
    output.say(f"published {project}/{doc['name']}@{doc['version']} {doc['digest']} (VSA {doc['vsa']})")


def fetch(
    ref: VersionRefArg,
    out: Annotated[str, typer.Option("--out", "-o", help="file to write")],
    server: ServerOpt = None,
    vsa_key: Annotated[
        Optional[str], typer.Option("--vsa-key", help="repository public key (default: ask the server)")
    ] = None,
    token: TokenOpt = None,
) -> None:
    """Download a published artifact; the digest and the signed VSA are checked before the file is written."""
    from assay.service import evidence

    project, name, version = evidence.parse_coordinates(ref)
    doc = evidence.fetch(_client(server, project, token), name, version, out, vsa_key)
    output.say(f"{out}: {doc['digest']} verified (VSA {doc['vsa']})")


@repository_app.command("policy")
def set_policy(
    policy: Annotated[str, typer.Argument(help="assay policy file (YAML or JSON)")],
    project: ProjectOpt,
    server: ServerOpt = None,
    file: Annotated[
        Optional[list[str]], typer.Option("--file", help="a key or trusted root the policy names, repeatable")
    ] = None,
    token: TokenOpt = None,
) -> None:
    """Set the project's repository policy (policy_writer); it is checked before it is stored."""
    from pathlib import Path

    from assay.service.io import read_file

    doc = {
        "policy": read_file(policy, "policy").decode(),
        "files": {Path(f).name: read_file(f, "policy file").decode() for f in file or []},
    }
    output.emit_json(_client(server, project, token).set_json("/repository/policy", doc, "repository policy"))


@repository_app.command("delete")
def delete(
    ref: VersionRefArg,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a version (admin, audited); its evidence and VSA stay in the evidence store."""
    from assay.service import evidence

    project, name, version = evidence.parse_coordinates(ref)
    output.say(json.dumps(_client(server, project, token).delete(name, version)["deleted"]))


def register(app: typer.Typer) -> None:
    """Add ``publish``, ``fetch`` and ``repository`` to the top-level command."""
    app.command("publish")(publish)
    app.command("fetch")(fetch)
    app.add_typer(repository_app, name="repository")


register(root_app)
