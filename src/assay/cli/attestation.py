"""``assay attestation verify``: ``gh attestation verify`` with gh's flags and defaults, offline."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app as root
from assay.cli.options import InsecureOpt
from assay.errors import AssayError

app = typer.Typer(help="Verify GitHub artifact attestations as `gh attestation verify` does, offline.")
root.add_typer(app, name="attestation")


class Format(StrEnum):
    json = "json"


def _report(outcome: Any) -> None:
    """gh's human report: what was loaded, the criteria, then the table of verified attestations."""
    output.warn(f"Loaded digest {outcome.digest} for {outcome.artifact}")
    output.warn(f"Loaded {outcome.loaded} attestation{'s' if outcome.loaded != 1 else ''} from {outcome.source}")
    output.warn("")
    output.warn("The following policy criteria will be enforced:")
    width = max(len(label) for label, _ in outcome.criteria) + 1
    for label, value in outcome.criteria:
        output.warn(f"- {(label + ':').ljust(width + 3, '.')} {value}")
    output.warn("")
    output.warn("✓ Verification succeeded!")
    output.warn("")
    n = len(outcome.verified)
    output.warn(f"The following {n} attestation{'s' if n != 1 else ''} matched the policy criteria")
    output.warn("")
    rows = [("REPO", "PREDICATE_TYPE", "WORKFLOW"), *outcome.table()]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for repo, ptype, workflow in rows:
        output.say(f"{repo.ljust(widths[0])}  {ptype.ljust(widths[1])}  {workflow}".rstrip())


@app.command("verify")
def verify(
    target: Annotated[str, typer.Argument(help="FILE, oci://IMAGE, or ALG:HEX (sha256/sha384/sha512)")],
    owner: Annotated[
        Optional[str], typer.Option("--owner", "-o", help="GitHub owner the attestation must come from")
    ] = None,
    repo: Annotated[
        Optional[str], typer.Option("--repo", "-R", help="OWNER/REPO the attestation must come from")
    ] = None,
    bundle: Annotated[
        Optional[str], typer.Option("--bundle", "-b", help="bundle file: JSON, JSON Lines, or a GitHub API response")
    ] = None,
    bundle_from_oci: Annotated[
        bool, typer.Option("--bundle-from-oci", help="read the bundles attached to the oci:// image as referrers")
    ] = False,
    signer_workflow: Annotated[
        Optional[str], typer.Option("--signer-workflow", help="[HOST/]OWNER/REPO/PATH/TO/WORKFLOW that signed")
    ] = None,
    signer_repo: Annotated[
        Optional[str], typer.Option("--signer-repo", help="OWNER/REPO whose workflow signed")
    ] = None,
    signer_digest: Annotated[
        Optional[str], typer.Option("--signer-digest", help="required build signer digest")
    ] = None,
    cert_identity: Annotated[Optional[str], typer.Option("--cert-identity", help="exact certificate SAN")] = None,
    cert_identity_regex: Annotated[
        Optional[str], typer.Option("--cert-identity-regex", help="regular expression the SAN must contain a match of")
    ] = None,
    cert_oidc_issuer: Annotated[
        str, typer.Option("--cert-oidc-issuer", help="OIDC issuer of the signing identity")
    ] = "https://token.actions.githubusercontent.com",
    predicate_type: Annotated[
        str, typer.Option("--predicate-type", help="predicate type of the attestations to verify")
    ] = "https://slsa.dev/provenance/v1",
    source_ref: Annotated[Optional[str], typer.Option("--source-ref", help="required source repository ref")] = None,
    source_digest: Annotated[
        Optional[str], typer.Option("--source-digest", help="required source repository commit digest")
    ] = None,
    deny_self_hosted_runners: Annotated[
        bool, typer.Option("--deny-self-hosted-runners", help="refuse attestations built on self-hosted runners")
    ] = False,
    custom_trusted_root: Annotated[
        Optional[str],
        typer.Option("--custom-trusted-root", help="trusted root JSON or JSON Lines (gh attestation trusted-root)"),
    ] = None,
    no_public_good: Annotated[
        bool, typer.Option("--no-public-good", help="trust only GitHub's Sigstore instance")
    ] = False,
    hostname: Annotated[str, typer.Option("--hostname", help="GitHub host the identities live on")] = "github.com",
    format: Annotated[Optional[Format], typer.Option("--format", help="json for machine-readable output")] = None,
    insecure: InsecureOpt = False,
) -> None:
    """Verify an artifact's attestations against GitHub's policy (exit 0 verified, 1 not, 2 bad input)."""
    from assay.oci.store import RegistryAuth
    from assay.service import attestation as svc

    policy = svc.GhPolicy(
        owner=owner,
        repo=repo,
        hostname=hostname,
        signer_workflow=signer_workflow,
        signer_repo=signer_repo,
        signer_digest=signer_digest,
        cert_identity=cert_identity,
        cert_identity_regex=cert_identity_regex,
        cert_oidc_issuer=cert_oidc_issuer,
        predicate_type=predicate_type,
        source_ref=source_ref,
        source_digest=source_digest,
        deny_self_hosted_runners=deny_self_hosted_runners,
    )
    try:
        outcome = svc.run(
            target,
            policy,
            bundle_path=bundle,
            bundle_from_oci=bundle_from_oci,
            custom_trusted_root=custom_trusted_root,
            no_public_good=no_public_good,
            auth=RegistryAuth(insecure, None, None),
        )
    except AssayError as exc:
        if format is Format.json:
            output.emit_json(output.error_json(exc))
        raise
    if format is Format.json:
        output.emit_json(outcome.to_json())
    else:
        _report(outcome)
