"""``assay tuf init|status|delegate|add-target|sign-role|rotate-root``: a project's TUF repository on a server.

Signing happens here, on the caller's machine (key files or HSM/KMS signer URIs); the server checks and
publishes. ``assay tuf client ...`` (python-tuf's ngclient) joins this group as its own sub-app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app as root_app
from assay.cli.evidence import ProjectOpt, ServerOpt, TokenOpt

tuf_app = typer.Typer(help="TUF trust distribution: roles, delegations, developer signing, rotation.",
                      no_args_is_help=True)  # fmt: skip
root_app.add_typer(tuf_app, name="tuf")

SignerOpt = Annotated[list[str], typer.Option("--signer", help="signing key (key file or signer URI), repeatable")]
PartialOpt = Annotated[
    bool, typer.Option("--partial", help="keep a version short of its threshold pending (assay tuf sign-role)")
]
ExpiresOpt = Annotated[float, typer.Option("--expires-days", help="days until the new version expires")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="text or json")]


def _client(server: str | None, project: str, token: str | None):  # type: ignore[no-untyped-def]
    from assay.clients.tuf import TufClient

    return TufClient.create(server, project, token)


def _answer(doc: dict[str, Any], what: str) -> None:
    if doc.get("status") == "pending":
        output.say(f"{what}: {doc['role']} v{doc['version']} pending, {doc['missing']} signature(s) missing")
    else:
        output.say(f"{what}: {doc['role']} v{doc['version']} published (snapshot v{doc.get('snapshot')})")


@tuf_app.command("init")
def init(
    project: ProjectOpt,
    root_key: Annotated[list[str], typer.Option("--root-key", help="offline root signing key, repeatable")],
    targets_key: Annotated[list[str], typer.Option("--targets-key", help="offline targets signing key, repeatable")],
    server: ServerOpt = None,
    root_threshold: Annotated[int, typer.Option("--root-threshold", help="root signatures required")] = 1,
    targets_threshold: Annotated[int, typer.Option("--targets-threshold", help="targets signatures required")] = 1,
    online_key_uri: Annotated[
        Optional[str], typer.Option("--online-key-uri", help="snapshot/timestamp public key (default: the server's)")
    ] = None,
    sigstore_trust: Annotated[
        bool, typer.Option("--sigstore-trust", help="delegate sigstore-trust (the server's Sigstore trust targets)")
    ] = False,
    out: Annotated[
        Optional[str], typer.Option("--out", help="write the bootstrap root here (default P.root.json)")
    ] = None,
    expires_days: ExpiresOpt = 365,
    token: TokenOpt = None,
) -> None:
    """Create the project's repository: root v1 and targets v1 built and signed here, then uploaded (admin)."""
    from assay.tuf import offline, owned

    client = _client(server, project, token)
    roots, targets = offline.signers_for(root_key), offline.signers_for(targets_key)
    delegations = owned.delegation(offline.online_key(client, online_key_uri)) if sigstore_trust else None
    done = offline.init(client, roots, root_threshold, targets, targets_threshold, online_key_uri, expires_days,
                        delegations)  # fmt: skip
    path = Path(out or f"{project}.root.json")
    path.write_bytes(done.root)
    output.say(f"initialised {client.repository}/ (bootstrap root {path})")


@tuf_app.command("status")
def status(project: ProjectOpt, server: ServerOpt = None, out: OutputOpt = "text", token: TokenOpt = None) -> None:
    """Every role's version, expiry, keys, threshold and the signatures still missing."""
    doc = _client(server, project, token).status()
    if out == "json":
        output.emit_json(doc)
        return
    for row in doc["roles"]:
        line = (f"{row['role']:<24} v{row['version'] if row['version'] is not None else '-':<5} "
                f"expires {row['expires'] or '-':<21} threshold {row['threshold']} of {len(row['keys'])} keys")  # fmt: skip
        if "missing" in row:
            line += f", signed {len(row.get('signatures', []))}, missing {row['missing']}"
        if "pending" in row:
            p = row["pending"]
            line += f"; pending v{p['version']} missing {p['missing']}"
        output.say(line)
        if row["keys"]:
            signed = set(row.get("signatures", []))
            output.say("    keys: " + " ".join(k[:12] + ("✓" if k in signed else "") for k in row["keys"]))


