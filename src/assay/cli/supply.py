"""Supply-chain material: sbom, vulndb import, scan, provenance generate, verify-provenance."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    ExtensionOpt,
    IdentityOpt,
    IdentityRegexpOpt,
    InsecureOpt,
    IssuerOpt,
    IssuerRegexpOpt,
    OutFileOpt,
    OutputFormat,
    OutputOpt,
    PasswordFileOpt,
    PubKeyOpt,
    RegPassOpt,
    RegUserOpt,
    ServerOpt,
    TrustedRootOpt,
    VsaKeyOpt,
    VsaOutOpt,
    identity_policy,
    registry_auth,
    render_verified,
    verify_output,
    vsa_flags,
    with_vsa,
)
from assay.errors import InputError


class SbomFormat(StrEnum):
    cyclonedx = "cyclonedx-json"
    spdx = "spdx-json"


@app.command("sbom")
def sbom_command(
    target: Annotated[str, typer.Argument(help="directory or file, oci:LAYOUT[:tag], or an image reference")],
    format: Annotated[SbomFormat, typer.Option("--format", help="output format")] = SbomFormat.cyclonedx,
    out: OutFileOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Catalogue packages (Python, npm, dpkg, apk, Go binaries) into a CycloneDX 1.6 or SPDX 2.3 SBOM."""
    import json

    from assay.sbom import generate
    from assay.service.io import write_atomic

    components, subject = generate.catalog(target, registry_auth(insecure, registry_username, registry_password))
    doc = generate.document(components, subject, format.value)
    data = json.dumps(doc, indent=2).encode() + b"\n"
    if out:
        write_atomic(out, data)
        output.warn(f"{len(components)} components written to {out}")
    else:
        sys.stdout.buffer.write(data)


vulndb_app = typer.Typer(help="The local OSV vulnerability index.", no_args_is_help=True)
app.add_typer(vulndb_app, name="vulndb")
DbOpt = Annotated[str, typer.Option("--db", help="directory of the vulnerability index")]


@vulndb_app.command("import")
def vulndb_import(
    source: Annotated[
        str, typer.Argument(help="OSV export: a zip (e.g. all.zip), a directory of JSON records, or one file")
    ],
    db: DbOpt,
) -> None:
    """Load OSV records into the index (newer records replace older ones)."""

    from assay.vuln.db import VulnDB

    index = VulnDB(Path(db), create=True)
    try:
        counts = index.import_osv(Path(source))
        total = index.meta()["records"]
    finally:
        index.close()
    output.say(
        f"imported {counts['imported']} record(s), {counts['withdrawn']} withdrawn, "
        f"{counts['older']} older than stored; {total} in {db}"
    )


