"""The dashboard's browser session: cookies, CSRF, the page dependency and the OIDC login (code + PKCE).

A signed-in browser holds the session secret (the same kind ``POST /api/v1/auth/session`` issues) in the
``assay_ui_session`` cookie: HttpOnly, SameSite=Lax, and Secure unless the server is on a loopback address.
``page("<action>")`` authenticates that cookie and authorises the action through ``access`` exactly as
``auth.require`` does for the API; a page of a project the caller may not read is the same 404
``unknown-project`` page as a missing project. Every form carries a CSRF token (``web.csrf``); a POST without
a valid one is a 403 page naming ``csrf-token-invalid``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from assay import __version__
from assay.access.credentials import Principal
from assay.access.errors import AccessError
from assay.access.gate import Access
from assay.access.permissions import is_write, min_role
from assay.access.projects import check_name
from assay.ca.oidc import TokenError
from assay.errors import InputError
from assay.server.auth import AUDIT_KEY
from assay.web import csrf
from assay.web.render import render

SESSION_COOKIE = "assay_ui_session"
BINDING_COOKIE = "assay_ui_csrf"
LOGIN_COOKIE = "assay_ui_login"
LOGIN_TTL = 600
MAX_FORM = 16 * 1024


class PageError(Exception):
    """A refusal shown as an HTML page: status, stable reason, message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class LoginRequired(Exception):
    """No valid session cookie: the browser is sent to the login page."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in caller of a page, scoped to the page's project when it has one."""

    principal: Principal
    csrf: str

    @property
    def email(self) -> str | None:
        return self.principal.email

    @property
    def subject(self) -> str:
        return self.principal.subject

    @property
    def server_admin(self) -> bool:
        return self.principal.server_admin

    @property
    def role(self) -> str | None:
        return self.principal.role


def dashboard_key(data_dir: Path) -> bytes:
    """The HMAC key for CSRF tokens and login state, made once per data directory (shared by its processes)."""
    path = data_dir / "keys" / "dashboard.key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        try:
            with path.open("xb") as fh:
                path.chmod(0o600)
                fh.write(secrets.token_bytes(32))
        except FileExistsError:
            pass
    return path.read_bytes()


def _key(request: Request) -> bytes:
    return request.app.state.dashboard_key  # type: ignore[no-any-return]


def _access(request: Request) -> Access:
    return request.app.state.access  # type: ignore[no-any-return]


def secure_cookies(url: str) -> bool:
    """Cookies are Secure unless the server is reached over loopback (plain http in development)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return True


def binding(request: Request) -> str:
    """This browser's CSRF binding: its cookie, or a fresh value set on the response by :func:`html`."""
    value = request.cookies.get(BINDING_COOKIE)
    if not value or len(value) > 100:
        value = request.scope.setdefault("state", {}).get("ui_binding") or csrf.new_binding()
        request.scope["state"]["ui_binding"] = value
        request.scope["state"]["ui_binding_new"] = True
    return value


def csrf_token(request: Request) -> str:
    """The token every form of this page carries."""
    return csrf.token(_key(request), binding(request))


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    secure = secure_cookies(request.app.state.settings.url)
    response.set_cookie(name, value, max_age=max_age, path="/ui", httponly=True, samesite="lax", secure=secure)


def finish(request: Request, response: Response) -> Response:
    """Set the binding cookie when this request made a new one."""
    state = request.scope.get("state", {})
    if state.get("ui_binding_new"):
        _set_cookie(request, response, BINDING_COOKIE, state["ui_binding"], 30 * 86400)
    return response


