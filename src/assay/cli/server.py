"""The server and its operators' commands: server, dev token, trust-config, log info|get|proof|verify-entry|monitor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    JsonResult,
    LogIndexOpt,
    LogUuidOpt,
    OutputFormat,
    OutputOpt,
    ServerUrlOpt,
    TrustedRootOpt,
    verify_output,
)
from assay.errors import InputError

server_app = typer.Typer(help="Run the assay server (`assay server [OPTIONS]`); `rotate-key` for its Sigstore keys.")
app.add_typer(server_app, name="server")


@server_app.callback(invoke_without_command=True)
def server(
    ctx: typer.Context,
    dev: Annotated[bool, typer.Option("--dev", help="development mode (loud warning)")] = False,
    data_dir: Annotated[str, typer.Option("--data-dir", help="keys and the SQLite database")] = ".assay",
    database: Annotated[
        Optional[str], typer.Option("--database", help="postgresql://... (default: SQLite in the data directory)")
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    public_url: Annotated[
        Optional[str], typer.Option("--public-url", help="URL clients use (default http://HOST:PORT)")
    ] = None,
    log_key: Annotated[
        Optional[str], typer.Option("--log-key", help="signer URI or key file for the log (default: generated)")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="server processes (they share the database)")] = 1,
    oidc_issuer: Annotated[
        Optional[list[str]],
        typer.Option(
            "--oidc-issuer", help="accepted OIDC issuer URL[=email|github-workflow|gitlab-pipeline|uri] (repeatable)"
        ),
    ] = None,
    oidc_jwks: Annotated[
        Optional[list[str]],
        typer.Option(
            "--oidc-jwks",
            help="ISSUER=PATH: the issuer's keys from a JWKS file or SPIFFE bundle (spiffe://TRUST-DOMAIN=BUNDLE), "
            "re-read when it changes; the issuer is accepted too (repeatable)",
        ),
    ] = None,
    ca_key: Annotated[
        Optional[str], typer.Option("--ca-key", help="signer URI or key file for the issuing CA (e.g. hsm:...)")
    ] = None,
    audience: Annotated[str, typer.Option("--audience", help="required token audience")] = "sigstore",
    admin: Annotated[
        Optional[list[str]], typer.Option("--admin", help="ISSUER=SUBJECT: a server administrator (repeatable)")
    ] = None,
    log_write: Annotated[
        str, typer.Option("--log-write", help="open (Sigstore-compatible) or require-token (publisher token)")
    ] = "open",
    rate_limit: Annotated[
        Optional[str], typer.Option("--rate-limit", help="writes per identity and per address, e.g. 600/m or 20/s:40")
    ] = None,
    login_rate_limit: Annotated[
        str, typer.Option("--login-rate-limit", help="logins, token issuing and failed auth per address")
    ] = "120/m",
    audit_anchor_interval: Annotated[
        float, typer.Option("--audit-anchor-interval", help="seconds between anchoring the audit head in the log")
    ] = 300.0,
    profile_tick: Annotated[
        float, typer.Option("--profile-tick", help="seconds between the profile scheduler's rounds (0: off)")
    ] = 5.0,
    profile_workers: Annotated[
        int, typer.Option("--profile-workers", min=1, help="entities the scheduler evaluates at once")
    ] = 8,
    profile_min_interval: Annotated[
        float, typer.Option("--profile-min-interval", help="shortest re-evaluation interval a profile may set")
    ] = 30.0,
    alert_attempts: Annotated[
        int, typer.Option("--alert-attempts", min=1, help="alert deliveries before dead-lettering")
    ] = 5,
    alert_backoff: Annotated[
        float, typer.Option("--alert-backoff", help="seconds before an alert's first retry (then doubling)")
    ] = 2.0,
    dev_github_issuer: Annotated[
        Optional[str],
        typer.Option(
            "--dev-github-issuer",
            help="with --dev: the `iss` the GitHub-shaped dev issuer claims (e.g. GitHub's, to rehearse a workflow)",
        ),
    ] = None,
    tuf_online_key: Annotated[
        Optional[list[str]],
        typer.Option("--tuf-online-key", help="TUF snapshot/timestamp signer (key file or URI), repeatable"),
    ] = None,
    tuf_trust_project: Annotated[
        Optional[str], typer.Option("--tuf-trust-project", help="project whose TUF repository carries Sigstore trust")
    ] = None,
    tuf_tick: Annotated[
        float, typer.Option("--tuf-tick", help="seconds between TUF re-signing rounds (0: off)")
    ] = 60.0,
    tuf_timestamp_expiry: Annotated[
        float, typer.Option("--tuf-timestamp-expiry", help="seconds a TUF timestamp is valid")
    ] = 86400.0,
    tuf_snapshot_expiry: Annotated[
        float, typer.Option("--tuf-snapshot-expiry", help="seconds a TUF snapshot is valid")
    ] = 7 * 86400.0,
    log_name: Annotated[
        str,
        typer.Option(
            "--log-name", help="the log's checkpoint name (like Rekor's, the host of its URL for sigstore-js)"
        ),
    ] = "assay",
    registry_service: Annotated[
        Optional[list[str]],
        typer.Option("--registry-service", help="a registry `service` name to issue tokens for (repeatable)"),
    ] = None,
    registry_token_alg: Annotated[
        str, typer.Option("--registry-token-alg", help="registry token signature: ES256 or RS256")
    ] = "ES256",
    registry_token_lifetime: Annotated[
        int, typer.Option("--registry-token-lifetime", min=1, max=3600, help="registry token lifetime, seconds")
    ] = 300,
    registry_token_x5c: Annotated[
        bool, typer.Option("--registry-token-x5c", help="also name the signing certificate in each token (x5c)")
    ] = False,
) -> None:
    """Run the assay server: transparency log (Rekor v1), CA (Fulcio v2) with CT, and RFC 3161 TSA."""

    if ctx.invoked_subcommand is not None:
        return
    from assay.server.config import Settings
    from assay.server.main import serve

    if dev_github_issuer and not dev:
        raise InputError("usage", "--dev-github-issuer is a development setting: it needs --dev")

    serve(
        Settings(
            Path(data_dir),
            database,
            host,
            port,
            dev,
            public_url,
            log_key=log_key,
            workers=workers,
            oidc_issuers=list(oidc_issuer or []),
            oidc_jwks=list(oidc_jwks or []),
            ca_key=ca_key,
            audience=audience,
            admins=list(admin or []),
            log_write=log_write,
            rate_limit=rate_limit,
            login_rate_limit=login_rate_limit,
            audit_anchor_interval=audit_anchor_interval,
            profile_tick=profile_tick,
            profile_workers=profile_workers,
            profile_min_interval=profile_min_interval,
            alert_attempts=alert_attempts,
            alert_backoff=alert_backoff,
            dev_github_issuer=dev_github_issuer,
            tuf_online_keys=list(tuf_online_key or []),
            tuf_trust_project=tuf_trust_project,
            tuf_tick=tuf_tick,
            tuf_timestamp_expiry=tuf_timestamp_expiry,
            tuf_snapshot_expiry=tuf_snapshot_expiry,
            log_name=log_name,
            registry_services=list(registry_service or []),
            registry_token_alg=registry_token_alg,
            registry_token_lifetime=registry_token_lifetime,
            registry_token_x5c=registry_token_x5c,
        )
    )


@server_app.command("rotate-key")
def rotate_key(
    kind: Annotated[str, typer.Argument(help="log, ca, tsa or ctlog")],
    data_dir: Annotated[str, typer.Option("--data-dir", help="the (stopped) server's data directory")] = ".assay",
) -> None:
    """Retire the server's log/CA/TSA/CT key: its trusted-root window ends now, new material is made at the next
    start, which republishes trusted_root.json over TUF; bundles made before the rotation keep verifying."""
    from assay.server import trust_history

    entry = trust_history.rotate(Path(data_dir), kind)
    output.say(f"retired the {kind} key (valid {entry['start']} .. {entry['end']}); restart the server to publish")


dev_app = typer.Typer(help="Development helpers (need a server started with --dev).", no_args_is_help=True)
app.add_typer(dev_app, name="dev")


@dev_app.command("token")
def dev_token(
    server: Annotated[str, typer.Option("--server", help="an assay server started with --dev")],
    email: Annotated[Optional[str], typer.Option("--email", help="an email identity")] = None,
    github_workflow: Annotated[
        Optional[str],
        typer.Option("--github-workflow", help="OWNER/REPO: a GitHub-Actions-shaped token for that repository"),
    ] = None,
    ref: Annotated[str, typer.Option("--ref")] = "refs/heads/main",
    workflow: Annotated[str, typer.Option("--workflow")] = ".github/workflows/release.yml",
    audience: Annotated[str, typer.Option("--audience")] = "sigstore",
    expires_in: Annotated[int, typer.Option("--expires-in", help="seconds")] = 600,
) -> None:
    """Print an ID token minted by the server's development issuer."""
    from assay.clients.http import reject, request

    if email and github_workflow:
        raise InputError("usage", "give --email or --github-workflow, not both")
    base = server.rstrip("/") + "/dev/oidc"
    body: dict[str, object]
    if github_workflow:
        url, body = base + "/github/token", {"repository": github_workflow, "ref": ref, "workflow": workflow}
    else:
        url, body = base + "/token", {"email": email or "dev@example.com"}
    body.update({"audience": audience, "expiresIn": expires_in})
    resp = request("POST", url, json=body)
    if resp.status_code == 404:
        raise InputError("dev-issuer-off", f"{server} has no development issuer (start it with --dev)")
    if resp.status_code != 200:
        raise reject(resp, "token")
    output.say(resp.json()["id_token"])


