"""Blob commands: keygen, public-key, sign-blob, verify-blob, attest-blob, verify-blob-attestation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    REQUIRED_TYPE,
    SIGNING_KEY,
    BlobTargetArg,
    BundleInOpt,
    BundleOutOpt,
    ExtensionOpt,
    GhNameOpt,
    GhRefOpt,
    GhRepoOpt,
    GhShaOpt,
    GhTriggerOpt,
    IdentityOpt,
    IdentityRegexpOpt,
    IssuerOpt,
    IssuerRegexpOpt,
    KeyOpt,
    OutFileOpt,
    OutputFormat,
    OutputOpt,
    PasswordFileOpt,
    PredicateOpt,
    PubKeyOpt,
    RequireTlogOpt,
    ServerOpt,
    TokenOpt,
    TrustedRootOpt,
    VsaKeyOpt,
    VsaOutOpt,
    YesOpt,
    identity_policy,
    read_token,
    render_verified,
    verify_output,
    vsa_flags,
    with_vsa,
)
from assay.errors import InputError


@app.command()
def keygen(
    type: Annotated[str, typer.Option("--type", help="ecdsa-p256, ed25519 or rsa-3072")] = "ecdsa-p256",
    output_prefix: Annotated[str, typer.Option("--output-prefix", help="writes PREFIX.key and PREFIX.pub")] = "assay",
    password_file: PasswordFileOpt = None,
) -> None:
    """Generate a key pair: PKCS#8 private key (mode 0600) and SPKI public key."""

    from assay.crypto import keys
    from assay.service.io import password, write_atomic

    key = keys.generate(type)
    pw = password(password_file)
    priv, pub = Path(output_prefix + ".key"), Path(output_prefix + ".pub")
    if pub.exists():
        raise InputError("file-exists", f"{pub}: already exists; refusing to overwrite")
    keys.write_private(priv, keys.private_pem(key, pw))
    write_atomic(str(pub), keys.public_pem(key.public_key()))
    if pw is None:
        output.warn("warning: the private key is not encrypted (set ASSAY_PASSWORD or --password-file to encrypt it)")
    output.say(f"Private key written to {priv}")
    output.say(f"Public key written to {pub}")


