"""Projects, grants, API tokens, sessions and the audit log over HTTP (all guarded by ``auth.require``)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from assay.access.anchor import anchor_now
from assay.access.credentials import Principal, parse_duration
from assay.access.errors import AccessError
from assay.access.gate import Access
from assay.access.permissions import PERMISSIONS, RANK, ROLES, check_visibility, public_read
from assay.access.projects import Actor, Project
from assay.ca.oidc import TokenError
from assay.errors import InputError
from assay.formats.safejson import load_object
from assay.server import params
from assay.server.auth import AUDIT_KEY, require, route_actions
from assay.server.routes_ui import page_actions

router = APIRouter()
MAX_BODY = 64 * 1024


def _access(request: Request) -> Access:
    return request.app.state.access  # type: ignore[no-any-return]


async def _body(request: Request) -> dict[str, Any]:
    return load_object(await request.body(), what="request", max_bytes=MAX_BODY)


MAX_FIELD = 2048


def _str(doc: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InputError("malformed-field", f"{key}: expected a non-empty string")
    if len(value) > MAX_FIELD or not value.isprintable():  # PostgreSQL refuses NUL in text: it was a 500
        raise InputError("malformed-field", f"{key}: at most {MAX_FIELD} printable characters")
    return value


def _target(request: Request, text: str) -> None:
    request.state.audit_target = text


def _project_json(access: Access, p: Project) -> dict[str, Any]:
    return {
        "name": p.name,
        "parent": access.projects.parent_name(p),
        "created": p.created,
        "createdBy": p.created_by,
        "visibility": p.visibility,
    }


# ---- public ---------------------------------------------------------------------------


@router.get("/api/v1/access/permissions", tags=["access"], summary="The roles, THE permission table and the routes")
def permissions(request: Request) -> dict[str, Any]:
    return {
        "roles": list(ROLES),
        "permissions": {a: {"role": r, "write": w, "public": public_read(a)} for a, (r, w) in PERMISSIONS.items()},
        "routes": route_actions(request.app),
        "pages": page_actions(request.app),
        "logWrite": "require-token" if request.app.state.settings.log_write == "require-token" else "open",
    }


@router.get("/api/v1/auth/config", tags=["access"], summary="Issuers accepted for login")
def auth_config(request: Request) -> dict[str, Any]:
    issuers = list(request.app.state.tokens.issuers)
    dev = request.app.state.settings.url.rstrip("/") + "/dev/oidc" if request.app.state.settings.dev else None
    return {"issuers": issuers, "devIssuer": dev, "clientId": "assay-cli"}


@router.post("/api/v1/auth/session", tags=["access"], summary="Exchange an OIDC identity token for a session")
async def create_session(request: Request) -> dict[str, Any]:
    access = _access(request)
    record: dict[str, Any] = {"action": "session.create", "project": None, "principal": None}
    request.scope.setdefault("state", {})[AUDIT_KEY] = record
    access.limit_login(request.client.host if request.client else "")
    doc = await _body(request)
    token = _str(doc, "identityToken")
    try:
        issuer, claims = await request.app.state.tokens.verify(token)
    except TokenError as exc:
        raise AccessError(401, exc.reason, exc.message) from None
    subject = str(claims.get("sub") or "")
    if not subject:
        raise AccessError(401, "oidc-missing-claims", "the identity token has no subject")
    email = str(claims["email"]) if claims.get("email") and claims.get("email_verified") is True else None
    session = access.credentials.open_session(issuer.url, subject, email)
    record["principal"] = Principal(issuer.url, subject, email, "session", session["id"])
    _target(request, f"session {session['id']}")
    return {**session, "email": email, "serverAdmin": (issuer.url, subject) in access.server_admins}


@router.delete("/api/v1/auth/session", tags=["access"], summary="Log out: close this session")
def delete_session(request: Request, who: Annotated[Principal, Depends(require("session.delete"))]) -> dict[str, Any]:
    if who.kind != "session":
        raise InputError("not-a-session", "log out closes sessions; revoke API tokens with token revoke")
    _access(request).credentials.close_session(who.credential_id)
    _target(request, f"session {who.credential_id}")
    return {"closed": who.credential_id}


@router.get("/api/v1/auth/whoami", tags=["access"], summary="The calling identity")
def whoami(who: Annotated[Principal, Depends(require("session.read"))]) -> dict[str, Any]:
    return {
        "issuer": who.issuer,
        "subject": who.subject,
        "email": who.email,
        "kind": who.kind,
        "credential": who.credential_id,
        "serverAdmin": who.server_admin,
    }


# ---- projects -------------------------------------------------------------------------


@router.get("/api/v1/projects", tags=["access"], summary="Projects visible to the caller")
def list_projects(request: Request, who: Annotated[Principal, Depends(require("project.list"))]) -> dict[str, Any]:
    access = _access(request)
    if who.kind == "token":
        rows = [p for p in access.projects.visible(None) if _visible_to_token(access, who, p.name)]
    else:
        rows = access.projects.visible(None if who.server_admin else (who.issuer, who.subject))
    return {"projects": [_project_json(access, p) for p in rows]}


def _visible_to_token(access: Access, who: Principal, name: str) -> bool:
    try:
        return access.credentials.role_in(who, name) is not None
    except AccessError:
        return False


async def _create(request: Request, who: Principal, parent: str | None) -> dict[str, Any]:
    access = _access(request)
    doc = await _body(request)
    name = _str(doc, "name")
    assert name is not None
    visibility = check_visibility(doc.get("visibility", "members"))
    _target(request, f"project {name} {visibility}" + (f" (child of {parent})" if parent else ""))
    request.state.audit_project = name
    return _project_json(access, access.projects.create(name, parent, (who.issuer, who.subject), visibility))


@router.post("/api/v1/projects", status_code=201, tags=["access"], summary="Create a top-level project")
async def create_project(
    request: Request, who: Annotated[Principal, Depends(require("project.create"))]
) -> dict[str, Any]:
    return await _create(request, who, None)


@router.post("/api/v1/projects/{project}/children", status_code=201, tags=["access"], summary="Create a child project")
async def create_child(
    request: Request, project: str, who: Annotated[Principal, Depends(require("project.create_child"))]
) -> dict[str, Any]:
    return await _create(request, who, project)


@router.get("/api/v1/projects/{project}", tags=["access"], summary="One project and the caller's role in it")
def show_project(
    request: Request, project: str, who: Annotated[Principal, Depends(require("project.read"))]
) -> dict[str, Any]:
    access = _access(request)
    return {**_project_json(access, access.projects.get(project)), "role": who.role}


@router.put("/api/v1/projects/{project}/visibility", tags=["access"], summary="Make a project public or members-only")
async def set_visibility(
    request: Request, project: str, who: Annotated[Principal, Depends(require("project.admin"))]
) -> dict[str, Any]:
    visibility = check_visibility((await _body(request)).get("visibility"))
    _target(request, f"project {project} visibility {visibility}")
    access = _access(request)
    return _project_json(access, access.projects.set_visibility(project, visibility))


@router.delete("/api/v1/projects/{project}", tags=["access"], summary="Delete a project (soft: history is kept)")
def delete_project(
    request: Request, project: str, who: Annotated[Principal, Depends(require("project.delete"))]
) -> dict[str, Any]:
    _target(request, f"project {project}")
    _access(request).projects.delete(project)
    return {"deleted": project}


# ---- grants ---------------------------------------------------------------------------


def _actor(request: Request, who: Principal) -> Actor:
    """The caller as the grant operations re-check it inside their transaction (capped by its role now)."""
    server_admin = (who.issuer, who.subject) in _access(request).server_admins
    return Actor(who.issuer, who.subject, who.actor, server_admin, who.role)


@router.get("/api/v1/projects/{project}/grants", tags=["access"], summary="The project's own role grants")
def list_grants(
    request: Request, project: str, who: Annotated[Principal, Depends(require("member.read"))]
) -> dict[str, Any]:
    return {"project": project, "grants": _access(request).projects.grants(project)}


@router.post("/api/v1/projects/{project}/grants", status_code=201, tags=["access"], summary="Grant a role")
async def grant(
    request: Request, project: str, who: Annotated[Principal, Depends(require("member.write"))]
) -> dict[str, Any]:
    doc = await _body(request)
    issuer, subject, role = _str(doc, "issuer"), _str(doc, "subject"), _str(doc, "role")
    assert issuer and subject and role
    _target(request, f"grant {role} to {subject} ({issuer})")
    _access(request).projects.grant(project, issuer, subject, role, _actor(request, who))
    return {"project": project, "issuer": issuer, "subject": subject, "role": role}


@router.post("/api/v1/projects/{project}/grants/revoke", tags=["access"], summary="Revoke a role grant")
async def revoke(
    request: Request, project: str, who: Annotated[Principal, Depends(require("member.write"))]
) -> dict[str, Any]:
    doc = await _body(request)
    issuer, subject = _str(doc, "issuer"), _str(doc, "subject")
    assert issuer and subject
    _target(request, f"revoke {subject} ({issuer})")
    _access(request).projects.revoke(project, issuer, subject, _actor(request, who))
    return {"project": project, "issuer": issuer, "subject": subject, "revoked": True}


@router.post("/api/v1/identities/remove", tags=["access"], summary="Remove every role grant of an identity")
async def remove_identity(
    request: Request, who: Annotated[Principal, Depends(require("identity.remove"))]
) -> dict[str, Any]:
    doc = await _body(request)
    issuer, subject = _str(doc, "issuer"), _str(doc, "subject")
    assert issuer and subject
    _target(request, f"remove identity {subject} ({issuer})")
    removed = _access(request).projects.remove_identity(issuer, subject)
    return {"issuer": issuer, "subject": subject, "removed": removed}


# ---- tokens ---------------------------------------------------------------------------


@router.post("/api/v1/projects/{project}/tokens", status_code=201, tags=["access"], summary="Create an API token")
async def create_token(
    request: Request, project: str, who: Annotated[Principal, Depends(require("token.create"))]
) -> dict[str, Any]:
    doc = await _body(request)
    role = _str(doc, "role")
    assert role
    expires = _str(doc, "expires", required=False)
    name = _str(doc, "name", required=False) or ""
    _target(request, f"token {name or '(unnamed)'} role {role}")
    made = _access(request).credentials.create_token(
        who, project, role, parse_duration(expires) if expires else None, name
    )
    _target(request, f"token {made['id']} role {role}")
    return made


@router.get(
    "/api/v1/projects/{project}/tokens", tags=["access"], summary="API tokens (admins see all, others their own)"
)
def list_tokens(
    request: Request, project: str, who: Annotated[Principal, Depends(require("token.read"))]
) -> dict[str, Any]:
    is_admin = who.role is not None and RANK[who.role] >= RANK["admin"]
    owner = None if is_admin else (who.issuer, who.subject)
    return {"project": project, "tokens": _access(request).credentials.list_tokens(project, owner)}


@router.post("/api/v1/projects/{project}/tokens/{token_id}/revoke", tags=["access"], summary="Revoke an API token")
def revoke_token(
    request: Request, project: str, token_id: str, who: Annotated[Principal, Depends(require("token.revoke"))]
) -> dict[str, Any]:
    if len(token_id) > 128 or not token_id.isprintable():
        raise InputError("malformed-field", "token id: at most 128 printable characters")
    _target(request, f"token {token_id}")
    is_admin = who.role is not None and RANK[who.role] >= RANK["admin"]
    _access(request).credentials.revoke_token(project, token_id, who, is_admin)
    return {"revoked": token_id}


# ---- audit ----------------------------------------------------------------------------

AUDIT_PAGE_MAX = 10000
Since = Annotated[str | None, Query(description="unix time")]
After = Annotated[str | None, Query(description="the last sequence number already read (default 0)")]
Limit = Annotated[str | None, Query(description=f"rows per page, 1 to {AUDIT_PAGE_MAX} (default 1000)")]


def _audit_page(since: str | None, after: str | None, limit: str | None) -> dict[str, Any]:
    """The audit query's numbers, each through the one strict parser (400 ``invalid-parameter``)."""
    return {
        "since": params.optional(since, "since"),
        "after": params.number(after, "after", 0),
        "limit": params.number(limit, "limit", 1000, minimum=1, maximum=AUDIT_PAGE_MAX),
    }


