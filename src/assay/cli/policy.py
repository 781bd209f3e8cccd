"""The policy engine's commands: policy schema|eval|init|test."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    InsecureOpt,
    PasswordFileOpt,
    RegPassOpt,
    RegUserOpt,
    VsaKeyOpt,
    VsaOutOpt,
    registry_auth,
)
from assay.errors import InputError

policy_app = typer.Typer(help="The policy engine.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


class PolicyOutput(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the JSON Schema of assay.dev/v1 Policy documents."""
    from assay.policy.schema import SCHEMA

    output.emit_json(SCHEMA)


@policy_app.command("eval")
def policy_eval(
    targets: Annotated[list[str], typer.Argument(help="blob files or images (registry or oci:LAYOUT)")],
    policy: Annotated[str, typer.Option("--policy", help="policy file (YAML or JSON)")],
    bundle: Annotated[
        Optional[list[str]],
        typer.Option("--bundle", help="bundles for a single blob (default FILE.sigstore.json, FILE.*.sigstore.json)"),
    ] = None,
    output_fmt: Annotated[PolicyOutput, typer.Option("--output", "-o")] = PolicyOutput.table,
    vsa_out: VsaOutOpt = None,
    vsa_key: VsaKeyOpt = None,
    password_file: PasswordFileOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    evidence_server: Annotated[
        Optional[str], typer.Option("--evidence-server", help="take attestations from this assay evidence store")
    ] = None,
    project: Annotated[Optional[str], typer.Option("--project", help="evidence store project")] = None,
) -> None:
    """Evaluate a policy; exit 1 when an enforced rule fails (warn and audit modes report and exit 0)."""
    from assay import __version__
    from assay.policy import report
    from assay.service import evidence as evidence_svc
    from assay.service import policy as policy_svc

    if vsa_out and not vsa_key:
        raise InputError("usage", "--vsa-out needs --vsa-key to sign the summary")
    auth = registry_auth(insecure, registry_username, registry_password)
    run = (
        evidence_svc.evaluate_targets(policy, targets, evidence_server, project, auth, bundle)
        if evidence_server
        else policy_svc.evaluate_targets(policy, targets, bundle, auth)
    )
    for w in run.warnings:
        output.warn(w)
    if output_fmt is PolicyOutput.table:
        sys.stdout.write(report.table(run.evaluations))
    elif output_fmt is PolicyOutput.json:
        output.emit_json(report.to_json(run.evaluations))
    else:
        output.emit_json(report.sarif(run.evaluations, __version__))
    if vsa_out and vsa_key:
        for path in policy_svc.write_vsas(run, vsa_out, vsa_key, password_file):
            output.warn(f"verification summary written to {path}")
    for ev in run.not_blocking_failures:
        output.warn(
            f"warning[policy-would-fail]: {ev.target.name} fails {run.policy.name} ({run.policy.mode} mode, not blocking)"
        )
    if run.blocking:
        ev = run.blocking[0]
        first = next(r for r in ev.rules if r.status != "pass")
        output.warn(f"error[{first.reason or 'policy-failed'}]: {ev.target.name}: rule {first.name}: {first.message}")
        raise typer.Exit(1)


@policy_app.command("init")
def policy_init(
    template: Annotated[str, typer.Argument(help="template name: artifact-security")],
    repository: Annotated[str, typer.Option("--repository", help="https://github.com/OWNER/REPO")],
    branch: Annotated[str, typer.Option("--branch")] = "main",
    workflow: Annotated[
        str, typer.Option("--workflow", help="workflow file, e.g. .github/workflows/release.yml")
    ] = ".github/workflows/release.yml",
    image: Annotated[Optional[list[str]], typer.Option("--image", help="image glob (default all)")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="only images with these tags")] = None,
    tag_regexp: Annotated[Optional[str], typer.Option("--tag-regexp", help="only images whose tag matches")] = None,
    out: Annotated[Optional[str], typer.Option("--out")] = None,
) -> None:
    """Write a ready-made policy (Minder's artifact_signature rule set)."""
    from assay.policy import templates
    from assay.service.io import write_atomic

    if template != "artifact-security":
        raise InputError("usage", f"unknown template {template!r}; available: artifact-security")
    text = templates.artifact_security(repository, branch, workflow, image or [], tag or [], tag_regexp)
    if out:
        write_atomic(out, text.encode())
    else:
        sys.stdout.write(text)


@policy_app.command("test")
def policy_test(directory: Annotated[str, typer.Argument(help="directory with policy.yaml and cases/*.yaml")]) -> None:
    """Run policy fixture cases (expected result per rule); exit 1 when any case disagrees."""
    from assay.service import policy as policy_svc

    results = policy_svc.run_tests(Path(directory))
    for r in results:
        output.say(f"{'PASS' if r.ok else 'FAIL'}  {r.name}")
        for p in r.problems:
            output.say(f"      {p}")
    failed = sum(not r.ok for r in results)
    output.say(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)