@app.command("public-key")
def public_key(
    key: Annotated[str, SIGNING_KEY],
    out: OutFileOpt = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Print the public key (SPKI PEM) of a private key file or signer URI."""
    from assay.crypto import keys
    from assay.crypto import signer as signers
    from assay.service.io import password, write_atomic

    pem = keys.public_pem(signers.load(key, password(password_file)).public_key)
    write_atomic(out or "-", pem)


@app.command("sign-blob")
def sign_blob(
    file: Annotated[str, typer.Argument(help="file to sign, or - for stdin")],
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    yes: YesOpt = False,
    bundle: BundleOutOpt = None,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
    output_signature: Annotated[
        Optional[str],
        typer.Option("--output-signature", "--output", help="also write the signature, base64, as cosign does"),
    ] = None,
    output_certificate: Annotated[
        Optional[str], typer.Option("--output-certificate", help="also write the certificate (base64 PEM, as cosign)")
    ] = None,
    rekor_url: Annotated[Optional[str], typer.Option("--rekor-url", help="cosign's name for --server")] = None,
    fulcio_url: Annotated[Optional[str], typer.Option("--fulcio-url", help="cosign's name for --server")] = None,
    tlog_upload: Annotated[
        str, typer.Option("--tlog-upload", help="true|false, as cosign: key-based signing may opt out of the log")
    ] = "true",
    new_bundle_format: Annotated[
        bool, typer.Option("--new-bundle-format", help="accepted for cosign: assay always writes Sigstore bundles")
    ] = True,
    instance: Annotated[
        Optional[str], typer.Option("--instance", help="sign with the services this instance's TUF repository names")
    ] = None,
    tuf_root: Annotated[
        Optional[Path],
        typer.Option("--tuf-root", help="the instance's TUF root.json, when not `assay tuf client init`ed"),
    ] = None,
) -> None:
    """Sign a blob and write a Sigstore bundle: with a key (logged when --server is given) or keyless (--identity-token).

    With --output-signature/--output-certificate and no --bundle, only the detached files are written (cosign's form).
    """
    from assay.service import blob, detached

    if instance is not None:
        if server is not None or rekor_url or fulcio_url:
            raise InputError("usage", "give --instance or --server/--rekor-url/--fulcio-url, not both")
        from assay.tuf.client import instance_server

        server = instance_server(instance, tuf_root)
    server = one_server(server, rekor_url, fulcio_url)
    if tlog_upload.lower() not in ("true", "false"):
        raise InputError("usage", f"--tlog-upload={tlog_upload}: expected true or false")
    if tlog_upload.lower() == "false":
        if not key:
            raise InputError(
                "tlog-required", "a keyless signature needs its log entry (the certificate lives minutes)",
                hint="drop --tlog-upload=false, or sign with --key",
            )  # fmt: skip
        server = None
    detached_only = bundle is None and bool(output_signature or output_certificate)
    token = read_token(identity_token)
    b, out = blob.sign_file(file, key, bundle, password_file, server, token, write_bundle=not detached_only)
    _say_logged(b)
    for path in detached.write_outputs(b, output_signature, output_certificate):
        output.say(f"Wrote {path}")
    if out:
        output.say(f"Wrote bundle to {out}")


def one_server(server: str | None, *aliases: str | None) -> str | None:
    """``--server`` or cosign's ``--rekor-url``/``--fulcio-url``: one assay server serves the log and the CA."""
    given = {u.rstrip("/") for u in (server, *aliases) if u}
    if len(given) > 1:
        raise InputError(
            "usage", f"--server, --rekor-url and --fulcio-url name different servers ({', '.join(sorted(given))})",
            hint="one assay server serves the CA and the log: give its URL once",
        )  # fmt: skip
    return given.pop() if given else None


def _say_logged(b: Any) -> None:
    if b.tlog_entries:
        output.warn(f"tlog entry created with index {b.tlog_entries[0].log_index}")
    else:
        output.warn("note: no transparency log configured; the bundle has no tlog entry")


@app.command("verify-blob")
def verify_blob(
    file: BlobTargetArg,
    bundle: BundleInOpt = None,
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    certificate_github_workflow_trigger: GhTriggerOpt = None,
    certificate_github_workflow_sha: GhShaOpt = None,
    certificate_github_workflow_name: GhNameOpt = None,
    certificate_github_workflow_repository: GhRepoOpt = None,
    certificate_github_workflow_ref: GhRefOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: Annotated[
        Optional[str], typer.Option("--server", "--rekor-url", help="assay server URL (trust root and log)")
    ] = None,
    require_tlog: RequireTlogOpt = False,
    output_fmt: OutputOpt = OutputFormat.text,
    signature: Annotated[
        Optional[str], typer.Option("--signature", help="a detached signature file (base64), instead of --bundle")
    ] = None,
    certificate: Annotated[
        Optional[str], typer.Option("--certificate", help="the signing certificate for --signature (PEM or base64)")
    ] = None,
    certificate_chain: Annotated[
        Optional[str], typer.Option("--certificate-chain", help="the CA chain (must be the trusted root's)")
    ] = None,
    insecure_ignore_tlog: Annotated[
        bool, typer.Option("--insecure-ignore-tlog", help="verify a key-based --signature with no log entry")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="use only the bundle and trust root given (no network)")
    ] = False,
    new_bundle_format: Annotated[
        bool, typer.Option("--new-bundle-format", help="accepted for cosign: bundles are read in any format")
    ] = True,
    instance: Annotated[
        Optional[str], typer.Option("--instance", help="trust from this Sigstore instance's TUF repository URL")
    ] = None,
    tuf_root: Annotated[
        Optional[Path],
        typer.Option("--tuf-root", help="the instance's TUF root.json, when not `assay tuf client init`ed"),
    ] = None,
) -> None:
    """Verify a blob against a Sigstore bundle, cosign's legacy bundle, or a detached --signature."""
    from assay.service import blob

    if offline and server:
        raise InputError("usage", "--offline verifies without the network: drop --server/--rekor-url")
    if offline and signature is not None and not key:
        raise InputError(
            "tlog-source-required", "a keyless --signature is found in the log by digest, which needs --rekor-url",
            hint="use the bundle (--bundle) to verify offline",
        )  # fmt: skip

    def run() -> Any:
        nonlocal trusted_root
        if instance is not None:
            if trusted_root is not None:
                raise InputError("usage", "give --instance or --trusted-root, not both")
            from assay.tuf.client import instance_trust

            trusted_root = str(instance_trust(instance, tuf_root)["trusted_root.json"])
        elif tuf_root is not None:
            raise InputError("usage", "--tuf-root goes with --instance")
        policy = identity_policy(
            certificate_identity,
            certificate_identity_regexp,
            certificate_oidc_issuer,
            certificate_oidc_issuer_regexp,
            certificate_extension,
            {
                "githubWorkflowTrigger": certificate_github_workflow_trigger,
                "githubWorkflowSha": certificate_github_workflow_sha,
                "githubWorkflowName": certificate_github_workflow_name,
                "githubWorkflowRepository": certificate_github_workflow_repository,
                "githubWorkflowRef": certificate_github_workflow_ref,
            },
        )
        if signature is not None:
            if bundle is not None:
                raise InputError("usage", "give --bundle or --signature, not both")
            from assay.service import detached

            return detached.verify_detached(
                file, signature, certificate_path=certificate, chain_path=certificate_chain, key_path=key,
                identity=policy, trusted_root=trusted_root, server=server, ignore_tlog=insecure_ignore_tlog,
            )  # fmt: skip
        if certificate or certificate_chain or insecure_ignore_tlog:
            raise InputError(
                "usage", "--certificate, --certificate-chain and --insecure-ignore-tlog go with --signature"
            )
        return blob.verify_file(
            file, bundle, key, identity=policy, trusted_root=trusted_root, server=server, require_tlog=require_tlog
        )

    verify_output(output_fmt, run, render_verified)


@app.command("attest-blob")
def attest_blob(
    file: Annotated[str, typer.Argument(help="the subject file, or - for stdin")],
    predicate: PredicateOpt,
    type: Annotated[str, typer.Option("--type", help="predicate type URI or shorthand (slsaprovenance1, ...)")],
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    yes: YesOpt = False,
    bundle: BundleOutOpt = None,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Sign an in-toto statement about a blob (DSSE in a Sigstore bundle), with a key or keyless."""
    from assay.service import blob

    b, out = blob.attest_file(file, predicate, type, key, bundle, password_file, server, read_token(identity_token))
    _say_logged(b)
    output.say(f"Wrote attestation bundle to {out}")


@app.command("verify-blob-attestation")
def verify_blob_attestation(
    file: BlobTargetArg,
    bundle: BundleInOpt = None,
    key: PubKeyOpt = None,
    type: Annotated[Optional[str], REQUIRED_TYPE] = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    require_tlog: RequireTlogOpt = False,
    vsa_out: VsaOutOpt = None,
    vsa_key: VsaKeyOpt = None,
    password_file: PasswordFileOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify an in-toto attestation bundle about a blob (optionally writing a signed VSA)."""
    from assay.service import blob

    def run() -> Any:
        policy = identity_policy(
            certificate_identity,
            certificate_identity_regexp,
            certificate_oidc_issuer,
            certificate_oidc_issuer_regexp,
            certificate_extension,
            {},
        )
        return blob.verify_file(
            file,
            bundle,
            key,
            identity=policy,
            trusted_root=trusted_root,
            server=server,
            require_tlog=require_tlog,
            predicate_type=type,
            expect_statement=True,
        )

    flags = vsa_flags("attestation", type=type, key=key, identity=certificate_identity,
                       identityRegexp=certificate_identity_regexp, issuer=certificate_oidc_issuer)  # fmt: skip
    run_vsa = with_vsa(
        run, target=file, bundle=bundle or (file + ".sigstore.json"), flags=flags, vsa_out=vsa_out,
        vsa_key=vsa_key, password_file=password_file,
    )  # fmt: skip
    verify_output(output_fmt, run_vsa, render_verified)


bundle_app = typer.Typer(help="Convert between bundle formats.", no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")


@bundle_app.command("convert")
def bundle_convert(
    source: Annotated[str, typer.Argument(help="a Sigstore bundle or a cosign legacy bundle")],
    to: Annotated[str, typer.Option("--to", help="sigstore (v0.1 from legacy) or legacy (cosign's old --bundle)")],
    out: OutFileOpt = None,
) -> None:
    """Convert cosign's legacy bundle to a Sigstore bundle v0.1, or a Sigstore bundle back where it allows."""
    import json

    from assay.formats import cosign
    from assay.service.blob import read_bundle
    from assay.service.io import write_atomic

    bundle = read_bundle(source)
    if to == "sigstore":
        doc = cosign.to_v01_json(bundle) if bundle.version == (0, 1) else bundle.to_json()
    elif to == "legacy":
        doc = cosign.to_legacy_bundle(bundle)
    else:
        raise InputError("usage", f"--to {to!r}: expected sigstore or legacy")
    write_atomic(out or "-", json.dumps(doc, indent=2).encode() + b"\n")
