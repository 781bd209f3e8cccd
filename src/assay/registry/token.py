"""Registry tokens as the distribution token spec defines them: claims, the libtrust key id, signing (pure).

A token is a JWS (ES256 or RS256) whose header names the signing key by ``kid`` computed as libtrust (and so
distribution 2.8's ``rootcertbundle`` lookup) computes it: SHA-256 of the DER SubjectPublicKeyInfo, its first
240 bits in base32, in groups of four separated by ``:``. Claims: ``iss``, ``sub``, ``aud`` (the service),
``exp``, ``nbf``, ``iat``, ``jti`` and ``access`` ([{type, name, actions}]). A refresh token is a JWS by the
same key naming the credential it stands for (``assay_cred``); it grants nothing by itself.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from assay.errors import InputError
from assay.registry.scope import Scope

ALGORITHMS = ("ES256", "RS256")
REFRESH_TYPE = "assay-registry-refresh"
SKEW = 60


def libtrust_kid(public_key: Any) -> str:
    """The key id libtrust derives from a public key (what the registry matches ``kid`` against)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i : i + 4] for i in range(0, len(s), 4))


def algorithm_for(private_key: Any) -> str:
    """ES256 for a P-256 key, RS256 for an RSA key."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    raise InputError("registry-key-unsupported", "the registry token key must be ECDSA P-256 or RSA")


@dataclass(frozen=True)
class TokenKey:
    """The signing key, its algorithm and its libtrust key id."""

    private_key: Any
    alg: str
    kid: str
    x5c: tuple[str, ...] = ()  # base64 DER certificates, leaf first, put in the header when set

    @classmethod
    def of(cls, private_key: Any) -> TokenKey:
        """A :class:`TokenKey` for ``private_key``."""
        return cls(private_key, algorithm_for(private_key), libtrust_kid(private_key.public_key()))


def claims(
    *, issuer: str, subject: str, service: str, access: list[Scope], issued: int, expires: int
) -> dict[str, Any]:
    """The registry token's claim set."""
    return {
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "exp": expires,
        "nbf": issued - 1,
        "iat": issued,
        "jti": secrets.token_urlsafe(16),
        "access": [a.to_json() for a in access],
    }


def sign(key: TokenKey, body: dict[str, Any]) -> str:
    """The compact JWS of ``body``."""
    headers: dict[str, Any] = {"kid": key.kid, "typ": "JWT"}
    if key.x5c:
        headers["x5c"] = list(key.x5c)
    return jwt.encode(body, key.private_key, algorithm=key.alg, headers=headers)


def refresh_claims(
    *, issuer: str, subject: str, service: str, kind: str, credential: str, issued: int, expires: int
) -> dict[str, Any]:
    """A refresh token's claims: who it stands for and the credential whose revocation ends it."""
    return {
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "iat": issued,
        "exp": expires,
        "jti": secrets.token_urlsafe(16),
        "typ": REFRESH_TYPE,
        "assay_cred": {"kind": kind, "id": credential},
    }


def read_refresh(key: TokenKey, token: str, *, issuer: str, service: str) -> dict[str, Any]:
    """The claims of a refresh token this server issued for ``service``, or ``refresh-token-invalid``."""
    try:
        doc: dict[str, Any] = jwt.decode(
            token[:8192], key.private_key.public_key(), algorithms=[key.alg], audience=service, issuer=issuer,
            leeway=SKEW, options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )  # fmt: skip
    except jwt.ExpiredSignatureError:
        raise InputError("refresh-token-expired", "the refresh token has expired") from None
    except jwt.PyJWTError:
        raise InputError("refresh-token-invalid", "the refresh token was not issued here for this service") from None
    cred = doc.get("assay_cred")
    if doc.get("typ") != REFRESH_TYPE or not isinstance(cred, dict) or not isinstance(cred.get("id"), str):
        raise InputError("refresh-token-invalid", "the token is not a refresh token")
    return doc