@app.command("trust-config")
def trust_config(server: ServerUrlOpt) -> None:
    """Print the server's ClientTrustConfig (trusted root + signing config) for Sigstore clients."""
    from assay.clients.http import reject, request

    resp = request("GET", server.rstrip("/") + "/api/v1/trustConfig")
    if resp.status_code != 200:
        raise reject(resp, "trust config")
    output.emit_json(resp.json())


log_app = typer.Typer(help="Inspect, verify and monitor a transparency log.", no_args_is_help=True)
app.add_typer(log_app, name="log")
ServerReq = Annotated[str, typer.Option("--server", help="log server URL")]


@log_app.command("info")
def log_info(server: ServerReq, output_fmt: OutputOpt = OutputFormat.text) -> None:
    """The log's current size, root hash and checkpoint."""
    from assay.clients.rekor import RekorClient

    info = RekorClient(server).log_info()
    if output_fmt is OutputFormat.json:
        output.emit_json(info)
    else:
        output.say(f"tree size: {info['treeSize']}\nroot hash: {info['rootHash']}\n\n{info['signedTreeHead']}")


@log_app.command("get")
def log_get(
    server: ServerReq,
    uuid: LogUuidOpt = None,
    index: LogIndexOpt = None,
) -> None:
    """Print an entry (by UUID or index) with its proof, as JSON."""
    from assay.clients.http import reject, request

    if (uuid is None) == (index is None):
        raise InputError("usage", "give exactly one of --uuid and --index")
    base = server.rstrip("/")
    resp = (
        request("GET", f"{base}/api/v1/log/entries/{uuid}")
        if uuid
        else request("GET", f"{base}/api/v1/log/entries", params={"logIndex": index})
    )
    if resp.status_code != 200:
        raise reject(resp, "log entry")
    output.emit_json(resp.json())