@router.get("/api/v1/projects/{project}/audit", tags=["audit"], summary="The project's audit rows")
def project_audit(
    request: Request,
    project: str,
    who: Annotated[Principal, Depends(require("audit.read"))],
    since: Since = None,
    actor: str | None = None,
    after: After = None,
    limit: Limit = None,
) -> dict[str, Any]:
    rows = _access(request).audit.rows(
        project=project, actor=params.text(actor, "actor"), **_audit_page(since, after, limit)
    )
    return {"rows": rows}


@router.get("/api/v1/audit", tags=["audit"], summary="The whole audit chain (server administrators)")
def audit_rows(
    request: Request,
    who: Annotated[Principal, Depends(require("audit.read_all"))],
    project: str | None = None,
    since: Since = None,
    actor: str | None = None,
    after: After = None,
    limit: Limit = None,
) -> dict[str, Any]:
    rows = _access(request).audit.rows(
        project=params.text(project, "project"), actor=params.text(actor, "actor"), **_audit_page(since, after, limit)
    )
    return {"rows": rows}


@router.get("/api/v1/audit/anchors", tags=["audit"], summary="Chain heads recorded in the transparency log")
def audit_anchors(request: Request, who: Annotated[Principal, Depends(require("audit.read_all"))]) -> dict[str, Any]:
    return {"anchors": _access(request).audit.anchors(), "now": int(time.time())}


@router.post("/api/v1/audit/anchor", tags=["audit"], summary="Record the chain head in the log now")
def audit_anchor(request: Request, who: Annotated[Principal, Depends(require("audit.anchor"))]) -> dict[str, Any]:
    access = _access(request)
    seq = anchor_now(access.engine, access.audit, request.app.state.audit_append)
    return {"anchored": seq}
