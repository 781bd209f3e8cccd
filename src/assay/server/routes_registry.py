"""The registry token service: ``GET /v2/token`` and the OAuth2 form ``POST /v2/token`` (open: each scope is
authorised by the permission table), and each project's push rule (``/registry/push-policy``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from assay.access.errors import AccessError
from assay.errors import InputError
from assay.formats import safejson
from assay.registry import pushpolicy, signing
from assay.registry.service import Caller, Refused, TokenService, split_authorization
from assay.server.auth import Principal, require
from assay.server.config import Settings

router = APIRouter()
MAX_QUERY = 8192
MAX_FORM = 65536
CHALLENGE = 'Basic realm="assay registry token service"'
NAME_REASONS = {"repository-name-invalid": "NAME_INVALID"}


def mount(app: Any, settings: Settings) -> None:
    """Put the token service on the app (the signing key is made on first start)."""
    key = signing.token_key(settings.data_dir, settings.registry_token_alg)
    if settings.registry_token_x5c:
        key = signing.with_x5c(key, settings.data_dir, settings.registry_token_alg)
    fixed = set(settings.registry_services)

    def services() -> set[str]:
        return fixed | signing.configured_services(settings.data_dir)

    app.state.registry_tokens = TokenService(
        app.state.access, key, settings.url, services, app.state.tokens, settings.registry_token_lifetime
    )


def _service(request: Request) -> TokenService:
    return request.app.state.registry_tokens  # type: ignore[no-any-return]


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _refused(refusal: Refused) -> JSONResponse:
    headers = {"WWW-Authenticate": CHALLENGE} if refusal.status == 401 else None
    return JSONResponse(refusal.to_json(), status_code=refusal.status, headers=headers)


def _as_refusal(exc: Exception) -> Refused:
    if isinstance(exc, Refused):
        return exc
    if isinstance(exc, InputError):
        return Refused(400, NAME_REASONS.get(exc.reason, "UNSUPPORTED"), exc.reason, exc.message)
    assert isinstance(exc, AccessError)
    return Refused(exc.status, "DENIED", exc.reason, exc.message)


async def _answer(
    request: Request, service: str | None, scopes: list[str], offline: bool, who: Any, secret: str | None = None
) -> JSONResponse:
    """Authenticate (``who`` gives the caller), decide, mint, audit; or the spec's error JSON (audited)."""
    svc = _service(request)
    address, request_id = _address(request), str(request.scope.get("state", {}).get("request_id", ""))
    caller: Caller | None = None
    try:
        name = svc.check_service(service)
        caller = await who(svc, name)
        assert caller is not None
        found = caller
        answer = await asyncio.to_thread(
            svc.issue, found, name, scopes, address=address, request_id=request_id, offline=offline
        )
    except (Refused, InputError, AccessError) as exc:
        refusal = _as_refusal(exc)
        await asyncio.to_thread(svc.audit_refusal, caller.principal if caller else None, refusal, address, request_id)
        return _refused(refusal)
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


@router.get("/v2/token", tags=["registry"], summary="A registry token for the asked scopes (distribution token auth)")
async def get_token(request: Request) -> JSONResponse:
    if len(request.url.query) > MAX_QUERY:
        return _refused(Refused(400, "UNSUPPORTED", "query-too-large", f"the query is over {MAX_QUERY} bytes"))
    q = request.query_params
    try:
        secret = split_authorization(request.headers.get("authorization"))
    except Refused as refusal:
        return await _answer(request, q.get("service"), [], False, _raise(refusal))
    offline = q.get("offline_token", "").lower() == "true"

    async def who(svc: TokenService, _: str) -> Caller:
        return await svc.caller(secret, _address(request))

    return await _answer(request, q.get("service"), q.getlist("scope"), offline, who)


def _raise(refusal: Refused) -> Any:
    async def who(svc: TokenService, _: str) -> Caller:
        raise refusal

    return who


@router.post("/v2/token", tags=["registry"], summary="OAuth2 form: grant_type=password or refresh_token")
async def post_token(request: Request) -> JSONResponse:
    body = await request.body()
    if len(body) > MAX_FORM:
        return _refused(Refused(400, "UNSUPPORTED", "form-too-large", f"the form is over {MAX_FORM} bytes"))
    try:
        form = {
            k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False).items()
        }
    except (UnicodeDecodeError, ValueError):
        return _refused(Refused(400, "UNSUPPORTED", "form-malformed", "the body is not a urlencoded form"))
    grant_type = form.get("grant_type", "")
    service = form.get("service")
    scopes = [form.get("scope", "")]
    offline = form.get("access_type", "") == "offline"

    async def who(svc: TokenService, name: str) -> Caller:
        if grant_type == "password":
            password = form.get("password")
            if not password:
                raise Refused(400, "UNSUPPORTED", "password-missing", "grant_type=password needs a password")
            return await svc.caller(password, _address(request))
        if grant_type == "refresh_token":
            return await asyncio.to_thread(svc.refreshed, form.get("refresh_token", ""), name)
        raise Refused(400, "UNSUPPORTED", "unsupported-grant-type", "grant_type is password or refresh_token")

    response = await _answer(request, service, scopes, offline, who)
    if response.status_code == 200 and grant_type == "refresh_token":
        doc = json.loads(bytes(response.body))
        doc["refresh_token"] = form.get("refresh_token", "")  # the same refresh token stays usable
        return JSONResponse(doc, headers={"Cache-Control": "no-store"})
    return response


@router.put(
    "/api/v1/projects/{project}/registry/push-policy", tags=["registry"], summary="Set who may push to the registry"
)
async def put_push_policy(
    request: Request, project: str, principal: Principal = Depends(require("project.admin"))
) -> Any:
    try:
        doc = safejson.loads(await request.body(), what="the push policy")
    except InputError as exc:  # too deep, too large, not JSON: one reason for the caller
        raise InputError("bad-push-policy", exc.message) from None
    policy = pushpolicy.parse(doc)
    await asyncio.to_thread(_service(request).set_push_policy, project, policy, principal.actor)
    request.app.state.access.invalidate()
    return policy.to_json()


@router.get(
    "/api/v1/projects/{project}/registry/push-policy", tags=["registry"], summary="Who may push to the registry"
)
async def get_push_policy(
    request: Request, project: str, principal: Principal = Depends(require("project.read"))
) -> Any:
    return (await asyncio.to_thread(_service(request).push_policy, project)).to_json()
