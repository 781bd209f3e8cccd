"""The key broker: create KEKs, write signed decryption policies, unwrap (policy-gated, logged), re-wrap, list
releases. Mounted by :func:`mount`; every route is guarded by a ``broker.*`` row of the permission table."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import jwt
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from assay.broker import service, signed
from assay.errors import AssayError, InputError
from assay.formats import safejson
from assay.server.auth import Principal, require
from assay.server.names import check_name, check_project

router = APIRouter()
TOKEN_SKEW = 60


def _engine(request: Request) -> Any:
    return request.app.state.evidence.engine


def _names(project: str, name: str) -> None:
    check_project(project)
    check_name(name, "key name")


def _refused(exc: AssayError) -> JSONResponse:
    body = {"code": 403, "reason": exc.reason, "message": exc.message}
    if isinstance(exc, service.Refused) and exc.rules:
        body["failedRules"] = list(exc.rules)
    return JSONResponse(body, status_code=403)


async def _call(fn: Any, *args: Any) -> Any:
    """``fn`` in a worker thread; a missing key is 404 ``broker-key-not-found``."""
    try:
        return await asyncio.to_thread(fn, *args)
    except LookupError as exc:
        return JSONResponse({"code": 404, "reason": "broker-key-not-found", "message": str(exc)}, status_code=404)


@router.get("/api/v1/projects/{project}/keys", tags=["broker"], summary="The project's key-encryption keys")
async def list_keys(request: Request, project: str, principal: Principal = Depends(require("broker.read"))) -> Any:
    check_project(project)
    return {"keys": await asyncio.to_thread(service.list_keys, _engine(request), project)}


@router.post("/api/v1/projects/{project}/keys/{name}", tags=["broker"], summary="Create a key-encryption key version")
async def create_key(
    request: Request, project: str, name: str, principal: Principal = Depends(require("broker.admin"))
) -> JSONResponse:
    """Body (optional): ``{"kek": "file" | "pkcs11:…" | "awskms:…"}``, where the private part is made and kept."""
    _names(project, name)
    raw = await request.body()
    spec = "file"
    if raw.strip():
        doc = safejson.load_object(raw, what="key request")
        spec = doc.get("kek", "file")
        if not isinstance(spec, str) or set(doc) - {"kek"}:
            raise InputError("bad-kek", 'the body is {"kek": "file" | "pkcs11:…" | "awskms:…"}')
    key_dir = request.app.state.settings.data_dir / "broker-keys"
    key = await asyncio.to_thread(service.create_key, _engine(request), key_dir, project, name, principal.actor, spec)
    return JSONResponse(key.to_json(), status_code=201)


@router.get("/api/v1/projects/{project}/keys/{name}", tags=["broker"], summary="A key's recipient (public part)")
async def get_key(
    request: Request, project: str, name: str, principal: Principal = Depends(require("broker.read"))
) -> Any:
    _names(project, name)
    versions = await _call(service.keys, _engine(request), project, name)
    if isinstance(versions, JSONResponse):
        return versions
    return {**versions[0].to_json(), "versions": [k.version for k in versions]}


@router.put(
    "/api/v1/projects/{project}/keys/{name}/policy", tags=["broker"], summary="Write a new decryption-policy version"
)
async def put_policy(
    request: Request, project: str, name: str, principal: Principal = Depends(require("broker.policy"))
) -> Any:
    _names(project, name)
    body = await request.body()
    append = request.app.state.audit_append
    trust = await asyncio.to_thread(request.app.state.evidence.trust, project)
    access = request.app.state.access

    def role_of(issuer: str, subject: str) -> str | None:
        from assay.access.projects import ancestry, granted_role

        if (issuer, subject) in access.server_admins:
            return "admin"
        with access.engine.connect() as conn:
            ids = [i for i, _ in ancestry(conn, project)]
            return granted_role(conn, ids, issuer, subject) if ids else None

    def put() -> Any:
        doc = signed.verify(body, project, name, trust, role_of)
        return service.put_policy(_engine(request), project, name, doc, body, principal.actor, append)

    return await _call(put)


@router.get("/api/v1/projects/{project}/keys/{name}/policy", tags=["broker"], summary="The current decryption policy")
async def get_policy(
    request: Request, project: str, name: str, principal: Principal = Depends(require("broker.read"))
) -> Any:
    _names(project, name)
    current = await asyncio.to_thread(service.current_policy, _engine(request), project, name)
    if current is None:
        raise LookupError(f"key {project}/{name} has no decryption policy")
    return JSONResponse({"version": current[0], "document": current[1].decode()})


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError("evidence-invalid", f"the workload token's {name} claim is not a number")
    return float(value)


def _decode(tokens: Any, token: str, found: Any) -> dict[str, Any]:
    """Signature, iss (when the token names one), exp, nbf, and the claims every workload token must have.

    ``aud`` must be present and non-empty (the policy's rule says which audience it must include). ``iat`` is
    required except from a SPIFFE trust domain: the JWT-SVID format requires only ``aud`` and ``exp``, so an SVID
    without ``iat`` is accepted and one with it has it checked like any other token's."""
    svid = found.iss.startswith("spiffe://")
    need = ["exp", "sub", "aud", *(["iss"] if found.claimed else []), *([] if svid else ["iat"])]
    key = tokens._key(found.iss, found.kid, found.alg, found.jwk)  # the CA's verifier, minus its own audience
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key=key, algorithms=[found.alg], issuer=found.iss if found.claimed else None,
            leeway=TOKEN_SKEW, options={"verify_aud": False, "require": need},
        )  # fmt: skip
    except jwt.ExpiredSignatureError:
        raise InputError("evidence-expired", "the workload token has expired") from None
    except jwt.PyJWTError as exc:
        raise InputError("evidence-invalid", f"the workload token does not verify: {exc}") from None
    aud = claims["aud"]
    auds = aud if isinstance(aud, list) else [aud]
    if not auds or not all(isinstance(a, str) and a for a in auds):
        raise InputError("evidence-invalid", "the workload token's aud is not one or more audience strings")
    if not isinstance(claims["sub"], str):
        raise InputError("evidence-invalid", "the workload token's sub claim is not a string")
    return claims if found.claimed else {**claims, "iss": found.iss}  # an iss-less SVID: its trust domain


