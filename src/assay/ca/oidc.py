"""OIDC ID-token verification for configured issuers, with JWKS caching and rotation.

An issuer is configured as ``URL[=type]`` with type ``email`` (default),
``github-workflow``, ``gitlab-pipeline`` or ``uri``. Tokens must carry the
expected audience (default ``sigstore``), be within ``nbf``/``exp`` (60 s
skew), have a sane ``iat``, and be signed with an allowed algorithm by a key
from the issuer's JWKS (fetched via discovery, cached, refetched once when a
token names an unknown key id, at most once per issuer per interval).

Issuers without discovery (a Kubernetes cluster's service-account issuer, a SPIFFE trust domain) have a local
key set instead (``local_jwks``; see :mod:`assay.ca.jwks_file`), re-read as soon as its :meth:`stamp` changes.
A SPIFFE trust domain is the issuer ``spiffe://TD``: its JWT-SVIDs must have a ``sub`` that is a SPIFFE ID of
that trust domain, an RS/ES/PS algorithm and a ``typ`` of JWT or JOSE if any; they may omit ``iss`` (SPIRE does
unless told a ``jwt_issuer``), and the issuer is then the trust domain of ``sub`` -- accepted only when a bundle
for it is configured (:attr:`Resolved.claimed` says whether the token named its issuer itself).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from assay.ca.jwks_file import trust_domain
from assay.errors import EnvironmentFailure, InputError
from assay.formats import safejson

ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
SVID_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]  # JWT-SVID 2.1
SPIFFE = "spiffe://"
ISSUER_TYPES = ("email", "github-workflow", "gitlab-pipeline", "uri")
SKEW = 60
JWKS_TTL = 600  # seconds a fetched JWKS is trusted
REFETCH_INTERVAL = 60  # at most one refetch per issuer per minute for unknown kids
NEGATIVE_TTL = 30  # a failed fetch is remembered this long
FETCH_TIMEOUT = 5.0  # seconds per outbound request (discovery, JWKS)
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_JWKS_KEYS = 64
MAX_TOKEN_CHARS = 16 * 1024
MAX_TOKEN_AGE = 24 * 3600
MAX_VERIFIED = 10_000  # verified tokens remembered per process (see TokenVerifier.remembered)


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


JwksFetcher = Callable[[str], Awaitable[dict[str, Any]]]


async def _get_json(client: Any, url: str) -> dict[str, Any]:
    response = await client.get(url)
    response.raise_for_status()
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    return safejson.load_object(response.content, what=url)


async def http_jwks(issuer_url: str) -> dict[str, Any]:
    """Discovery, then the JWKS it points to (async, with a deadline for both)."""
    import httpx

    async def both() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client:
            disc = await _get_json(client, issuer_url + "/.well-known/openid-configuration")
            if str(disc.get("issuer", "")).rstrip("/") != issuer_url:
                raise EnvironmentFailure(
                    "oidc-discovery-mismatch", f"discovery document of {issuer_url} names another issuer"
                )
            jwks_uri = disc.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError("the discovery document has no jwks_uri")
            return await _get_json(client, jwks_uri)

    try:
        return await asyncio.wait_for(both(), timeout=2 * FETCH_TIMEOUT)
    except (httpx.HTTPError, ValueError, KeyError, InputError, TimeoutError) as exc:
        if isinstance(exc, EnvironmentFailure):
            raise
        detail = str(exc) or type(exc).__name__
        raise EnvironmentFailure("oidc-discovery-failed", f"cannot fetch the keys of {issuer_url}: {detail}") from None


@dataclass
class _Cached:
    keys: dict[str, Any]
    fetched: float  # time.monotonic()
    error: EnvironmentFailure | None = None
    stamp: object = None  # the local key file's version when it was read (a change makes the entry stale)


@dataclass(frozen=True)
class Resolved:
    """What :meth:`TokenVerifier.resolve` found for a token: its issuer, algorithm and verification key."""

    issuer: IssuerConfig
    iss: str
    alg: str
    kid: str
    jwk: dict[str, Any]
    claimed: bool = True  # False: an iss-less JWT-SVID, ``iss`` is the trust domain of its ``sub``


@dataclass(frozen=True)
class _Verified:
    """A token whose signature verified: its claims and the JWK (the very dict of the JWKS) it verified with."""

    claims: dict[str, Any]
    iss: str
    kid: str
    jwk: dict[str, Any]


@dataclass
class TokenVerifier:
    """Verifies ID tokens against the configured issuers.

    Keys are fetched asynchronously and cached for ``JWKS_TTL``; a failed fetch is
    cached for ``NEGATIVE_TTL``; a token naming an unknown ``kid`` triggers at most
    one refetch per issuer per ``REFETCH_INTERVAL``, whatever the ``kid``.
    """

    issuers: dict[str, IssuerConfig]
    fetch: JwksFetcher = http_jwks
    local_jwks: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _parsed: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    fetches: int = 0  # outbound fetches made (for tests and metrics)
    _verified: dict[bytes, _Verified] = field(default_factory=dict)

    def _stamp(self, issuer: str) -> object:
        """The local key source's version (e.g. a file's mtime), None when it has none."""
        stamp = getattr(self.local_jwks.get(issuer), "stamp", None)
        return stamp() if callable(stamp) else None

    def _usable(self, cached: _Cached | None, kid: str, now: float, stamp: object = None) -> bool:
        if cached is None or cached.stamp != stamp:
            return False
        age = now - cached.fetched
        if cached.error is not None:
            return age < NEGATIVE_TTL
        return age < JWKS_TTL and (kid in cached.keys or age < REFETCH_INTERVAL)

    async def _jwks(self, issuer: str, kid: str) -> dict[str, Any]:
        cached = self._cache.get(issuer)
        stamp = self._stamp(issuer)
        if not self._usable(cached, kid, time.monotonic(), stamp):
            lock = self._locks.setdefault(issuer, asyncio.Lock())
            async with lock:  # one fetch per issuer at a time; waiters reuse its result
                cached = self._cache.get(issuer)
                if not self._usable(cached, kid, time.monotonic(), self._stamp(issuer)):
                    cached = await self._refetch(issuer)
        assert cached is not None
        if cached.error is not None:
            raise cached.error
        return cached.keys

    async def _refetch(self, issuer: str) -> _Cached:
        self.fetches += 1
        stamp = self._stamp(issuer)  # taken before the read: a change during it makes the next look re-read
        try:
            doc = self.local_jwks[issuer]() if issuer in self.local_jwks else await self.fetch(issuer)
            raw = doc.get("keys") if isinstance(doc, dict) else None
            if not isinstance(raw, list):
                raise EnvironmentFailure("oidc-discovery-failed", f"the JWKS of {issuer} has no key list")
            keys = {str(k.get("kid", "")): k for k in raw[:MAX_JWKS_KEYS] if isinstance(k, dict)}
            entry = _Cached(keys, time.monotonic(), None, stamp)
        except EnvironmentFailure as exc:
            entry = _Cached({}, time.monotonic(), exc, stamp)
        self._cache[issuer] = entry
        return entry

    def _key(self, iss: str, kid: str, alg: str, jwk: dict[str, Any]) -> Any:
        """The parsed verification key (cached; a JWKS refresh brings new JWK dicts and so new entries)."""
        cache_key = (iss, kid, alg, json.dumps(jwk, sort_keys=True))
        with self._lock:
            hit = self._parsed.get(cache_key)
        if hit is None:
            try:
                hit = jwt.PyJWK(jwk, algorithm=alg).key
            except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
                raise TokenError(
                    "oidc-unusable-key", f"the issuer's key {kid!r} is unusable for {alg}: {exc}"
                ) from None
            with self._lock:
                self._parsed[cache_key] = hit
        return hit

    async def resolve(self, token: str) -> Resolved:
        """Find the token's issuer and key (fetching the issuer's keys if needed), without verifying it yet."""
        if len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise TokenError("oidc-token-malformed", "the identity token is not a JWT")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("oidc-token-malformed", "the identity token is not a JWT") from None
        raw_iss, claimed = unverified.get("iss"), True
        if raw_iss is None:  # a JWT-SVID may name no issuer: its trust domain is its issuer
            raw_iss, claimed = self._svid_issuer(unverified.get("sub")), False
        if not isinstance(raw_iss, str):
            raise TokenError("oidc-token-invalid", "the token's iss claim is not a string")
        iss = raw_iss.rstrip("/")
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise TokenError(
                "oidc-unknown-issuer", f"tokens from {iss[:200] or 'an unnamed issuer'} are not accepted here"
            )
        svid = iss.startswith(SPIFFE)
        if svid:
            if trust_domain(unverified.get("sub")) != iss[len(SPIFFE) :]:
                raise TokenError(
                    "oidc-token-invalid", f"a JWT-SVID of {iss} needs a sub that is a SPIFFE ID in that trust domain"
                )
            if header.get("typ") not in (None, "JWT", "JOSE"):
                raise TokenError("oidc-token-malformed", "a JWT-SVID's typ header must be JWT or JOSE")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in (SVID_ALGORITHMS if svid else ALLOWED_ALGORITHMS):
            raise TokenError("oidc-bad-algorithm", f"token algorithm {str(alg)[:20]!r} is not allowed")
        kid = header.get("kid", "")
        if not isinstance(kid, str):
            raise TokenError("oidc-token-malformed", "the token's kid is not a string")
        keys = await self._jwks(iss, kid)
        if kid not in keys:
            if not kid and len(keys) == 1:
                kid = next(iter(keys))
            else:
                raise TokenError("oidc-unknown-key", f"the issuer has no key {kid[:100]!r}")
        jwk = keys[kid]
        named = jwk.get("alg")
        if named is not None and named != alg:
            raise TokenError(
                "oidc-algorithm-mismatch", f"the token is signed with {alg} but the issuer's key {kid!r} is for {named}"
            )
        return Resolved(issuer, raw_iss, alg, kid, jwk, claimed)

    def _svid_issuer(self, sub: object) -> str:
        """``spiffe://TD`` for an iss-less token whose ``sub`` is a SPIFFE ID of a trust domain with a bundle."""
        td = trust_domain(sub)
        if td is None:
            raise TokenError(
                "oidc-unknown-issuer", "the token names no issuer and its subject is not a SPIFFE ID (JWT-SVID)"
            )
        iss = SPIFFE + td
        if iss not in self.issuers or iss not in self.local_jwks:
            raise TokenError("oidc-unknown-issuer", f"no SPIFFE bundle is configured for the trust domain {td!r}")
        return iss

    def remembered(self, token: str) -> dict[str, Any] | None:
        """The claims of a token whose signature verified before, while the key it verified with is still the
        issuer's current key for its ``kid`` (a JWKS refresh replaces the key objects, so it forgets them all).
        The caller still checks every time-dependent claim (``exp``, ``nbf``, ``iat``) on each use."""
        hit = self._verified.get(hashlib.sha256(token.encode()).digest())
        if hit is None:
            return None
        cached = self._cache.get(hit.iss)
        if (
            cached is None
            or cached.keys.get(hit.kid) is not hit.jwk
            or not self._usable(cached, hit.kid, time.monotonic(), self._stamp(hit.iss))
        ):
            return None
        return hit.claims

    def remember(self, token: str, found: Resolved, claims: dict[str, Any]) -> None:
        """Keep a verified token's claims for :meth:`remembered` (bounded: the cache is emptied when full)."""
        with self._lock:
            if len(self._verified) >= MAX_VERIFIED:
                self._verified.clear()
            self._verified[hashlib.sha256(token.encode()).digest()] = _Verified(
                claims, found.iss.rstrip("/"), found.kid, found.jwk
            )

    def check(self, token: str, found: Resolved) -> dict[str, Any]:
        """Verify the token's signature and claims with the resolved key (CPU work: call it off the event loop)."""
        key = self._key(found.iss, found.kid, found.alg, found.jwk)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[found.alg],
                audience=found.issuer.audience,
                issuer=found.iss,
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
                "oidc-wrong-audience", f"the identity token is not for audience {found.issuer.audience!r}"
            ) from None
        except jwt.InvalidSignatureError:
            raise TokenError("oidc-bad-signature", "the identity token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenError("oidc-token-invalid", f"the identity token is invalid: {exc}") from None
        for name in ("iat", "exp", "nbf"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise TokenError("oidc-token-invalid", f"the token's {name} claim is not a number")
        if not isinstance(claims.get("sub"), str):
            raise TokenError("oidc-token-invalid", "the token's sub claim is not a string")
        if claims["iat"] > time.time() + SKEW or claims["iat"] < time.time() - MAX_TOKEN_AGE:
            raise TokenError("oidc-token-invalid", "the identity token's iat is implausible")
        return claims

    async def verify(self, token: str) -> tuple[IssuerConfig, dict[str, Any]]:
        """Return the issuer and the verified claims, or raise :class:`TokenError` (checks on the calling thread)."""
        found = await self.resolve(token)
        return found.issuer, self.check(token, found)


def jwk_of(public_pem: bytes, kid: str) -> dict[str, Any]:
    """A public JWK for an EC P-256 key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    doc = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    doc.update({"kid": kid, "use": "sig", "alg": "ES256"})
    return doc  # type: ignore[no-any-return]
