"""Container image commands: sign, verify, attest, attach, verify-attestation, tree, copy."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    REQUIRED_TYPE,
    AttesterOpt,
    AudienceOpt,
    EvidenceOpt,
    ExtensionOpt,
    IdentityOpt,
    IdentityRegexpOpt,
    ImageArg,
    InsecureOpt,
    IssuerOpt,
    IssuerRegexpOpt,
    JsonResult,
    KeyOpt,
    OutputFormat,
    OutputOpt,
    PasswordFileOpt,
    PlatformClaimsOpt,
    PredicateOpt,
    PubKeyOpt,
    RegPassOpt,
    RegUserOpt,
    ServerOpt,
    TokenOpt,
    TrustedRootOpt,
    VsaKeyOpt,
    VsaOutOpt,
    YesOpt,
    identity_policy,
    platform_evidence,
    read_token,
    registry_auth,
    render_verified,
    verify_output,
    vsa_flags,
    with_vsa,
)
from assay.errors import InputError


@app.command("sign")
def sign_image(
    image: ImageArg,
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    yes: YesOpt = False,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", help="for a multi-arch index, also sign each platform manifest")
    ] = False,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Sign a container image: a bundle as an OCI 1.1 referrer (tag-schema fallback when needed) and cosign's .sig."""
    from assay.service import image as image_svc

    out = image_svc.sign_image(
        image,
        key=key,
        token=read_token(identity_token),
        server=server,
        password_file=password_file,
        auth=registry_auth(insecure, registry_username, registry_password),
        recursive=recursive,
    )
    output.say(f"Signed {out['image']} ({out['signed']} manifest(s); bundle {out['referrer']})")


def _verifier(
    key: str | None,
    identity: tuple[str | None, str | None, str | None, str | None, list[str] | None],
    trusted_root: str | None,
    server: str | None,
) -> Any:
    from assay.service.image import ImageVerifier

    policy = identity_policy(*identity, {})
    if key is None and policy is None:
        raise InputError("usage", "give --key or an identity (--certificate-identity[-regexp] and issuer)")
    return ImageVerifier(key, policy, trusted_root, server)


DecryptedDigestOpt = Annotated[
    Optional[str],
    typer.Option("--decrypted-digest", help="of an encrypted image: the digest its decrypted manifest must have"),
]
DecryptionKeyOpt = Annotated[
    Optional[list[str]],
    typer.Option("--decryption-key", help="with --decrypted-digest: RSA/EC private key PEM (repeatable)"),
]
DecryptBrokerOpt = Annotated[
    Optional[list[str]],
    typer.Option("--broker", help="with --decrypted-digest: unwrap through this broker server or key (repeatable)"),
]


def _decrypted_check(
    expected: str | None,
    keys: list[str] | None,
    brokers: list[str] | None,
    evidence: tuple[str | None, str, str | None, str | None],
) -> Any:
    from assay.service import crypt_images

    identity_token, audience, attester, claims = evidence
    if expected is None:
        if keys or brokers or identity_token or attester or claims:
            raise InputError(
                "usage", "--decryption-key, --broker, --identity-token and --attester need --decrypted-digest"
            )
        return None
    shown = platform_evidence(identity_token, audience, attester, claims) if brokers else None
    return crypt_images.decrypted_check(expected, keys or [], brokers=brokers or [], evidence=shown)


