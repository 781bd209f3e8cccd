"""Option types and helpers shared by the command groups: identity flags, tokens, output, VSA, registry auth.

An option (or argument) that more than one command takes is declared here once. Where commands differ only in
whether it is required, they share the ``typer.Option`` object (Typer copies it for each parameter) and each
annotates its own type.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.errors import AssayError, InputError


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="text or json")]
OutFileOpt = Annotated[Optional[str], typer.Option("--out", help="write here instead of stdout")]
OutFileShortOpt = Annotated[Optional[str], typer.Option("--out", "-o", help="write here instead of stdout")]
ServerUrlOpt = Annotated[str, typer.Option("--server", help="assay server URL")]
PasswordFileOpt = Annotated[
    Optional[str], typer.Option("--password-file", help="file holding the key password (else ASSAY_PASSWORD)")
]


IdentityOpt = Annotated[Optional[str], typer.Option("--certificate-identity", help="expected SAN (email or URI)")]
IdentityRegexpOpt = Annotated[Optional[str], typer.Option("--certificate-identity-regexp", help="SAN must fully match")]
IssuerOpt = Annotated[Optional[str], typer.Option("--certificate-oidc-issuer", help="expected OIDC issuer")]
IssuerRegexpOpt = Annotated[
    Optional[str], typer.Option("--certificate-oidc-issuer-regexp", help="issuer must fully match")
]
ExtensionOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--certificate-extension", help="NAME=VALUE claim (name or OID, e.g. sourceRepositoryRef=refs/heads/main)"
    ),
]
GhTriggerOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-trigger")]
GhShaOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-sha")]
GhNameOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-name")]
GhRepoOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-repository")]
GhRefOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-ref")]
TrustedRootOpt = Annotated[
    Optional[str],
    typer.Option("--trusted-root", help="TrustedRoot or ClientTrustConfig JSON (default: Sigstore public good)"),
]
ServerOpt = Annotated[Optional[str], typer.Option("--server", help="assay server URL (transparency log)")]
RequireTlogOpt = Annotated[bool, typer.Option("--require-tlog", help="reject bundles without a verified log entry")]


def identity_policy(
    identity: str | None,
    identity_regexp: str | None,
    issuer: str | None,
    issuer_regexp: str | None,
    extensions: list[str] | None,
    github: dict[str, str | None],
) -> Any:
    """Build an identity policy from cosign-style flags; None when no identity flag was given."""
    from assay.verify.identity import IdentityPolicy, claim_name

    pairs: list[tuple[str, str]] = []
    for item in extensions or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError("usage", f"--certificate-extension {item!r}: expected NAME=VALUE")
        pairs.append((claim_name(name), value))
    pairs.extend((name, value) for name, value in github.items() if value is not None)
    if not any((identity, identity_regexp, issuer, issuer_regexp, pairs)):
        return None
    return IdentityPolicy(identity, identity_regexp, issuer, issuer_regexp, tuple(pairs))


SIGNING_KEY = typer.Option("--key", help="private key file or signer URI (hsm:, awskms:, ...)")
KeyOpt = Annotated[Optional[str], SIGNING_KEY]
TokenOpt = Annotated[
    Optional[str], typer.Option("--identity-token", help="OIDC ID token (or @FILE, or - for stdin) for keyless signing")
]


YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="accepted for cosign compatibility: assay never asks interactively")
]


def read_token(value: str | None) -> str | None:
    """An identity token given inline, as @FILE, or - (stdin); ASSAY_IDENTITY_TOKEN is the default."""
    import os

    if value is None:
        value = os.environ.get("ASSAY_IDENTITY_TOKEN") or None
        if value is None:
            return None
    if value == "-":
        return sys.stdin.read().strip()
    if value.startswith("@"):
        from assay.service.io import read_file

        return read_file(value[1:], "identity token file").decode().strip()
    return value.strip()


class JsonResult(dict):  # type: ignore[type-arg]
    """A plain dict result that renders itself as JSON (for verify_output)."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)


def verify_output(fmt: OutputFormat, run: Callable[[], Any], render: Callable[[Any], None]) -> None:
    """Run a verification, rendering success or failure in the chosen format."""
    try:
        result = run()
    except AssayError as exc:
        if fmt is OutputFormat.json:
            output.emit_json(output.error_json(exc))
        raise
    if fmt is OutputFormat.json:
        output.emit_json(result.to_json())
    else:
        render(result)


def render_verified(result: Any) -> None:
    for step in result.steps:
        mark = "ok  " if step.status == "pass" else "skip"
        output.warn(f"  {mark} {step.step}: {step.detail}")
    for note in result.notes:
        output.warn(f"note: {note}")
    output.say("Verified OK")


