"""`assay checklist`: how far a project is from the artifact-security checklist."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    IdentityOpt,
    IdentityRegexpOpt,
    InsecureOpt,
    IssuerOpt,
    IssuerRegexpOpt,
    PubKeyOpt,
    RegPassOpt,
    RegUserOpt,
    ServerOpt,
    TrustedRootOpt,
    identity_policy,
    registry_auth,
)


@app.command("checklist")
def checklist(
    repo: Annotated[Optional[str], typer.Option("--repo", help="repository directory")] = None,
    image: Annotated[Optional[str], typer.Option("--image", help="image reference: signed, provenance, SBOM")] = None,
    release: Annotated[Optional[str], typer.Option("--release", help="release directory: checksums, signature")] = None,
    manifests: Annotated[
        Optional[str], typer.Option("--cluster-manifests", help="Kubernetes manifests directory: admission")
    ] = None,
    registry: Annotated[Optional[str], typer.Option("--registry", help="registry reference")] = None,
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    fmt: Annotated[str, typer.Option("-o", "--output", help="table|json|sarif")] = "table",
) -> None:
    """One row per checklist item with pass/fail/unknown, evidence and fix."""
    from assay.errors import InputError
    from assay.service.checklist import check_registry, check_repo
    from assay.service.checklist_artifacts import Who, check_image, check_manifests, check_release

    if fmt not in ("table", "json", "sarif"):
        raise InputError("usage", f"-o {fmt}: expected table, json or sarif")
    if not any((repo, image, release, manifests, registry)):
        raise InputError("usage", "give at least one of --repo, --image, --release, --cluster-manifests, --registry")
    ident = identity_policy(
        certificate_identity, certificate_identity_regexp, certificate_oidc_issuer, certificate_oidc_issuer_regexp,
        None, {},
    )  # fmt: skip
    who = Who(key, ident, trusted_root, server) if key or ident else None
    rows: list[dict[str, Any]] = check_repo(repo) if repo else []
    if image:
        rows += check_image(image, who, registry_auth(insecure, registry_username, registry_password))
    if release:
        rows += check_release(release, who)
    if manifests:
        rows.append(check_manifests(manifests))
    if registry:
        rows.append(check_registry(registry))
    output.emit_rows(rows, fmt)
