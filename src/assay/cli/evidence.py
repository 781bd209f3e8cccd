"""``assay evidence put|search|get|graph|trust|retention``: the evidence store of an assay server."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app as root
from assay.cli.options import OutFileShortOpt
from assay.errors import InputError

app = typer.Typer(help="The evidence store: upload, search, fetch and graph attestations.", no_args_is_help=True)
root.add_typer(app, name="evidence")

ServerOpt = Annotated[
    Optional[str], typer.Option("--server", help="assay server URL (default: ASSAY_SERVER, then the last login)")
]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", envvar="ASSAY_PROJECT", help="project name")]
TokenOpt = Annotated[
    Optional[str], typer.Option("--token", help="API token or session (default: ASSAY_TOKEN, then the login session)")
]


class GraphFormat(StrEnum):
    json = "json"
    dot = "dot"
    svg = "svg"


def _client(server: str | None, project: str, token: str | None):  # type: ignore[no-untyped-def]
    from assay.clients.evidence import EvidenceClient

    return EvidenceClient.create(server, project, token)


@app.command("put")
def put(
    targets: Annotated[list[str], typer.Argument(help="bundle, DSSE envelope, in-toto link, .intoto.jsonl, or IMAGE")],
    project: ProjectOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
    accept_unverified: Annotated[
        bool, typer.Option("--accept-unverified", help="store items that fail verification, marked unverified")
    ] = False,
    insecure: Annotated[bool, typer.Option("--insecure", help="plain-HTTP registry")] = False,
) -> None:
    """Upload evidence; the server verifies every item against the project's trust (exit 1 if refused)."""
    from assay.oci.store import RegistryAuth
    from assay.service import evidence

    items = evidence.put(
        _client(server, project, token), targets, accept_unverified, RegistryAuth(insecure, None, None)
    )
    for i in items:
        state = "verified" if i["verified"] else f"UNVERIFIED ({i.get('reason')})"
        output.say(f"{i['digest']} {i['kind']} {i.get('predicateType') or '-'} {state}")


@app.command("search")
def search(
    project: ProjectOpt,
    server: ServerOpt = None,
    subject: Annotated[Optional[str], typer.Option("--subject", help="sha256:HEX of the artifact")] = None,
    predicate_type: Annotated[Optional[str], typer.Option("--type", help="predicate type URI or shorthand")] = None,
    signer: Annotated[Optional[str], typer.Option("--signer", help="certificate identity or key:ID")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="RFC 3339 time")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="RFC 3339 time")] = None,
    unverified: Annotated[bool, typer.Option("--unverified", help="list unverified items instead")] = False,
    token: TokenOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines output")] = False,
) -> None:
    """Find evidence by subject digest, predicate type, signer and time (verified only unless --unverified)."""
    from assay.formats.intoto import predicate_type as expand

    client = _client(server, project, token)
    found = client.search(
        subject=subject,
        predicateType=expand(predicate_type) if predicate_type else None,
        signer=signer,
        since=since,
        until=until,
        status="unverified" if unverified else None,
    )
    for item in found:
        if json_out:
            sys.stdout.write(json.dumps(item) + "\n")
        else:
            who = (item.get("signer") or {}).get("identity") or item.get("reason") or "-"
            when = item.get("verifiedTime") or item.get("uploadedTime")
            output.say(f"{item['digest']} {item.get('predicateType') or item['kind']} {who} {when}")


@app.command("get")
def get(
    digest: Annotated[str, typer.Argument(help="sha256:HEX of the item")],
    project: ProjectOpt,
    server: ServerOpt = None,
    out: OutFileShortOpt = None,
    token: TokenOpt = None,
) -> None:
    """The exact bytes of an item (checked against the digest)."""
    from assay.service.io import write_atomic

    data = _client(server, project, token).get(digest)
    if out:
        write_atomic(out, data)
    else:
        sys.stdout.buffer.write(data)


@app.command("graph")
def graph(
    digest: Annotated[str, typer.Argument(help="sha256:HEX of the artifact")],
    project: ProjectOpt,
    server: ServerOpt = None,
    depth: Annotated[int, typer.Option("--depth", min=0, max=10, help="hops through materials")] = 2,
    fmt: Annotated[GraphFormat, typer.Option("--format", help="json, dot or svg")] = GraphFormat.json,
    out: OutFileShortOpt = None,
    token: TokenOpt = None,
) -> None:
    """Walk artifact → attestations → materials/dependencies/components → their evidence, and draw it."""
    from assay.clients.http import reject, request
    from assay.evidence import graph as g
    from assay.service.io import write_atomic

    client = _client(server, project, token)
    resp = request("GET", client._u("/graph"), params={"subject": digest, "depth": depth}, headers=client._headers())
    if resp.status_code != 200:
        raise reject(resp, "evidence graph")
    doc = resp.json()
    if fmt is GraphFormat.json:
        data = (json.dumps(doc, indent=2) + "\n").encode()
    elif fmt is GraphFormat.dot:
        data = g.to_dot(g.from_json(doc)).encode()
    else:
        data = g.to_svg(g.from_json(doc))
    if out:
        write_atomic(out, data)
    else:
        sys.stdout.buffer.write(data)


@app.command("trust")
def trust(
    project: ProjectOpt,
    server: ServerOpt = None,
    key: Annotated[Optional[list[str]], typer.Option("--key", help="trusted public key (PEM file), repeatable")] = None,
    identity: Annotated[
        Optional[list[str]],
        typer.Option("--identity", help="trusted certificate identity as IDENTITY=ISSUER (regexps: ~RE=~RE)"),
    ] = None,
    trusted_root: Annotated[Optional[str], typer.Option("--trusted-root", help="trusted root JSON file")] = None,
    token: TokenOpt = None,
) -> None:
    """Set the project's trust (policy_writer): keys, identities, trusted root (default: the server's)."""
    from assay.service.io import read_file

    doc: dict[str, object] = {}
    if key is not None:
        doc["keys"] = [read_file(k, "key").decode() for k in key]
    if identity is not None:
        doc["identities"] = [_identity(i) for i in identity]
    if trusted_root:
        doc["trustedRoot"] = json.loads(read_file(trusted_root, "trusted root"))
    if not doc:
        raise InputError("usage", "give --key, --identity or --trusted-root")
    output.emit_json(_client(server, project, token).set_json("/trust", doc, "trust"))


def _identity(spec: str) -> dict[str, str]:
    ident, sep, issuer = spec.partition("=")
    if not sep or not ident or not issuer:
        raise InputError("usage", f"--identity {spec!r}: give IDENTITY=ISSUER")
    out = {}
    out["identityRegExp" if ident.startswith("~") else "identity"] = ident.removeprefix("~")
    out["issuerRegExp" if issuer.startswith("~") else "issuer"] = issuer.removeprefix("~")
    return out


@app.command("retention")
def retention(
    project: ProjectOpt,
    server: ServerOpt = None,
    unverified_days: Annotated[
        Optional[int],
        typer.Option("--unverified-days", min=0, help="keep unverified evidence this long (omit: forever)"),
    ] = None,
    token: TokenOpt = None,
) -> None:
    """Set how long unverified evidence is kept (admin); verified evidence is never deleted implicitly."""
    doc = {"unverifiedRetentionDays": unverified_days}
    output.emit_json(_client(server, project, token).set_json("/retention", doc, "retention"))