# Blob signing and verification, attestations.
BlobTargetArg = Annotated[str, typer.Argument(help="file, - for stdin, or ALG:HEX (sha256, sha384, sha512)")]
BundleOutOpt = Annotated[Optional[str], typer.Option("--bundle", help="bundle to write (default FILE.sigstore.json)")]
BundleInOpt = Annotated[Optional[str], typer.Option("--bundle", help="bundle (default FILE.sigstore.json)")]
PredicateOpt = Annotated[str, typer.Option("--predicate", help="predicate JSON file")]
REQUIRED_TYPE = typer.Option("--type", help="required predicate type")

# The sigstore-conformance protocol's commands.
ConformanceBundleOpt = Annotated[str, typer.Option("--bundle")]
StagingOpt = Annotated[bool, typer.Option("--staging", hidden=True)]

# Log entries and repository versions.
LogUuidOpt = Annotated[Optional[str], typer.Option("--uuid")]
LogIndexOpt = Annotated[Optional[int], typer.Option("--index", min=0)]
VersionRefArg = Annotated[str, typer.Argument(help="PROJECT/NAME@VERSION")]


VsaOutOpt = Annotated[
    Optional[str], typer.Option("--vsa-out", help="write a signed SLSA verification summary (bundle) here")
]
VsaKeyOpt = Annotated[Optional[str], typer.Option("--vsa-key", help="key (or signer URI) that signs the VSA")]


def vsa_flags(kind: str, **flags: Any) -> dict[str, Any]:
    """The verification's flags, recorded (by digest) as the VSA's policy."""
    return {"kind": kind, **flags}


def with_vsa(
    run: Callable[[], Any],
    *,
    target: str,
    bundle: str | None,
    flags: dict[str, Any],
    vsa_out: str | None,
    vsa_key: str | None,
    password_file: str | None,
    auth: Any = None,
) -> Callable[[], Any]:
    """Wrap a verification so that a VSA (PASSED or FAILED) is written before the result is reported."""
    if vsa_out is None:
        return run
    if vsa_key is None:
        raise InputError("usage", "--vsa-out needs --vsa-key to sign the summary")
    from assay.service.provenance import VsaRequest, verify_with_vsa

    request = VsaRequest(target, bundle, flags, vsa_out, vsa_key, password_file, auth)
    return lambda: verify_with_vsa(run, request, lambda passed: output.warn(
        f"verification summary ({'PASSED' if passed else 'FAILED'}) written to {vsa_out}"))  # fmt: skip


InsecureOpt = Annotated[bool, typer.Option("--insecure", help="plain HTTP (loopback registries only)")]
RegUserOpt = Annotated[Optional[str], typer.Option("--registry-username")]
RegPassOpt = Annotated[Optional[str], typer.Option("--registry-password", envvar="ASSAY_REGISTRY_PASSWORD")]
ImageArg = Annotated[str, typer.Argument(help="image reference, or oci:PATH[:tag|@digest] (an OCI image layout)")]
PubKeyOpt = Annotated[Optional[str], typer.Option("--key", help="public key (PEM/DER)")]


def registry_auth(insecure: bool, username: str | None, password_: str | None) -> Any:
    from assay.oci.store import RegistryAuth

    return RegistryAuth(insecure, username, password_)


# The evidence a platform shows a key broker (decrypt-blob, decrypt, verify --decrypted-digest, broker keyprovider).
EvidenceOpt = Annotated[
    Optional[str],
    typer.Option("--identity-token", help="the platform's OIDC workload token for the broker (or @FILE, -)"),
]
AudienceOpt = Annotated[str, typer.Option("--audience", help="audience of the ambient CI token asked for the broker")]
AttesterOpt = Annotated[
    Optional[str],
    typer.Option(
        "--attester",
        help="platform evidence for the broker: a key (file or signer URI) signing --platform-claims, or "
        "cmd:COMMAND printing a signed statement per unwrap ({nonce} / ASSAY_BROKER_NONCE)",
    ),
]
PlatformClaimsOpt = Annotated[
    Optional[str],
    typer.Option("--platform-claims", help='JSON claims the --attester key signs (or {"predicateType", "predicate"})'),
]


def platform_evidence(identity_token: str | None, audience: str, attester: str | None, claims: str | None) -> Any:
    """The broker evidence the flags give: a workload token (given, else the CI system's own unless an attester
    stands alone) and/or attester-signed claims naming each request's nonce."""
    from assay.service import broker, platform

    token = read_token(identity_token)
    if attester is None:
        if claims:
            raise InputError("usage", "--platform-claims needs --attester KEY")
        return platform.Evidence(broker.evidence_token(token, audience))
    return platform.Evidence(token or "", platform.attester(attester, claims))
