"""``assay registry auth-config|push-policy|check``: assay as an OCI registry's token server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app as root_app
from assay.cli.evidence import ProjectOpt, ServerOpt, TokenOpt

registry_app = typer.Typer(help="Registry access control: assay as the registry's token server.", no_args_is_help=True)
root_app.add_typer(registry_app, name="registry")


@registry_app.command("auth-config")
def auth_config(
    service: Annotated[str, typer.Option("--service", help="the registry's service name (its token audience)")],
    server: Annotated[
        str, typer.Option("--server", help="the assay server URL as the registry and its clients reach it")
    ] = "http://127.0.0.1:8080",
    data_dir: Annotated[str, typer.Option("--data-dir", help="the server's data directory")] = ".assay",
    out_bundle: Annotated[
        Optional[str], typer.Option("--out-bundle", help="write the certificate bundle here (default: in the data dir)")
    ] = None,
    alg: Annotated[str, typer.Option("--alg", help="ES256 or RS256, as the server's --registry-token-alg")] = "ES256",
) -> None:
    """Print the registry's ``auth: token`` block and write the certificate bundle it trusts."""
    from assay.registry import signing

    base = Path(data_dir)
    signing.check_service_name(service)
    pem = signing.certificate_pem(base, signing.check_alg(alg))
    bundle = Path(out_bundle) if out_bundle else base / "registry" / f"token-{alg.lower()}.crt"
    if out_bundle:
        bundle.write_bytes(pem)
    signing.add_service(base, service)
    url = server.rstrip("/")
    output.say(signing.auth_config(realm=f"{url}/v2/token", service=service, issuer=url, bundle=str(bundle.resolve())))


@registry_app.command("push-policy")
def push_policy(
    project: ProjectOpt,
    ci_only: Annotated[bool, typer.Option("--ci-only", help="only CI identities matching a --rule may push")] = False,
    any_push: Annotated[bool, typer.Option("--any", help="roles alone decide who may push")] = False,
    rule: Annotated[
        Optional[list[str]],
        typer.Option("--rule", help="issuer=URL[,repository=GLOB][,ref=GLOB][,workflow=GLOB] (repeatable)"),
    ] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Show or set the project's push rule (setting needs the project's admin role)."""
    from urllib.parse import quote

    from assay.clients.access import bearer_for, server_url
    from assay.clients.http import reject, request
    from assay.errors import InputError
    from assay.registry import pushpolicy

    if ci_only and any_push:
        raise InputError("usage", "--ci-only and --any exclude each other")
    if rule and not ci_only:
        raise InputError("usage", "--rule needs --ci-only")
    url = server_url(server)
    bearer = bearer_for(url, token)
    path = f"{url}/api/v1/projects/{quote(project, safe='')}/registry/push-policy"
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if ci_only or any_push:
        doc = {"push": "ci-only" if ci_only else "any", "rules": [pushpolicy.rule_from_text(r) for r in rule or []]}
        resp = request("PUT", path, json=doc, headers=headers)
    else:
        resp = request("GET", path, headers=headers)
    if resp.status_code != 200:
        raise reject(resp, "push policy")
    shown = resp.json()
    output.say(f"{project}: push {shown['push']}")
    for r in shown["rules"]:
        output.say("  " + ",".join(f"{k}={v}" for k, v in r.items()))


@registry_app.command("check")
def check(
    ref: Annotated[str, typer.Argument(help="REGISTRY/REPOSITORY")],
    fmt: Annotated[str, typer.Option("-o", "--output", help="table|json|sarif")] = "table",
    insecure: Annotated[
        Optional[bool], typer.Option("--insecure/--tls", help="plain HTTP (default: only for loopback)")
    ] = None,
    allow_anonymous_pull: Annotated[
        bool, typer.Option("--allow-anonymous-pull", help="an anonymous pull is intended (a public image)")
    ] = False,
) -> None:
    """What an anonymous caller can do there: catalog, pull, push (an upload it cancels); exit 1 on a fail."""
    from assay.errors import InputError
    from assay.registry.check import run

    if fmt not in ("table", "json", "sarif"):
        raise InputError("usage", f"-o {fmt}: use table, json or sarif")
    output.emit_rows(run(ref, insecure=insecure, allow_anonymous_pull=allow_anonymous_pull), fmt)
