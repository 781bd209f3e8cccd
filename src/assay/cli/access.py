"""``assay login|logout|whoami`` and ``assay project|token|audit ...``: access control from the command line."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app as root_app
from assay.cli.options import ServerUrlOpt
from assay.clients.access import (
    AccessClient,
    bearer_for,
    credentials_path,
    load_credentials,
    save_credentials,
    server_url,
)
from assay.errors import InputError, VerificationError

ServerOpt = Annotated[Optional[str], typer.Option("--server", help="assay server URL (default: last login)")]
TokenOpt = Annotated[Optional[str], typer.Option("--token", help="API token (default: ASSAY_TOKEN, then the session)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="project name")]

project_app = typer.Typer(help="Projects and their members' roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for automation.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def _client(server: str | None, token: str | None = None) -> AccessClient:
    url = server_url(server)
    return AccessClient(url, bearer_for(url, token))


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else "-"


def _since(text: str | None) -> int | None:
    """Unix seconds, an ISO date/time, or a duration ago (``2h``)."""
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    m = re.fullmatch(r"(\d+)([smhd])", text)
    if m:
        return int(time.time()) - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            "bad-time", f"{text!r} is not a time", hint="use 2026-01-31, 2026-01-31T10:00:00Z or 2h"
        ) from None
    return int((stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp())


# ---- login / logout -------------------------------------------------------------------


def login(
    server: ServerUrlOpt,
    identity_token: Annotated[
        Optional[str], typer.Option("--identity-token", help="an OIDC ID token from an issuer the server accepts")
    ] = None,
    flow: Annotated[str, typer.Option("--flow", help="interactive flow: device or pkce")] = "device",
    issuer: Annotated[Optional[str], typer.Option("--issuer", help="issuer for the interactive flow")] = None,
) -> None:
    """Get a session from an assay server and store it (mode 0600) in the user's config directory."""
    from assay.cli import login as flows

    url = server.rstrip("/")
    client = AccessClient(url)
    if identity_token is None:
        if flow not in ("device", "pkce"):
            raise InputError("bad-login-flow", f"--flow {flow!r}", hint="use device or pkce")
        config = client.call("GET", "/api/v1/auth/config", "login")
        chosen = issuer or config.get("devIssuer") or (config["issuers"][0] if config.get("issuers") else None)
        if not chosen:
            raise InputError(
                "no-issuer", "the server names no issuer for interactive login", hint="pass --identity-token"
            )
        identity_token = flows.device_flow(chosen) if flow == "device" else flows.pkce_flow(chosen)
    session = client.session(identity_token)
    doc = load_credentials()
    doc["servers"][url] = {
        "session": session["session"],
        "expires": session["expires"],
        "issuer": session["issuer"],
        "subject": session["subject"],
    }
    doc["default"] = url
    path = save_credentials(doc)
    admin = " (server administrator)" if session.get("serverAdmin") else ""
    output.say(f"logged in to {url} as {session['subject']}{admin}; session until {_when(session['expires'])}")
    output.say(f"credentials: {path}")


def logout(server: ServerOpt = None) -> None:
    """Close the session on the server and remove it from the credentials file."""
    url = server_url(server)
    doc = load_credentials()
    entry = doc["servers"].pop(url, None)
    if entry is None:
        raise InputError("not-logged-in", f"no stored session for {url}")
    try:
        AccessClient(url, entry["session"]).call("DELETE", "/api/v1/auth/session", "logout")
    except InputError:
        pass  # already expired or closed: removing it locally is what matters
    if doc.get("default") == url:
        doc.pop("default")
    save_credentials(doc)
    output.say(f"logged out of {url} ({credentials_path()})")


