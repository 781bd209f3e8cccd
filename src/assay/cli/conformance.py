"""The sigstore-conformance client protocol: conformance verify-bundle|sign-bundle."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    ConformanceBundleOpt,
    IdentityOpt,
    IssuerOpt,
    StagingOpt,
    TrustedRootOpt,
    identity_policy,
)
from assay.errors import InputError

conformance_app = typer.Typer(help="The sigstore-conformance client protocol.", no_args_is_help=True)
app.add_typer(conformance_app, name="conformance")


@conformance_app.command("verify-bundle")
def conformance_verify_bundle(
    target: Annotated[str, typer.Argument(help="artifact file or sha256:HEX")],
    bundle: ConformanceBundleOpt,
    certificate_identity: IdentityOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    key: Annotated[Optional[str], typer.Option("--key")] = None,
    trusted_root: TrustedRootOpt = None,
    staging: StagingOpt = False,
) -> None:
    """Verify a bundle as the conformance suite asks (exit 0 = accepted)."""
    from assay.service import blob

    if staging:
        raise InputError("usage", "--staging is not supported offline; pass --trusted-root")
    policy = None
    if key is None:
        policy = identity_policy(certificate_identity, None, certificate_oidc_issuer, None, None, {})
    blob.verify_file(target, bundle, key, identity=policy, trusted_root=trusted_root)
    output.say("OK")


@conformance_app.command("sign-bundle")
def conformance_sign_bundle(
    target: Annotated[str, typer.Argument(help="artifact file")],
    identity_token: Annotated[str, typer.Option("--identity-token")],
    bundle: ConformanceBundleOpt,
    trusted_root: TrustedRootOpt = None,
    signing_config: Annotated[
        Optional[str], typer.Option("--signing-config", help="Sigstore SigningConfig v0.2")
    ] = None,
    staging: StagingOpt = False,
) -> None:
    """Sign an artifact keylessly as the conformance suite asks, using the services in --signing-config."""
    from assay.formats.encoding import load_json
    from assay.service.blob import load_artifact
    from assay.service.io import read_file, write_atomic
    from assay.sign.keyless import Services, sign_digest

    if staging or not signing_config:
        raise InputError("usage", "pass --signing-config (and --trusted-root); --staging needs the network")
    del trusted_root  # the services come from the signing config; verification uses the trusted root
    services = Services.from_signing_config(load_json(read_file(signing_config, "signing config"), "signing config"))
    art = load_artifact(target, need_message=False)
    write_atomic(bundle, sign_digest(services, identity_token, art.sha256).to_bytes())