@app.command("verify")
def verify_image(
    image: ImageArg,
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    decrypted_digest: DecryptedDigestOpt = None,
    decryption_key: DecryptionKeyOpt = None,
    broker: DecryptBrokerOpt = None,
    identity_token: EvidenceOpt = None,
    audience: AudienceOpt = "assay-broker",
    attester: AttesterOpt = None,
    platform_claims: PlatformClaimsOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify an image's signatures (any attached bundle or cosign signature that satisfies the key or identity);
    with --decrypted-digest, also that the signed encrypted image decrypts to that manifest digest."""
    from assay.service import image as image_svc

    identity = (
        certificate_identity,
        certificate_identity_regexp,
        certificate_oidc_issuer,
        certificate_oidc_issuer_regexp,
        certificate_extension,
    )
    auth = registry_auth(insecure, registry_username, registry_password)
    verify_output(
        output_fmt,
        lambda: image_svc.verify_image(
            image,
            _verifier(key, identity, trusted_root, server),
            auth=auth,
            decrypted=_decrypted_check(
                decrypted_digest, decryption_key, broker, (identity_token, audience, attester, platform_claims)
            ),
        ),
        render_verified,
    )


def _attest(
    image: str,
    predicate: Any,
    type: str,
    key: str | None,
    identity_token: str | None,
    server: str | None,
    password_file: str | None,
    auth: Any,
) -> dict[str, Any]:
    from assay.service import image as image_svc

    return image_svc.sign_image(
        image,
        key=key,
        token=read_token(identity_token),
        server=server,
        password_file=password_file,
        auth=auth,
        predicate=predicate,
        predicate_type=type,
    )


@app.command("attest")
def attest_image(
    image: ImageArg,
    predicate: PredicateOpt,
    type: Annotated[str, typer.Option("--type", help="predicate type URI or shorthand")],
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    yes: YesOpt = False,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Attach a signed in-toto attestation (DSSE) about an image: as an OCI referrer and in cosign's .att."""
    from assay.formats.encoding import load_json
    from assay.service.io import read_file

    doc = load_json(read_file(predicate, "predicate file"), predicate)
    auth = registry_auth(insecure, registry_username, registry_password)
    out = _attest(image, doc, type, key, identity_token, server, password_file, auth)
    output.say(f"Attested {out['image']} (bundle {out['referrer']})")


attach_app = typer.Typer(help="Attach supply-chain material to images.", no_args_is_help=True)
app.add_typer(attach_app, name="attach")


@attach_app.command("sbom")
def attach_sbom(
    image: ImageArg,
    sbom: Annotated[str, typer.Option("--sbom", help="CycloneDX or SPDX JSON document")],
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    yes: YesOpt = False,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Attach an SBOM to an image as a signed attestation (predicate type from the document's format)."""
    from assay.formats.encoding import load_json
    from assay.service.image import sbom_predicate_type
    from assay.service.io import read_file

    doc = load_json(read_file(sbom, "SBOM"), sbom)
    ptype = sbom_predicate_type(doc, sbom)
    auth = registry_auth(insecure, registry_username, registry_password)
    out = _attest(image, doc, ptype, key, identity_token, server, password_file, auth)
    output.say(f"Attached SBOM ({ptype}) to {out['image']} (bundle {out['referrer']})")


@app.command("verify-attestation")
def verify_image_attestation(
    image: ImageArg,
    type: Annotated[str, REQUIRED_TYPE],
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    vsa_out: VsaOutOpt = None,
    vsa_key: VsaKeyOpt = None,
    password_file: PasswordFileOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify an image attestation of a given predicate type (optionally writing a signed VSA)."""
    from assay.service import image as image_svc

    identity = (
        certificate_identity,
        certificate_identity_regexp,
        certificate_oidc_issuer,
        certificate_oidc_issuer_regexp,
        certificate_extension,
    )
    auth = registry_auth(insecure, registry_username, registry_password)
    flags = vsa_flags("attestation", type=type, key=key, identity=certificate_identity,
                       identityRegexp=certificate_identity_regexp, issuer=certificate_oidc_issuer)  # fmt: skip
    run = with_vsa(
        lambda: image_svc.verify_image(image, _verifier(key, identity, trusted_root, server), auth=auth,
                                       predicate_type=type),
        target=image, bundle=None, flags=flags, vsa_out=vsa_out, vsa_key=vsa_key, password_file=password_file,
        auth=auth,
    )  # fmt: skip
    verify_output(output_fmt, run, render_verified)


@app.command("tree")
def image_tree(
    image: ImageArg,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """List the signatures and attestations attached to an image (JSON), and any refused material."""
    from assay.service import image as image_svc

    output.emit_json(image_svc.tree(image, auth=registry_auth(insecure, registry_username, registry_password)))


@app.command("copy")
def copy_image(
    src: ImageArg,
    dst: Annotated[str, typer.Argument(help="destination reference or oci:PATH[:tag]")],
    policy: Annotated[Optional[str], typer.Option("--policy", help="policy file the source must satisfy")] = None,
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Copy an image with its signatures and attestations, only if the source verifies (promotion)."""
    from assay.service import image as image_svc

    identity = (
        certificate_identity,
        certificate_identity_regexp,
        certificate_oidc_issuer,
        certificate_oidc_issuer_regexp,
        certificate_extension,
    )
    if policy is not None:
        from assay.service.policy import copy_check

        check = copy_check(policy)
    else:
        check = image_svc.check_signatures(_verifier(key, identity, trusted_root, server))
    auth = registry_auth(insecure, registry_username, registry_password)

    def render(r: Any) -> None:
        output.say(
            f"Copied {r['source']} to {r['destination']} "
            f"({r['manifests']} manifest(s), {r['blobs']} blob(s) uploaded, {r['mounted']} mounted)"
        )

    verify_output(output_fmt, lambda: JsonResult(image_svc.copy_image(src, dst, check, auth=auth)), render)
