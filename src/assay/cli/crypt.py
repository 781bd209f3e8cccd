"""Encryption commands: encrypt-blob, decrypt-blob (age format), encrypt, decrypt (ocicrypt image layers)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    AttesterOpt,
    AudienceOpt,
    EvidenceOpt,
    ImageArg,
    InsecureOpt,
    PlatformClaimsOpt,
    RegPassOpt,
    RegUserOpt,
    platform_evidence,
    registry_auth,
)

RecipientOpt = Annotated[
    Optional[list[str]],
    typer.Option("--recipient", "-r", help="age1… or broker:URL/PROJECT/KEY recipient (repeatable)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
ApiTokenOpt = Annotated[Optional[str], typer.Option("--token", help="assay API token (default: ASSAY_TOKEN)")]


@app.command("encrypt-blob")
def encrypt_blob(
    file: Annotated[str, typer.Argument(help="file to encrypt, or - for stdin")],
    out: Annotated[str, typer.Option("--out", "-o", help="age file to write (- for stdout)")],
    recipient: RecipientOpt = None,
    recipients_file: Annotated[
        Optional[list[str]], typer.Option("--recipients-file", "-R", help="file of age1… recipients")
    ] = None,
) -> None:
    """Encrypt a file in the age v1 format to X25519 recipients, streamed in 64 KiB chunks."""
    from assay.service import crypt_files

    recips = crypt_files.parse_recipients(recipient or [], recipients_file or [])
    size = crypt_files.encrypt_file(file, out, recips)
    if out != "-":
        output.warn(f"encrypted {size} bytes for {len(recips)} recipient(s) to {out}")


@app.command("decrypt-blob")
def decrypt_blob(
    file: Annotated[str, typer.Argument(help="age file to decrypt, or - for stdin")],
    out: Annotated[str, typer.Option("--out", "-o", help="plaintext file to write (- for stdout)")],
    identity: Annotated[
        Optional[list[str]], typer.Option("--identity", "-i", help="age identity file (repeatable)")
    ] = None,
    broker: Annotated[
        Optional[str], typer.Option("--broker", help="unwrap through this broker key (broker:URL/PROJECT/KEY)")
    ] = None,
    identity_token: EvidenceOpt = None,
    audience: AudienceOpt = "assay-broker",
    attester: AttesterOpt = None,
    platform_claims: PlatformClaimsOpt = None,
    token: ApiTokenOpt = None,
) -> None:
    """Decrypt an age v1 file; the output appears only once every chunk authenticated."""
    from assay.service import crypt_files

    unwrapper = None
    if broker is not None:
        from assay.clients.broker import BrokerClient
        from assay.service.broker import BrokerUnwrapper

        evidence = platform_evidence(identity_token, audience, attester, platform_claims)
        unwrapper = BrokerUnwrapper(BrokerClient.parse(broker, token), evidence)
    idents = crypt_files.load_identities(identity or [], unwrapper)
    size = crypt_files.decrypt_file(file, out, idents)
    if out != "-":
        output.warn(f"decrypted {size} bytes to {out}")


DstArg = Annotated[str, typer.Argument(help="destination reference or oci:PATH[:tag]")]
KeyFileOpt = Annotated[Optional[list[str]], typer.Option("--key", help="RSA/EC private key PEM (repeatable)")]


def _render(result: dict[str, object], json_out: bool) -> None:
    if json_out:
        output.emit_json(result)
        return
    output.say(f"{result['destination']}@{result['digest']}")
    counts = ", ".join(f"{k} {result[k]}" for k in ("encrypted", "decrypted", "rewrapped", "copied"))
    output.warn(f"layers: {counts}")


@app.command("encrypt")
def encrypt_image(
    src: ImageArg,
    dst: DstArg,
    recipient: Annotated[
        Optional[list[str]],
        typer.Option("--recipient", "-r", help="jwe:PUBLIC-KEY.pem or broker:URL/PROJECT/KEY (repeatable)"),
    ] = None,
    layers: Annotated[
        Optional[list[int]], typer.Option("--layers", help="layer index to encrypt (repeatable; -1 = last)")
    ] = None,
    platform: Annotated[
        Optional[list[str]], typer.Option("--platform", help="of an index, encrypt only OS/ARCH[/VARIANT] (repeatable)")
    ] = None,
    key: KeyFileOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Encrypt image layers as ocicrypt does (AES-256-CTR + HMAC-SHA256, JWE recipients); with --key, layers
    already encrypted are re-wrapped for exactly the given recipients without re-encrypting them."""
    from assay.service import crypt_images

    auth = registry_auth(insecure, registry_username, registry_password)
    result = crypt_images.encrypt_image(
        src, dst, recipient or [], keys=key or [], layers=layers, platforms=platform or [], auth=auth
    )
    _render(result, json_out)


@app.command("decrypt")
def decrypt_image(
    src: ImageArg,
    dst: DstArg,
    key: KeyFileOpt = None,
    broker: Annotated[
        Optional[list[str]], typer.Option("--broker", help="unwrap through this broker server or key (repeatable)")
    ] = None,
    identity_token: EvidenceOpt = None,
    audience: AudienceOpt = "assay-broker",
    attester: AttesterOpt = None,
    platform_claims: PlatformClaimsOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Decrypt ocicrypt-encrypted layers; a layer reaches the destination only after its HMAC checked out."""
    from assay.service import crypt_images

    auth = registry_auth(insecure, registry_username, registry_password)
    evidence = platform_evidence(identity_token, audience, attester, platform_claims) if broker else None
    result = crypt_images.decrypt_image(src, dst, key or [], auth=auth, brokers=broker or [], evidence=evidence)
    _render(result, json_out)
