"""(--dev only) Interactive login at the dev OIDC issuer: OAuth 2.0 device authorization and code + PKCE.

A minimal HTML page asks for an email address and vouches for it, so ``assay login`` can be
exercised end to end without an external identity provider. Pending grants live in memory.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

router = APIRouter()
LIFETIME = 600
_lock = threading.Lock()
_devices: dict[str, dict[str, Any]] = {}  # device_code -> {user_code, email, expires}
_codes: dict[str, dict[str, Any]] = {}  # authorization code -> {email, challenge, redirect_uri, expires}
MAX_PENDING = 10_000


def _issuer(request: Request) -> str:
    return request.app.state.settings.dev_issuer  # type: ignore[no-any-return]


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body())[:16384].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _id_token(request: Request, email: str) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": _issuer(request),
        "aud": request.app.state.settings.audience,
        "sub": email,
        "email": email,
        "email_verified": True,
        "iat": now,
        "nbf": now,
        "exp": now + LIFETIME,
    }
    state = request.app.state
    token = jwt.encode(claims, state.dev_key.private_key, algorithm="ES256", headers={"kid": state.dev_kid})
    return {"id_token": token, "access_token": token, "token_type": "Bearer", "expires_in": LIFETIME}


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:32em;margin:3em auto'><h1>{html.escape(title)}</h1>"
        f"<p><strong>Development issuer</strong>: it vouches for any address typed here.</p>{body}</body></html>"
    )


def _email_field() -> str:
    return "<label>Email <input name='email' type='email' value='admin@example.com' required></label> "


def _valid_email(email: str) -> bool:
    return 3 <= len(email) <= 254 and "@" in email and not any(c.isspace() for c in email)


def _sweep(now: float) -> None:
    for table in (_devices, _codes):
        for key in [k for k, v in table.items() if v["expires"] < now]:
            del table[key]


# ---- device authorization (RFC 8628) --------------------------------------------------


@router.post("/dev/oidc/device/code", include_in_schema=False)
async def device_code(request: Request) -> JSONResponse:
    device = secrets.token_urlsafe(32)
    user = "-".join(secrets.token_hex(2).upper() for _ in range(2))
    now = time.time()
    with _lock:
        _sweep(now)
        if len(_devices) >= MAX_PENDING:
            return _oauth_error("slow_down", "too many pending device grants", 429)
        _devices[device] = {"user_code": user, "email": None, "expires": now + LIFETIME}
    verify = _issuer(request) + "/device"
    return JSONResponse(
        {
            "device_code": device,
            "user_code": user,
            "verification_uri": verify,
            "verification_uri_complete": verify + "?" + urlencode({"user_code": user}),
            "expires_in": LIFETIME,
            "interval": 1,
        }
    )


@router.get("/dev/oidc/device", include_in_schema=False)
def device_page(user_code: str = "") -> HTMLResponse:
    return _page(
        "Sign in to assay (device)",
        "<form method='post'>"
        f"<label>Code <input name='user_code' value='{html.escape(user_code)}' required></label><br>"
        + _email_field()
        + "<button type='submit'>Approve</button></form>",
    )


@router.post("/dev/oidc/device", include_in_schema=False)
async def device_approve(request: Request) -> HTMLResponse:
    form = await _form(request)
    code, email = form.get("user_code", "").strip().upper(), form.get("email", "").strip()
    if not _valid_email(email):
        return HTMLResponse(_page("Not approved", "<p>That is not an email address.</p>").body, status_code=400)
    with _lock:
        match = next((v for v in _devices.values() if v["user_code"] == code and v["expires"] > time.time()), None)
        if match is not None:
            match["email"] = email
    if match is None:
        return HTMLResponse(_page("Not approved", "<p>Unknown or expired code.</p>").body, status_code=400)
    return _page("Approved", f"<p>Signed in as {html.escape(email)}. You can close this window.</p>")


# ---- authorization code + PKCE (RFC 7636) ---------------------------------------------


def _loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


@router.get("/dev/oidc/authorize", include_in_schema=False)
def authorize_page(
    response_type: str = "",
    client_id: str = "",
    redirect_uri: str = "",
    state: str = "",
    code_challenge: str = "",
    code_challenge_method: str = "",
) -> HTMLResponse:
    if response_type != "code" or code_challenge_method != "S256" or len(code_challenge) != 43:
        return HTMLResponse(
            _page("Bad request", "<p>Use response_type=code with an S256 PKCE challenge.</p>").body, 400
        )
    if not _loopback(redirect_uri):
        return HTMLResponse(_page("Bad request", "<p>redirect_uri must be a loopback http URL.</p>").body, 400)
    hidden = "".join(
        f"<input type='hidden' name='{k}' value='{html.escape(v)}'>"
        for k, v in (("redirect_uri", redirect_uri), ("state", state), ("code_challenge", code_challenge))
    )
    return _page(
        "Sign in to assay",
        f"<form method='post'>{hidden}" + _email_field() + "<button type='submit'>Sign in</button></form>",
    )


@router.post("/dev/oidc/authorize", include_in_schema=False)
async def authorize_submit(request: Request) -> Any:
    form = await _form(request)
    redirect_uri, email = form.get("redirect_uri", ""), form.get("email", "").strip()
    if not _loopback(redirect_uri) or not _valid_email(email) or len(form.get("code_challenge", "")) != 43:
        return HTMLResponse(_page("Bad request", "<p>Missing or invalid fields.</p>").body, status_code=400)
    code = secrets.token_urlsafe(32)
    with _lock:
        _sweep(time.time())
        if len(_codes) >= MAX_PENDING:
            return HTMLResponse(_page("Busy", "<p>Too many pending sign-ins.</p>").body, status_code=429)
        _codes[code] = {
            "email": email,
            "challenge": form["code_challenge"],
            "redirect_uri": redirect_uri,
            "expires": time.time() + 120,
        }
    sep = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + sep + urlencode({"code": code, "state": form.get("state", "")}), 302)


# ---- the token endpoint for both grants -----------------------------------------------


@router.post("/dev/oidc/oauth-token", include_in_schema=False)
async def oauth_token(request: Request) -> JSONResponse:
    form = await _form(request)
    grant = form.get("grant_type", "")
    now = time.time()
    if grant == "urn:ietf:params:oauth:grant-type:device_code":
        with _lock:
            pending = _devices.get(form.get("device_code", ""))
            if pending is None or pending["expires"] < now:
                return _oauth_error("expired_token", "unknown or expired device code")
            if pending["email"] is None:
                return _oauth_error("authorization_pending", "waiting for the user to approve")
            del _devices[form["device_code"]]
        return JSONResponse(_id_token(request, pending["email"]))
    if grant == "authorization_code":
        with _lock:
            issued = _codes.pop(form.get("code", ""), None)
        if issued is None or issued["expires"] < now:
            return _oauth_error("invalid_grant", "unknown, used or expired code")
        if form.get("redirect_uri") != issued["redirect_uri"]:
            return _oauth_error("invalid_grant", "redirect_uri differs from the authorization request")
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(digest, issued["challenge"]):
            return _oauth_error("invalid_grant", "PKCE verification failed")
        return JSONResponse(_id_token(request, issued["email"]))
    return _oauth_error("unsupported_grant_type", f"grant type {grant!r} is not supported")