class ScanOutput(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    predicate = "predicate"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


@app.command("scan")
def scan_command(
    target: Annotated[str, typer.Argument(help="SBOM (CycloneDX/SPDX JSON), directory, oci:LAYOUT or image")],
    db: DbOpt,
    fail_on: Annotated[
        Optional[Severity], typer.Option("--fail-on", help="exit 1 when a finding is at or above this severity")
    ] = None,
    vex: Annotated[Optional[str], typer.Option("--vex", help="CycloneDX VEX: not_affected statements suppress")] = None,
    output_fmt: Annotated[ScanOutput, typer.Option("--output", "-o")] = ScanOutput.table,
    out: Annotated[Optional[str], typer.Option("--out", help="write the report here")] = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Match packages against the OSV index (per-ecosystem version ordering) and report findings."""
    from assay.service import scan as scan_svc
    from assay.service.io import write_atomic

    result = scan_svc.scan(target, db, vex, registry_auth(insecure, registry_username, registry_password))
    text = result.render(output_fmt.value)
    if out:
        write_atomic(out, text.encode())
    else:
        sys.stdout.write(text)
    if fail_on is not None:
        worst = result.at_or_above(fail_on.value)
        if worst:
            output.warn(f"error[vulnerabilities-found]: {len(worst)} finding(s) at or above {fail_on.value}")
            raise typer.Exit(1)


provenance_app = typer.Typer(help="SLSA provenance.", no_args_is_help=True)
app.add_typer(provenance_app, name="provenance")


@provenance_app.command("generate")
def provenance_generate(
    subject: Annotated[list[str], typer.Option("--subject", help="file or image the build produced (repeatable)")],
    out: Annotated[Optional[str], typer.Option("--out", help="write the predicate here (default stdout)")] = None,
    statement_out: Annotated[
        Optional[str], typer.Option("--statement-out", help="also write the in-toto statement (subjects + predicate)")
    ] = None,
    builder_id: Annotated[Optional[str], typer.Option("--builder-id", help="builder id (required outside CI)")] = None,
    source_uri: Annotated[Optional[str], typer.Option("--source-uri", help="generic builder: source URI")] = None,
    source_digest: Annotated[
        Optional[str], typer.Option("--source-digest", help="generic builder: gitCommit:SHA or sha256:HEX")
    ] = None,
    material: Annotated[
        Optional[list[str]], typer.Option("--material", help="FILE or URI=ALGORITHM:VALUE (repeatable)")
    ] = None,
    lockfile: Annotated[
        Optional[list[str]], typer.Option("--lockfile", help="lock file whose pinned packages are materials")
    ] = None,
    started_on: Annotated[Optional[str], typer.Option("--started-on", help="build start time (RFC 3339)")] = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Build a SLSA provenance v1 predicate from GitHub Actions, GitLab CI or the given builder flags."""
    import json

    from assay.service import provenance as prov
    from assay.service.io import write_atomic

    predicate, statement = prov.generate(
        subject, builder_id=builder_id, source_uri=source_uri, source_digest=source_digest,
        material_specs=material or [], lockfiles=lockfile or [], started_on=started_on,
        auth=registry_auth(insecure, registry_username, registry_password),
    )  # fmt: skip
    data = json.dumps(predicate, indent=2).encode() + b"\n"
    if statement_out:
        write_atomic(statement_out, json.dumps(statement, indent=2).encode() + b"\n")
    if out:
        write_atomic(out, data)
        output.warn(f"provenance predicate written to {out}")
    else:
        sys.stdout.buffer.write(data)


@app.command("verify-provenance")
def verify_provenance(
    target: Annotated[str, typer.Argument(help="artifact file, or an image (registry or oci:LAYOUT)")],
    source_uri: Annotated[str, typer.Option("--source-uri", help="expected source repository, e.g. github.com/o/r")],
    source_branch: Annotated[Optional[str], typer.Option("--source-branch")] = None,
    source_tag: Annotated[Optional[str], typer.Option("--source-tag")] = None,
    builder_id: Annotated[Optional[str], typer.Option("--builder-id", help="expected runDetails.builder.id")] = None,
    bundle: Annotated[Optional[str], typer.Option("--bundle", help="attestation bundle (blobs)")] = None,
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
    """Verify SLSA provenance like slsa-verifier: signer, subject, builder, source repository and ref."""
    from assay.attest.provenance import Expectations
    from assay.service import provenance as prov

    if source_branch and source_tag:
        raise InputError("usage", "give --source-branch or --source-tag, not both")
    expect = Expectations(source_uri, source_branch, source_tag, builder_id)
    identity = identity_policy(
        certificate_identity, certificate_identity_regexp, certificate_oidc_issuer,
        certificate_oidc_issuer_regexp, certificate_extension, {},
    )  # fmt: skip
    auth = registry_auth(insecure, registry_username, registry_password)
    flags = vsa_flags("provenance", sourceUri=source_uri, branch=source_branch, tag=source_tag, builderId=builder_id,
                       key=key, identity=certificate_identity, identityRegexp=certificate_identity_regexp,
                       issuer=certificate_oidc_issuer)  # fmt: skip

    def run() -> Any:
        return prov.verify_provenance(
            target, expect, bundle=bundle, key=key, identity=identity, trusted_root=trusted_root,
            server=server, auth=auth,
        )  # fmt: skip

    wrapped = with_vsa(
        run, target=target, bundle=bundle, flags=flags, vsa_out=vsa_out, vsa_key=vsa_key,
        password_file=password_file, auth=auth,
    )  # fmt: skip

    def result() -> Any:
        r = wrapped()
        return r.result if isinstance(r, prov.Verified) else r

    verify_output(output_fmt, result, render_verified)