def html(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """A rendered page with the common context (user, CSRF token, version)."""
    viewer: Viewer | None = context.pop("viewer", None)
    context.setdefault("crumbs", [])
    context.setdefault("section", "")
    page = render(template, user=viewer, csrf=csrf_token(request), version=__version__, **context)
    response = HTMLResponse(page, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' http: https:; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return finish(request, response)


def error_page(request: Request, exc: PageError, viewer: Viewer | None = None) -> Response:
    """The page for a refusal: the status, and the reason shown on the page and in a header."""
    response = html(
        request,
        "error.html",
        exc.status,
        viewer=viewer or request.scope.get("state", {}).get("ui_viewer"),
        title={401: "Sign in needed", 403: "Not allowed", 404: "Not found"}.get(exc.status, "Cannot show this page"),
        status_code=exc.status,
        reason=exc.reason,
        message=exc.message,
    )
    response.headers["X-Assay-Reason"] = exc.reason
    return response


def _record(request: Request, action: str, project: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"action": action, "project": project, "principal": None}
    request.scope.setdefault("state", {})[AUDIT_KEY] = record
    return record


def _principal(request: Request) -> Principal:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired()
    address = request.client.host if request.client else ""
    try:
        return _access(request).authenticate(cookie, address)
    except AccessError as exc:
        if exc.status == 401:
            raise LoginRequired() from None
        raise PageError(exc.status, exc.reason, exc.message) from None


def page(action: str) -> Callable[[Request], Viewer]:
    """A FastAPI dependency: the signed-in viewer, authorised for ``action`` (on the path's project if any)."""
    min_role(action)  # an unknown action fails at import time

    def dependency(request: Request) -> Viewer:
        project = request.path_params.get("project")
        if project is not None:
            try:
                check_name(project)  # before anything is recorded: a NUL must never reach the database
            except InputError as exc:
                raise PageError(400, exc.reason, exc.message) from None
        record = _record(request, action, project)
        principal = _principal(request)
        record["principal"] = principal
        viewer = Viewer(principal, csrf_token(request))
        request.scope["state"]["ui_viewer"] = viewer
        try:
            if is_write(action):  # a form that writes is rate-limited as the API's writes are
                _access(request).limit_write(principal, request.client.host if request.client else "")
            principal = _access(request).authorize(principal, action, project)
        except AccessError as exc:
            raise PageError(exc.status, exc.reason, exc.message) from None
        record["principal"] = principal
        viewer = Viewer(principal, viewer.csrf)
        request.scope["state"]["ui_viewer"] = viewer
        return viewer

    dependency.assay_page_action = action  # type: ignore[attr-defined]
    return dependency


async def form(request: Request) -> dict[str, str]:
    """A POSTed urlencoded form, after its CSRF token was checked (403 ``csrf-token-invalid`` otherwise)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        raise PageError(413, "form-too-large", "the form is larger than the dashboard accepts")
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    if not csrf.valid(_key(request), request.cookies.get(BINDING_COOKIE), fields.get("csrf")):
        raise PageError(403, csrf.REASON, "the form's CSRF token is missing or does not match this browser")
    return fields


def safe_next(value: str | None) -> str:
    """A local dashboard path to return to after login (anything else: the projects page)."""
    if value and value.startswith("/ui/") and not value.startswith("/ui//") and "\\" not in value:
        return value
    return "/ui/projects"


# ---- login: authorization code + PKCE against an issuer the server accepts ---------------------


def issuers(request: Request) -> list[tuple[str, str]]:
    """(URL, label) of the identity providers offered on the login page."""
    settings = request.app.state.settings
    out: list[tuple[str, str]] = []
    if settings.dev:
        out.append((settings.dev_issuer, "Development issuer (--dev)"))
    static: frozenset[str] = getattr(request.app.state, "static_issuers", frozenset())  # --oidc-jwks issuers
    for url in request.app.state.tokens.issuers:
        if (
            url not in static
            and not url.startswith(settings.url.rstrip("/") + "/dev/oidc")
            and all(url != u for u, _ in out)
        ):
            out.append((url, "OIDC issuer"))
    return out


def redirect_uri(request: Request) -> str:
    return str(request.app.state.settings.url).rstrip("/") + "/ui/callback"


async def start_login(request: Request, fields: dict[str, str]) -> Response:
    """Send the browser to the chosen issuer's authorization endpoint, with the PKCE state in a signed cookie."""
    issuer = fields.get("issuer", "")
    if issuer not in {u for u, _ in issuers(request)}:
        raise PageError(400, "unknown-issuer", "choose one of the identity providers listed on the login page")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            disc = (await client.get(issuer.rstrip("/") + "/.well-known/openid-configuration")).json()
    except (httpx.HTTPError, ValueError):
        raise PageError(502, "oidc-discovery-failed", f"{issuer} gave no discovery document") from None
    if not isinstance(disc, dict) or "authorization_endpoint" not in disc:
        raise PageError(400, "login-flow-unsupported", f"{issuer} offers no authorization endpoint")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    token_endpoint = str(disc.get("oauth_token_endpoint") or disc.get("token_endpoint") or "")
    pending = {
        "state": state,
        "verifier": verifier,
        "issuer": issuer,
        "token": token_endpoint,
        "next": safe_next(fields.get("next")),
        "expires": int(time.time()) + LOGIN_TTL,
    }
    query = urlencode(
        {
            "response_type": "code",
            "client_id": request.app.state.settings.audience,
            "redirect_uri": redirect_uri(request),
            "scope": "openid email",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(str(disc["authorization_endpoint"]) + "?" + query, status_code=303)
    value = base64.urlsafe_b64encode(json.dumps(pending).encode()).decode()
    _set_cookie(request, response, LOGIN_COOKIE, csrf.sign(_key(request), value), LOGIN_TTL)
    return finish(request, response)


def _pending(request: Request, state: str) -> dict[str, Any]:
    value = csrf.unsign(_key(request), request.cookies.get(LOGIN_COOKIE))
    try:
        pending = json.loads(base64.urlsafe_b64decode(value or "")) if value else None
    except ValueError:
        pending = None
    if (
        not isinstance(pending, dict)
        or not secrets.compare_digest(str(pending.get("state", "")), state)
        or int(pending.get("expires", 0)) < time.time()
    ):
        raise PageError(400, "login-state-invalid", "this sign-in was not started here or has expired; sign in again")
    return pending


async def finish_login(request: Request, code: str, state: str) -> Response:
    """Exchange the code, verify the ID token, open a session and set its cookie."""
    access = _access(request)
    record = _record(request, "session.create", None)
    pending = _pending(request, state)
    try:
        access.limit_login(request.client.host if request.client else "")
    except AccessError as exc:
        raise PageError(exc.status, exc.reason, exc.message) from None
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(
                pending["token"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri(request),
                    "code_verifier": pending["verifier"],
                    "client_id": request.app.state.settings.audience,
                },
            )
        id_token = str(answer.json()["id_token"]) if answer.status_code == 200 else ""
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        id_token = ""
    if not id_token:
        raise PageError(401, "login-failed", "the identity provider did not exchange the code for an ID token")
    try:
        issuer, claims = await request.app.state.tokens.verify(id_token)
    except TokenError as exc:
        raise PageError(401, exc.reason, exc.message) from None
    subject = str(claims.get("sub") or "")
    if not subject:
        raise PageError(401, "oidc-missing-claims", "the identity token has no subject")
    email = str(claims["email"]) if claims.get("email") and claims.get("email_verified") is True else None
    session = access.credentials.open_session(issuer.url, subject, email)
    record["principal"] = Principal(issuer.url, subject, email, "session", session["id"])
    request.state.audit_target = f"session {session['id']} (dashboard)"
    response = RedirectResponse(pending["next"], status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, session["session"], max(60, int(session["expires"] - time.time())))
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return finish(request, response)


def logout(request: Request) -> Response:
    """Close the cookie's session (if it is one) and forget the cookie."""
    record = _record(request, "session.delete", None)
    try:
        principal = _principal(request)
    except (LoginRequired, PageError):
        principal = None
    if principal is not None and principal.kind == "session":
        record["principal"] = principal
        _access(request).credentials.close_session(principal.credential_id)
        request.state.audit_target = f"session {principal.credential_id} (dashboard)"
    else:
        request.scope["state"].pop(AUDIT_KEY, None)  # nothing was closed: nothing to audit
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return finish(request, response)