@log_app.command("proof")
def log_proof(
    server: ServerReq,
    first: Annotated[int, typer.Option("--first", min=0)],
    last: Annotated[int, typer.Option("--last", min=0)],
) -> None:
    """Print the consistency proof between two tree sizes, as JSON."""
    from assay.clients.rekor import RekorClient

    output.emit_json(RekorClient(server).consistency(first, last))


@log_app.command("verify-entry")
def log_verify_entry(
    server: ServerReq,
    uuid: LogUuidOpt = None,
    index: LogIndexOpt = None,
    trusted_root: TrustedRootOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Check an entry's signed entry timestamp, inclusion proof and checkpoint."""
    from assay.service import logops

    if (uuid is None) == (index is None):
        raise InputError("usage", "give exactly one of --uuid and --index")

    def render(r: Any) -> None:
        output.say(f"entry {r['logIndex']} ({r['kind']}) is included in the log at size {r['treeSize']}")

    verify_output(
        output_fmt,
        lambda: JsonResult(logops.verify_entry(server, uuid=uuid, index=index, trusted_root=trusted_root)),
        render,
    )


@log_app.command("monitor")
def log_monitor(
    server: ServerReq,
    state: Annotated[
        str, typer.Option("--state", help="file remembering the last verified checkpoint")
    ] = ".assay-monitor.json",
    trusted_root: TrustedRootOpt = None,
    interval: Annotated[float, typer.Option("--interval", help="seconds between checks; 0 checks once")] = 0,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify each new checkpoint is signed and consistent with the last one; exit 1 on fork or shrink."""

    from assay.service import logops

    def render(r: Any) -> None:
        prev = f" (consistent with size {r['previousSize']})" if "previousSize" in r else " (first checkpoint pinned)"
        output.say(f"checkpoint verified at size {r['size']}{prev}")

    while True:
        verify_output(output_fmt, lambda: JsonResult(logops.monitor_once(server, Path(state), trusted_root)), render)
        if interval <= 0:
            return