async def _verify_token(request: Request, token: str) -> dict[str, Any]:
    """The claims of a workload token from an issuer the server trusts (signature, iss, exp; aud is the policy's).

    An iss-less JWT-SVID comes back with ``iss`` set to its trust domain (``spiffe://TD``), as policies name it."""
    tokens = request.app.state.tokens
    if not token:
        raise InputError("evidence-missing", "the request carries no evidence.token")
    claims: dict[str, Any] | None = tokens.remembered(token)  # verified before with the issuer's current key
    if claims is None:
        found = await tokens.resolve(token)
        claims = _decode(tokens, token, found)
        tokens.remember(token, found, claims)
    now = time.time()  # on every use: a remembered token expires as a fresh one does
    exp, iat, nbf = _number(claims, "exp"), _number(claims, "iat"), _number(claims, "nbf")
    if exp is None or exp <= now - TOKEN_SKEW:
        raise InputError("evidence-expired", "the workload token has expired")
    if iat is not None and iat > now + TOKEN_SKEW:
        raise InputError("evidence-invalid", "the workload token is issued in the future")
    if nbf is not None and nbf > now + TOKEN_SKEW:
        raise InputError("evidence-invalid", "the workload token is not valid yet (nbf)")
    return claims


async def _verify_attestation(request: Request, project: str, raw: object) -> dict[str, Any]:
    """Platform evidence signed by an attester the project trusts (keys, identities, trusted root)."""
    import json

    data = json.dumps(raw).encode() if isinstance(raw, dict) else str(raw).encode()
    trust = await asyncio.to_thread(request.app.state.evidence.trust, project)
    return await asyncio.to_thread(signed.verify_attestation, data, trust)


@router.post(
    "/api/v1/projects/{project}/keys/{name}/unwrap",
    tags=["broker"],
    summary="Unwrap a wrapped file key for a platform the current decryption policy allows (logged either way)",
)
async def unwrap(
    request: Request, project: str, name: str, principal: Principal = Depends(require("broker.unwrap"))
) -> Any:
    _names(project, name)
    body = safejson.load_object(await request.body(), what="unwrap request")
    evidence: dict[str, Any] = body["evidence"] if isinstance(body.get("evidence"), dict) else {}
    claims, platform, evidence_error = None, None, None
    try:
        if evidence.get("attestation") is not None:
            platform = await _verify_attestation(request, project, evidence["attestation"])
        if evidence.get("token") or platform is None:
            claims = await _verify_token(request, str(evidence.get("token") or ""))
    except AssayError as exc:
        evidence_error = exc
    append = request.app.state.audit_append
    try:
        return await _call(
            service.unwrap, _engine(request), project, name, body, claims, evidence_error, principal.actor, append,
            platform,
        )  # fmt: skip
    except service.Refused as exc:
        return _refused(exc)
    except InputError as exc:
        if exc.reason == "replayed-request":
            return JSONResponse({"code": 409, "reason": exc.reason, "message": exc.message}, status_code=409)
        raise


@router.post(
    "/api/v1/projects/{project}/keys/{name}/rewrap",
    tags=["broker"],
    summary="Re-wrap an age header for the key's newest version (the file key stays on the server; logged)",
)
async def rewrap(
    request: Request, project: str, name: str, principal: Principal = Depends(require("broker.admin"))
) -> Any:
    _names(project, name)
    body = safejson.load_object(await request.body(), what="rewrap request")
    try:
        header = base64.b64decode(str(body["header"]), validate=True)
    except (ValueError, KeyError, TypeError):
        raise InputError("bad-rewrap-request", 'the body is {"header": base64 of an age header}') from None
    append = request.app.state.audit_append
    return await _call(service.rewrap, _engine(request), project, name, header, principal.actor, append)


@router.get("/api/v1/projects/{project}/keys/{name}/releases", tags=["broker"], summary="A key's release record")
async def releases(
    request: Request, project: str, name: str, principal: Principal = Depends(require("broker.read"))
) -> Any:
    _names(project, name)
    found = await _call(service.releases, _engine(request), project, name)
    return found if isinstance(found, JSONResponse) else {"releases": found}
