"""Fulcio v2 API subset, RFC 3161 timestamps, signing config, and the --dev OIDC issuer."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from assay.ca.claims import identity_for
from assay.ca.oidc import Resolved, TokenError
from assay.crypto import keys
from assay.errors import InputError
from assay.formats.encoding import b64decode
from assay.server.models import DevTokenRequest, SigningCertRequest, parse
from assay.server.openapi import binary_body, json_body

router = APIRouter()
dev_router = APIRouter()


def _pem_chain(certs: list[x509.Certificate]) -> list[str]:
    return [c.public_bytes(serialization.Encoding.PEM).decode() for c in certs]


def _token(request: Request, req: SigningCertRequest) -> str:
    if req.credentials is not None:
        return req.credentials.oidcIdentityToken
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    raise TokenError(
        "oidc-token-missing", "no identity token: send credentials.oidcIdentityToken or Authorization: Bearer"
    )


def _public_key_from_request(req: SigningCertRequest, challenge: str) -> keys.PublicKey:
    """The key to certify, after checking its proof of possession (CSR self-signature or a signature over the challenge)."""
    if req.certificateSigningRequest is not None:
        pem = b64decode(req.certificateSigningRequest, "certificateSigningRequest")
        try:
            csr = x509.load_pem_x509_csr(pem) if b"-----BEGIN" in pem else x509.load_der_x509_csr(pem)
            valid, public = csr.is_signature_valid, csr.public_key()
        except (ValueError, UnsupportedAlgorithm):
            raise InputError("csr-malformed", "certificateSigningRequest is not a PEM or DER CSR") from None
        if not valid:
            raise InputError("proof-of-possession-invalid", "the CSR's signature does not verify")
        return keys.supported_public(public, "CSR")
    if req.publicKeyRequest is None:
        raise InputError("malformed-field", "send publicKeyRequest or certificateSigningRequest")
    key = keys.parse_public(req.publicKeyRequest.publicKey.content.encode(), "publicKeyRequest.publicKey")
    proof = b64decode(req.publicKeyRequest.proofOfPossession, "publicKeyRequest.proofOfPossession")
    if isinstance(key, ec.EllipticCurvePublicKey):
        ok = keys.verify_message_with(key, proof, challenge.encode(), ec.ECDSA(hashes.SHA256()))
    else:
        ok = keys.verify_message(key, proof, challenge.encode())
    if not ok:
        raise InputError(
            "proof-of-possession-invalid", "proofOfPossession is not a signature over the token's subject by this key"
        )
    return key


def _issue(state: Any, token: str, found: Resolved, req: SigningCertRequest) -> list[str]:
    """Token check, identity, proof of possession and signing: the CPU and key work, run off the event loop."""
    claims = state.tokens.check(token, found)
    identity = identity_for(found.issuer, claims)
    key = _public_key_from_request(req, identity.challenge)
    try:
        cert = state.ca.issue(key, identity)
    except ValueError as exc:
        raise InputError("certificate-identity-invalid", f"cannot issue for this identity: {exc}") from None
    return _pem_chain([cert, *state.ca.chain])


_SIGNING_CERT_BODY = json_body(
    SigningCertRequest, description="an OIDC token (here or as a Bearer header) and a public key with proof, or a CSR"
)
_TIMESTAMP_BODY = binary_body("application/timestamp-query", "a DER TimeStampReq (RFC 3161), nothing after it")
_DEV_TOKEN_BODY = json_body(DevTokenRequest, description="the claims of the token to mint (every field optional)")


@router.post(
    "/api/v2/signingCert",
    tags=["ca"],
    summary="Issue a short-lived signing certificate (Fulcio v2)",
    openapi_extra=_SIGNING_CERT_BODY,
)
async def signing_cert(request: Request) -> JSONResponse:
    state = request.app.state
    req = parse(SigningCertRequest, await request.body())
    try:
        token = _token(request, req)
        found = await state.tokens.resolve(token)
        chain = await state.pool.blocking(_issue, state, token, found, req)
    except TokenError as exc:
        return JSONResponse({"code": 401, "reason": exc.reason, "message": exc.message}, status_code=401)
    return JSONResponse({"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}, status_code=201)


@router.get("/api/v2/trustBundle", tags=["ca"], summary="The CA chains")
def trust_bundle(request: Request) -> dict[str, Any]:
    return {"chains": [{"certificates": _pem_chain(request.app.state.ca.chain)}]}


@router.get("/api/v2/configuration", tags=["ca"], summary="Accepted OIDC issuers")
def configuration(request: Request) -> dict[str, Any]:
    issuers = request.app.state.tokens.issuers.values()
    return {
        "issuers": [
            {
                "issuerUrl": i.url,
                "audience": i.audience,
                "challengeClaim": "email" if i.type == "email" else "sub",
                "issuerType": i.type,
            }
            for i in issuers
        ]
    }


@router.post(
    "/api/v1/timestamp",
    tags=["tsa"],
    summary="RFC 3161 timestamp (application/timestamp-query)",
    openapi_extra=_TIMESTAMP_BODY,
)
async def timestamp(request: Request) -> Response:
    body = await request.body()
    reply = await request.app.state.pool.blocking(request.app.state.tsa.respond, body)
    return Response(reply, media_type="application/timestamp-reply")


@router.get("/api/v1/timestamp/certchain", tags=["tsa"], summary="The TSA certificate chain (PEM)")
def timestamp_chain(request: Request) -> Response:
    return Response("".join(_pem_chain(request.app.state.tsa.chain)), media_type="application/pem-certificate-chain")


@router.get("/api/v1/signingConfig", tags=["trust"], summary="A Sigstore SigningConfig v0.2 naming this server")
def signing_config(request: Request) -> dict[str, Any]:
    return request.app.state.signing_config()  # type: ignore[no-any-return]


@router.get(
    "/api/v1/trustConfig", tags=["trust"], summary="A Sigstore ClientTrustConfig (trusted root + signing config)"
)
def trust_config(request: Request) -> dict[str, Any]:
    return {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": request.app.state.trusted_root(),
        "signingConfig": request.app.state.signing_config(),
    }


# ---- the --dev OIDC issuer ---------------------------------------------------------------


def _dev_issuer_url(request: Request, flavour: str) -> str:
    settings = request.app.state.settings
    if flavour == "github":
        return settings.dev_github_issuer_url  # type: ignore[no-any-return]
    base = settings.url.rstrip("/") + "/dev/oidc"
    return base if flavour == "email" else f"{base}/{flavour}"


@dev_router.get("/dev/oidc/.well-known/openid-configuration", include_in_schema=False)
@dev_router.get("/dev/oidc/{flavour}/.well-known/openid-configuration", include_in_schema=False)
def dev_discovery(request: Request, flavour: str = "email") -> dict[str, Any]:
    iss = _dev_issuer_url(request, flavour)
    return {
        "issuer": iss,
        "jwks_uri": request.app.state.settings.url.rstrip("/") + "/dev/oidc/jwks",
        "token_endpoint": iss + "/token",
        # interactive login (server/routes_devlogin.py): the OAuth endpoints of the email issuer
        "device_authorization_endpoint": request.app.state.settings.dev_issuer + "/device/code",
        "authorization_endpoint": request.app.state.settings.dev_issuer + "/authorize",
        "oauth_token_endpoint": request.app.state.settings.dev_issuer + "/oauth-token",
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
    }


@dev_router.get("/dev/oidc/jwks", include_in_schema=False)
def dev_jwks(request: Request) -> dict[str, Any]:
    return request.app.state.dev_jwks()  # type: ignore[no-any-return]


@dev_router.post(
    "/dev/oidc/token",
    summary="(--dev only) mint an ID token for any email",
    tags=["dev"],
    openapi_extra=_DEV_TOKEN_BODY,
)
@dev_router.post(
    "/dev/oidc/{flavour}/token",
    summary="(--dev only) mint a CI-shaped ID token",
    tags=["dev"],
    openapi_extra=_DEV_TOKEN_BODY,
)
async def dev_token(request: Request, flavour: str = "email") -> dict[str, Any]:
    doc = parse(DevTokenRequest, await request.body())
    now = int(time.time())
    issued = now if doc.issuedAt is None else doc.issuedAt
    claims: dict[str, Any] = {
        "iss": _dev_issuer_url(request, flavour),
        "aud": doc.audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + doc.expiresIn,
    }
    if flavour == "email":
        claims.update({"sub": doc.email, "email": doc.email, "email_verified": doc.emailVerified})
    elif flavour == "github":
        claims.update(github_claims(doc.repository, doc.ref, doc.workflow))
    else:
        raise LookupError(f"no dev issuer flavour {flavour[:40]!r}")
    claims.update(doc.claims)
    lifetime = doc.expiresIn
    key = request.app.state.dev_key
    token = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": request.app.state.dev_kid})
    return {"id_token": token, "token_type": "Bearer", "expires_in": lifetime}


def github_claims(repository: str, ref: str, workflow: str) -> dict[str, Any]:
    """Claims shaped like a GitHub Actions ID token for a workflow run."""
    owner = repository.split("/")[0]
    sha = "0" * 40
    wf_ref = f"{repository}/{workflow}@{ref}"
    return {
        "sub": f"repo:{repository}:ref:{ref}",
        "repository": repository,
        "repository_owner": owner,
        "repository_id": "1000",
        "repository_owner_id": "2000",
        "repository_visibility": "public",
        "ref": ref,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "sha": sha,
        "workflow": workflow.rsplit("/", 1)[-1],
        "workflow_ref": wf_ref,
        "workflow_sha": sha,
        "job_workflow_ref": wf_ref,
        "job_workflow_sha": sha,
        "event_name": "push",
        "runner_environment": "github-hosted",
        "run_id": "42",
        "run_attempt": "1",
        "actor": owner,
    }