def whoami(server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Show the identity behind the current credentials."""
    me = _client(server, token).call("GET", "/api/v1/auth/whoami", "whoami")
    output.say(
        f"{me['subject']} ({me['issuer']}) via {me['kind']}{' — server administrator' if me['serverAdmin'] else ''}"
    )


def register(app: typer.Typer) -> None:
    """Add login, logout, whoami and the project, token and audit groups to ``app``."""
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
    app.add_typer(project_app, name="project")
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")


# ---- projects -------------------------------------------------------------------------


@project_app.command("create")
def project_create(
    name: Annotated[str, typer.Argument(help="[a-z0-9][a-z0-9-]{0,62}")],
    parent: Annotated[Optional[str], typer.Option("--parent", help="parent project (grants are inherited)")] = None,
    public: Annotated[bool, typer.Option("--public", help="anyone may download artifacts and read evidence")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a project (top level: server administrators; child: admins of the parent)."""
    client = _client(server, token)
    path = f"/api/v1/projects/{parent}/children" if parent else "/api/v1/projects"
    body = {"name": name, "visibility": "public" if public else "members"}
    made = client.call("POST", path, "project create", body=body)
    where = f" (child of {made['parent']})" if made.get("parent") else ""
    output.say(f"created project {made['name']}{where}, visibility {made.get('visibility', 'members')}")


@project_app.command("set")
def project_set(
    name: Annotated[str, typer.Argument()],
    visibility: Annotated[
        str, typer.Option("--visibility", help="public (anyone may read artifacts and evidence) or members")
    ],
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Change a project's settings (its admins)."""
    doc = _client(server, token).set_visibility(name, visibility)
    output.say(f"project {doc['name']}: visibility {doc['visibility']}")


@project_app.command("list")
def project_list(server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Projects you can see."""
    doc = _client(server, token).call("GET", "/api/v1/projects", "project list")
    if as_json:
        output.emit_json(doc)
        return
    for p in doc["projects"]:
        output.say(f"{p['name']}\t{p['parent'] or '-'}\t{_when(p['created'])}")


@project_app.command("show")
def project_show(
    name: Annotated[str, typer.Argument()], server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """One project, its members and your role."""
    client = _client(server, token)
    doc = client.call("GET", f"/api/v1/projects/{name}", "project show")
    doc["grants"] = client.call("GET", f"/api/v1/projects/{name}/grants", "project show")["grants"]
    if as_json:
        output.emit_json(doc)
        return
    output.say(
        f"project {doc['name']} (parent {doc['parent'] or '-'}, visibility {doc.get('visibility', 'members')}),"
        f" your role: {doc['role'] or '-'}"
    )
    for g in doc["grants"]:
        output.say(f"  {g['role']:<14} {g['subject']} ({g['issuer']})")


@project_app.command("delete")
def project_delete(name: Annotated[str, typer.Argument()], server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Delete a project (soft: its history and audit rows are kept)."""
    _client(server, token).call("DELETE", f"/api/v1/projects/{name}", "project delete")
    output.say(f"deleted project {name}")


IdentityArg = Annotated[str, typer.Option("--identity", help="the identity's subject (e.g. an email)")]
IssuerArg = Annotated[str, typer.Option("--issuer", help="the identity's OIDC issuer URL")]


@project_app.command("grant")
def project_grant(
    project: ProjectOpt,
    identity: IdentityArg,
    issuer: IssuerArg,
    role: Annotated[str, typer.Option("--role", help="viewer, publisher, policy_writer or admin")],
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Grant a role in a project (and its children)."""
    body = {"issuer": issuer, "subject": identity, "role": role}
    _client(server, token).call("POST", f"/api/v1/projects/{project}/grants", "project grant", body=body)
    output.say(f"granted {role} on {project} to {identity} ({issuer})")


@project_app.command("revoke")
def project_revoke(
    project: ProjectOpt, identity: IdentityArg, issuer: IssuerArg, server: ServerOpt = None, token: TokenOpt = None
) -> None:
    """Remove someone's role in a project (never the last admin)."""
    body = {"issuer": issuer, "subject": identity}
    _client(server, token).call("POST", f"/api/v1/projects/{project}/grants/revoke", "project revoke", body=body)
    output.say(f"revoked {identity} ({issuer}) on {project}")


@project_app.command("remove-identity")
def project_remove_identity(
    identity: IdentityArg, issuer: IssuerArg, server: ServerOpt = None, token: TokenOpt = None
) -> None:
    """Remove every role an identity holds, in every project (server administrators; never a last admin)."""
    body = {"issuer": issuer, "subject": identity}
    doc = _client(server, token).call("POST", "/api/v1/identities/remove", "project remove-identity", body=body)
    output.say(f"removed {doc['removed']} grants of {identity} ({issuer})")


# ---- tokens ---------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    project: ProjectOpt,
    role: Annotated[str, typer.Option("--role", help="at most your own role")],
    expires: Annotated[Optional[str], typer.Option("--expires", help="lifetime, e.g. 30d, 12h")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="a label")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    body: dict[str, Any] = {"role": role}
    if expires:
        body["expires"] = expires
    if name:
        body["name"] = name
    made = _client(server, token).call("POST", f"/api/v1/projects/{project}/tokens", "token create", body=body)
    output.say(made["token"])
    output.warn(f"token {made['id']} ({role} on {project}, expires {_when(made['expires'])}): shown once, store it now")


@token_app.command("list")
def token_list(project: ProjectOpt, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Tokens of a project (admins see every member's)."""
    doc = _client(server, token).call("GET", f"/api/v1/projects/{project}/tokens", "token list")
    if as_json:
        output.emit_json(doc)
        return
    for t in doc["tokens"]:
        state = "revoked" if t["revoked"] else ("expired" if t["expires"] and t["expires"] < time.time() else "active")
        output.say(f"{t['id']}\t{t['name']}\t{t['role']}\t{state}\texpires {_when(t['expires'])}\t{t['owner']}")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="the token's id")],
    project: ProjectOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Revoke an API token."""
    _client(server, token).call("POST", f"/api/v1/projects/{project}/tokens/{token_id}/revoke", "token revoke")
    output.say(f"revoked token {token_id}")


# ---- audit ----------------------------------------------------------------------------


@audit_app.command("list")
def audit_list(
    project: Annotated[Optional[str], typer.Option("--project", "-p")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="unix time, ISO time or e.g. 2h")] = None,
    actor: Annotated[Optional[str], typer.Option("--actor", help="identity (substring)")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Audit rows (a project's for its admins; all for server administrators)."""
    client = _client(server, token)
    params: dict[str, Any] = {k: v for k, v in (("since", _since(since)), ("actor", actor)) if v is not None}
    path = f"/api/v1/projects/{project}/audit" if project else "/api/v1/audit"
    rows = client.pages(path, params)
    if as_json:
        output.emit_json({"rows": rows})
        return
    for r in rows:
        output.say(
            f"{r['seq']}\t{_when(r['time'])}\t{r['actor']}\t{r['project'] or '-'}\t{r['action']}\t{r['result']}\t{r['target']}"
        )


@audit_app.command("verify")
def audit_verify(
    server: ServerOpt = None,
    token: TokenOpt = None,
    state: Annotated[
        Optional[str], typer.Option("--state", help="file remembering the anchors seen (a deleted anchor is caught)")
    ] = None,
    trusted_root: Annotated[
        Optional[str], typer.Option("--trusted-root", help="TrustedRoot naming the log (default: the server's own)")
    ] = None,
) -> None:
    """Walk the whole chain and check every anchored head against the transparency log (exit 1 on a break)."""
    import json as _json
    from pathlib import Path

    from assay.access.audit import walk
    from assay.service.io import write_atomic

    client = _client(server, token)
    rows = client.pages("/api/v1/audit", {})
    anchors = client.call("GET", "/api/v1/audit/anchors", "audit")["anchors"]
    remembered: dict[str, int] = {}
    if state and Path(state).exists():
        doc = _json.loads(Path(state).read_text())
        remembered = (
            {str(k): int(v) for k, v in doc.get("anchors", {}).items()} if doc.get("server") == client.url else {}
        )
    listed = {str(a["log_uuid"]) for a in anchors}
    for uuid, seq in sorted(remembered.items(), key=lambda kv: kv[1]):
        if uuid not in listed:
            # still check it against the log: a rewritten chain shows here even with its anchors deleted
            _check_anchor(client.url, uuid, seq, rows, trusted_root)
            raise VerificationError(
                "audit-anchor-missing",
                f"the anchor of row {seq} (log entry {uuid}) is gone from the server",
                step="audit",
            )
    count, broken = walk(rows, anchors)
    if broken is not None:
        raise VerificationError(broken.reason, broken.message + f" (first broken row: {broken.seq})", step="audit")
    for a in anchors:
        _check_anchor(client.url, str(a["log_uuid"]), int(a["seq"]), rows, trusted_root)
    if state:
        seen = {**remembered, **{str(a["log_uuid"]): int(a["seq"]) for a in anchors}}
        write_atomic(state, _json.dumps({"server": client.url, "anchors": seen}, indent=1).encode())
    output.say(f"audit chain verified: {count} rows, {len(anchors)} heads anchored in the log")


def _check_anchor(url: str, uuid: str, seq: int, rows: list[dict[str, Any]], trusted_root: str | None) -> None:
    """The log entry ``uuid`` verifies and records the chain's head at row ``seq``."""
    from assay.access.anchor import statement_digest
    from assay.service.logops import verify_entry

    try:
        entry = verify_entry(url, uuid=uuid, index=None, trusted_root=trusted_root)
    except (VerificationError, InputError) as exc:
        raise VerificationError(
            "audit-anchor-unproven", f"the log entry anchoring row {seq} does not verify: {exc.message}", step="audit"
        ) from None
    row = next((r for r in rows if int(r["seq"]) == seq), None)
    if row is None:
        raise VerificationError("audit-row-missing", f"row {seq} was anchored in the log but is gone", step="audit")
    logged = entry["body"].get("spec", {}).get("data", {}).get("hash", {}).get("value")
    if logged != statement_digest(seq, bytes.fromhex(row["hash"])):
        raise VerificationError(
            "audit-anchor-mismatch",
            f"row {seq} differs from the head recorded at log index {entry['logIndex']} (first broken row: {seq})",
            step="audit",
        )


@audit_app.command("anchor")
def audit_anchor(server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Record the chain head in the transparency log now (server administrators)."""
    doc = _client(server, token).call("POST", "/api/v1/audit/anchor", "audit anchor")
    output.say(f"anchored row {doc['anchored']}" if doc["anchored"] else "the head was already anchored")


register(root_app)
