"""OIDC ID-token verification for configured issuers, with JWKS caching and rotation.

An issuer is configured as ``URL[=type]`` with type ``email`` (default),
``github-workflow``, ``gitlab-pipeline`` or ``uri``. Tokens must carry the
expected audience (default ``sigstore``), be within ``nbf``/``exp`` (60 s
skew), have a sane ``iat``, and be signed with an allowed algorithm by a key
from the issuer's JWKS (fetched via discovery, cached, refetched once when a
token names an unknown key id).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from assay.errors import EnvironmentFailure, InputError

ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
ISSUER_TYPES = ("email", "github-workflow", "gitlab-pipeline", "uri")
SKEW = 60
JWKS_TTL = 600
MAX_TOKEN_AGE = 24 * 3600


class TokenError(InputError):
    """A token that is refused; ``reason`` says why."""


@dataclass(frozen=True)
class IssuerConfig:
    """One trusted issuer."""

    url: str
    type: str = "email"
    audience: str = "sigstore"

    @classmethod
    def parse(cls, spec: str, audience: str = "sigstore") -> IssuerConfig:
        """``https://issuer.example[=type]``."""
        url, _, kind = spec.partition("=")
        kind = kind or "email"
        if kind not in ISSUER_TYPES:
            raise InputError(
                "bad-oidc-issuer", f"unknown issuer type {kind!r}", hint=f"use one of {', '.join(ISSUER_TYPES)}"
            )
        if not url.startswith(("https://", "http://")):
            raise InputError("bad-oidc-issuer", f"issuer {url!r} is not a URL")
        return cls(url.rstrip("/"), kind, audience)


JwksFetcher = Callable[[str], dict[str, Any]]


def http_jwks(issuer_url: str) -> dict[str, Any]:
    """Discovery, then the JWKS it points to."""
    import httpx

    try:
        disc = httpx.get(issuer_url + "/.well-known/openid-configuration", timeout=10).json()
        if disc.get("issuer", "").rstrip("/") != issuer_url:
            raise EnvironmentFailure(
                "oidc-discovery-mismatch", f"discovery document of {issuer_url} names another issuer"
            )
        return httpx.get(disc["jwks_uri"], timeout=10).json()  # type: ignore[no-any-return]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise EnvironmentFailure("oidc-discovery-failed", f"cannot fetch the keys of {issuer_url}: {exc}") from None


@dataclass
class _Cached:
    keys: dict[str, Any]
    fetched: float


@dataclass
class TokenVerifier:
    """Verifies ID tokens against the configured issuers."""

    issuers: dict[str, IssuerConfig]
    fetch: JwksFetcher = http_jwks
    local_jwks: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _parsed: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _jwks(self, issuer: str, refresh: bool = False) -> dict[str, Any]:
        with self._lock:
            cached = self._cache.get(issuer)
            if cached and not refresh and time.time() - cached.fetched < JWKS_TTL:
                return cached.keys
        doc = self.local_jwks[issuer]() if issuer in self.local_jwks else self.fetch(issuer)
        keys = {str(k.get("kid", "")): k for k in doc.get("keys", []) if isinstance(k, dict)}
        with self._lock:
            self._cache[issuer] = _Cached(keys, time.time())
        return keys

    def _key(self, iss: str, kid: str, alg: str, jwk: dict[str, Any]) -> Any:
        """The parsed verification key (cached; a JWKS refresh brings new JWK dicts and so new entries)."""
        cache_key = (iss, kid, alg, json.dumps(jwk, sort_keys=True))
        with self._lock:
            hit = self._parsed.get(cache_key)
        if hit is None:
            hit = jwt.PyJWK(jwk, algorithm=alg).key
            with self._lock:
                self._parsed[cache_key] = hit
        return hit

    def verify(self, token: str) -> tuple[IssuerConfig, dict[str, Any]]:
        """Return the issuer and the verified claims, or raise :class:`TokenError`."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("oidc-token-malformed", "the identity token is not a JWT") from None
        iss = str(unverified.get("iss", "")).rstrip("/")
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise TokenError("oidc-unknown-issuer", f"tokens from {iss or 'an unnamed issuer'} are not accepted here")
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenError("oidc-bad-algorithm", f"token algorithm {alg!r} is not allowed")
        kid = str(header.get("kid", ""))
        keys = self._jwks(iss)
        if kid not in keys:
            keys = self._jwks(iss, refresh=True)  # key rotation
        if kid not in keys:
            if not kid and len(keys) == 1:
                kid = next(iter(keys))
            else:
                raise TokenError("oidc-unknown-key", f"the issuer has no key {kid!r}")
        try:
            key = self._key(iss, kid, alg, keys[kid])
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=issuer.audience,
                issuer=unverified.get("iss"),
                leeway=SKEW,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("oidc-token-expired", "the identity token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError(
                "oidc-token-not-yet-valid", "the identity token is not valid yet (nbf/iat in the future)"
            ) from None
        except jwt.InvalidAudienceError:
            raise TokenError(
                "oidc-wrong-audience", f"the identity token is not for audience {issuer.audience!r}"
            ) from None
        except jwt.InvalidSignatureError:
            raise TokenError("oidc-bad-signature", "the identity token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenError("oidc-token-invalid", f"the identity token is invalid: {exc}") from None
        if claims["iat"] > time.time() + SKEW or claims["iat"] < time.time() - MAX_TOKEN_AGE:
            raise TokenError("oidc-token-invalid", "the identity token's iat is implausible")
        return issuer, claims


def jwk_of(public_pem: bytes, kid: str) -> dict[str, Any]:
    """A public JWK for an EC P-256 key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    doc = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    doc.update({"kid": kid, "use": "sig", "alg": "ES256"})
    return doc  # type: ignore[no-any-return]
