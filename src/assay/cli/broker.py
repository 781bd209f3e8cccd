"""``assay broker``: keys held by the server, signed decryption policies, the audited release record, re-wrap,
and ocicrypt's key-provider protocol."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app as root
from assay.cli.options import (
    AttesterOpt,
    AudienceOpt,
    EvidenceOpt,
    InsecureOpt,
    PasswordFileOpt,
    PlatformClaimsOpt,
    RegPassOpt,
    RegUserOpt,
    platform_evidence,
    read_token,
    registry_auth,
)

broker_app = typer.Typer(help="The key broker: keys, decryption policies, releases.", no_args_is_help=True)
key_app = typer.Typer(help="Key-encryption keys held by the server (the private part never leaves).",
                      no_args_is_help=True)  # fmt: skip
policy_app = typer.Typer(help="Signed, versioned decryption policies.", no_args_is_help=True)
root.add_typer(broker_app, name="broker")
broker_app.add_typer(key_app, name="key")
broker_app.add_typer(policy_app, name="policy")

ServerArg = Annotated[str, typer.Option("--server", help="assay server URL")]
ProjectArg = Annotated[str, typer.Option("--project", "-p", help="project")]
NameArg = Annotated[str, typer.Option("--name", "--key", "-n", help="key name")]
TokenOpt = Annotated[Optional[str], typer.Option("--token", help="API token or session (default: ASSAY_TOKEN)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
KekOpt = Annotated[
    str,
    typer.Option(
        "--kek",
        help="where the server keeps the private part: file (X25519), pkcs11:token=…;object=… (P-256 on an HSM) or "
        "awskms:[KEY-ID|ARN|alias/NAME] (P-256 KEY_AGREEMENT key)",
    ),
]


def _show(doc: object, json_out: bool, line: str) -> None:
    if json_out:
        output.emit_json(doc)
    else:
        output.say(line)


@key_app.command("create")
def key_create(server: ServerArg, project: ProjectArg, name: NameArg, token: TokenOpt = None,
               json_out: JsonOpt = False, kek: KekOpt = "file") -> None:  # fmt: skip
    """Create a key (or its next version); prints its recipient."""
    from assay.clients.broker import BrokerClient

    c = BrokerClient.at(server, project, name, token)
    doc = c.create(kek)
    _show(doc, json_out, f"{c.spec} v{doc['version']} {doc['recipient']}")


@key_app.command("list")
def key_list(server: ServerArg, project: ProjectArg, token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """The project's keys."""
    from assay.clients.broker import BrokerClient

    keys = BrokerClient.at(server, project, "-", token).project_keys()
    if json_out:
        output.emit_json(keys)
        return
    for k in keys:
        output.say(f"{k['name']}\tv{k['version']}\t{k['recipient']}")


@key_app.command("show")
def key_show(server: ServerArg, project: ProjectArg, name: NameArg, token: TokenOpt = None,
             json_out: JsonOpt = False) -> None:  # fmt: skip
    """A key's recipient and versions."""
    from assay.clients.broker import BrokerClient

    c = BrokerClient.at(server, project, name, token)
    doc = c.key()
    _show(doc, json_out, f"{c.spec} v{doc['version']} {doc['recipient']} (versions {doc['versions']})")