@tuf_app.command("delegate")
def delegate(
    project: ProjectOpt,
    role: Annotated[str, typer.Option("--role", help="delegated role name (bins: their name prefix)")],
    signer: SignerOpt,
    key: Annotated[
        Optional[list[str]], typer.Option("--key", help="the role's public key (file or signer URI), repeatable")
    ] = None,
    server: ServerOpt = None,
    paths: Annotated[Optional[list[str]], typer.Option("--paths", help="target path pattern, repeatable")] = None,
    hash_prefixes: Annotated[Optional[list[str]], typer.Option("--hash-prefixes", help="path hash prefix")] = None,
    threshold: Annotated[int, typer.Option("--threshold", help="signatures the role needs")] = 1,
    terminating: Annotated[bool, typer.Option("--terminating", help="stop the search at this role")] = False,
    succinct_bins: Annotated[
        Optional[int], typer.Option("--succinct-bins", help="TAP 15 hash bins (a power of two)")
    ] = None,
    bin_key: Annotated[Optional[list[str]], typer.Option("--bin-key", help="the bins' public key, repeatable")] = None,
    delegator: Annotated[str, typer.Option("--delegator", help="the delegating role")] = "targets",
    partial: PartialOpt = False,
    expires_days: ExpiresOpt = 365,
    token: TokenOpt = None,
) -> None:
    """Delegate a role (policy_writer): a new delegator version, signed here with the delegator's key(s).

    The role's keys become exactly --key: leaving a key out revokes it at once."""
    from assay.tuf import keys, offline

    specs = (bin_key or key) if succinct_bins else key
    if not specs:
        from assay.errors import InputError

        raise InputError("tuf-no-key", "which keys may sign the role?", hint="pass --key PUB (bins: --bin-key PUB)")
    pubs: list[Any] = [keys.public_key(k) for k in specs]
    doc = offline.delegate(
        _client(server, project, token), offline.signers_for(signer), role, pubs, threshold, paths=paths,
        hash_prefixes=hash_prefixes, terminating=terminating, bins=succinct_bins, delegator=delegator,
        partial=partial, days=expires_days,
    )  # fmt: skip
    _answer(doc, "delegate")


@tuf_app.command("add-target")
def add_target(
    file: Annotated[str, typer.Argument(help="the target file")],
    project: ProjectOpt,
    role: Annotated[str, typer.Option("--role", help="the role that lists it")],
    key: Annotated[list[str], typer.Option("--key", help="the role's signing key, repeatable")],
    server: ServerOpt = None,
    path: Annotated[Optional[str], typer.Option("--path", help="target path (default: the file name)")] = None,
    partial: PartialOpt = False,
    expires_days: ExpiresOpt = 90,
    token: TokenOpt = None,
) -> None:
    """Upload FILE and a new version of ROLE naming it, signed here with the developer's key(s)."""
    from assay.tuf import offline

    doc = offline.add_target(_client(server, project, token), Path(file), role, offline.signers_for(key), path,
                             partial, expires_days)  # fmt: skip
    _answer(doc, f"add-target {doc['path']}")


@tuf_app.command("sign-role")
def sign_role(
    project: ProjectOpt,
    role: Annotated[str, typer.Option("--role", help="the role whose pending version to sign (or root)")],
    signer: SignerOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Add signatures to a pending version; the server publishes it when the threshold is met."""
    from assay.tuf import offline

    _answer(offline.sign_role(_client(server, project, token), role, offline.signers_for(signer)), "sign-role")


@tuf_app.command("rotate-root")
def rotate_root(
    project: ProjectOpt,
    signer: SignerOpt,
    server: ServerOpt = None,
    root_key: Annotated[Optional[list[str]], typer.Option("--root-key", help="new root public key set")] = None,
    root_threshold: Annotated[Optional[int], typer.Option("--root-threshold", help="new root threshold")] = None,
    targets_key: Annotated[Optional[list[str]], typer.Option("--targets-key", help="new targets key set")] = None,
    online_key: Annotated[
        Optional[str],
        typer.Option("--online-key", help="new snapshot/timestamp key (public key file, URI, or 'server')"),
    ] = None,
    partial: PartialOpt = False,
    out: Annotated[Optional[str], typer.Option("--out", help="write the new root here")] = None,
    expires_days: ExpiresOpt = 365,
    token: TokenOpt = None,
) -> None:
    """Root N+1: signed by the threshold of N's root keys and of its own (pass both as --signer)."""
    from assay.tuf import keys, offline

    client = _client(server, project, token)
    online = None
    if online_key:
        online = offline.online_key(client, None if online_key == "server" else online_key)
    data, doc = offline.rotate_root(
        client, offline.signers_for(signer), root_keys=[keys.public_key(k) for k in root_key] if root_key else None,
        root_threshold=root_threshold, targets_keys=[keys.public_key(k) for k in targets_key] if targets_key else None,
        online=online, partial=partial, days=expires_days,
    )  # fmt: skip
    if out:
        Path(out).write_bytes(data)
    _answer(doc, "rotate-root")


from assay.cli.tuf_client import client_app  # noqa: E402 (the client sub-app registers after the group)

tuf_app.add_typer(client_app, name="client")