@policy_app.command("set")
def policy_set(
    server: ServerArg,
    project: ProjectArg,
    name: NameArg,
    file: Annotated[str, typer.Option("--file", "-f", help="decryption policy (YAML or JSON)")],
    signer: Annotated[Optional[str], typer.Option("--signer", help="the policy_writer's key or signer URI")] = None,
    identity_token: Annotated[
        Optional[str], typer.Option("--identity-token", help="sign keyless with this OIDC token (or @FILE, -)")
    ] = None,
    password_file: PasswordFileOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Sign a decryption policy (DSSE, in-toto statement) and upload it as the key's next version."""
    from assay.clients.broker import BrokerClient
    from assay.service import broker
    from assay.service.credentials import Credentials

    c = BrokerClient.at(server, project, name, token)
    creds = Credentials.resolve(signer, read_token(identity_token), c.url, password_file)
    doc = broker.set_policy(c, file, creds)
    _show(doc, json_out, f"{c.spec} policy v{doc['version']} {doc['digest']} signed by {doc['signer']}")


@policy_app.command("show")
def policy_show(server: ServerArg, project: ProjectArg, name: NameArg, token: TokenOpt = None) -> None:
    """The key's current decryption policy."""
    from assay.clients.broker import BrokerClient

    output.emit_json(BrokerClient.at(server, project, name, token).policy())


@broker_app.command("audit")
def audit(
    server: ServerArg,
    project: ProjectArg,
    name: NameArg,
    trusted_root: Annotated[Optional[str], typer.Option("--trusted-root", help="the log's trusted root")] = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every release (granted or refused), each checked against the transparency log's inclusion proof."""
    from assay.clients.broker import BrokerClient
    from assay.errors import VerificationError
    from assay.service import broker

    rows = broker.audit(BrokerClient.at(server, project, name, token), trusted_root)
    if json_out:
        output.emit_json(rows)
    else:
        for r in rows:
            who = (r.get("identity") or {}).get("sub")
            mark = "verified" if r["verified"] else f"NOT VERIFIED ({r.get('reason')})"
            extra = f" {r['refusal']}" if r.get("refusal") else ""
            output.say(f"{r['logIndex']}\t{r['decision']}{extra}\tpolicy v{r['policyVersion']}\t{who}\t{mark}")
    bad = [r for r in rows if not r["verified"]]
    if bad:
        raise VerificationError(str(bad[0].get("reason")), f"{len(bad)} release(s) do not verify against the log")


@broker_app.command("rewrap")
def rewrap(
    server: ServerArg,
    project: ProjectArg,
    name: NameArg,
    file: Annotated[str, typer.Argument(help="age file, or encrypted image (oci:PATH[:tag] or a reference)")],
    out: Annotated[str, typer.Option("--out", "-o", help="where to write the re-wrapped file or image")],
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-wrap an age file or an encrypted image for the key's newest version (payloads are not re-encrypted)."""
    from pathlib import Path

    from assay.clients.broker import BrokerClient
    from assay.service import broker

    client = BrokerClient.at(server, project, name, token)
    if Path(file).is_file():
        doc = broker.rewrap_file(client, file, out)
        _show(doc, json_out, f"re-wrapped v{doc['fromVersion']} -> v{doc['toVersion']} (logged at {doc['logIndex']})")
        return
    auth = registry_auth(insecure, registry_username, registry_password)
    from assay.service import crypt_images

    result = crypt_images.rewrap_image(file, out, lambda a: broker.rewrap_annotation(client, a), auth=auth)
    _show(result, json_out, f"{result['destination']}@{result['digest']} ({result['rewrapped']} layers re-wrapped)")


@broker_app.command("keyprovider")
def keyprovider(
    broker_url: Annotated[
        Optional[list[str]], typer.Option("--broker", help="broker server (or key) the evidence may go to")
    ] = None,
    identity_token: EvidenceOpt = None,
    audience: AudienceOpt = "assay-broker",
    attester: AttesterOpt = None,
    platform_claims: PlatformClaimsOpt = None,
    token: TokenOpt = None,
) -> None:
    """ocicrypt's key-provider protocol (cmd): a keywrap/keyunwrap request on stdin, the answer on stdout."""
    from assay.service import broker

    def evidence() -> Any:
        return platform_evidence(identity_token, audience, attester, platform_claims)

    answer = broker.keyprovider(sys.stdin.buffer.read(), broker_url or [], evidence, token)
    sys.stdout.buffer.write(answer)
    sys.stdout.buffer.flush()
