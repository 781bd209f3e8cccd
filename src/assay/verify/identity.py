"""Identity policy for keyless certificates, with cosign's flags and semantics.

Regular expressions must match the whole value (``re.fullmatch``): unlike
cosign's unanchored matching, ``example.com`` does not accept
``evil-example.com.attacker.net``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assay.errors import InputError
from assay.verify.fulcio import CLAIM_OIDS, CLAIMS
from assay.verify.model import fail

_BY_OID = {oid: name for name, oid in CLAIM_OIDS.items()}


def claim_name(key: str) -> str:
    """Accept a claim name (``sourceRepositoryURI``) or its OID; return the name."""
    if key in CLAIM_OIDS:
        return key
    if key in _BY_OID:
        return _BY_OID[key]
    lowered = {n.lower(): n for n in CLAIMS.values()}
    if key.lower() in lowered:
        return lowered[key.lower()]
    raise InputError("unknown-certificate-extension", f"{key!r} is not a known Fulcio extension name or OID")


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError("bad-regexp", f"{what}: invalid regular expression: {exc}") from None


@dataclass(frozen=True)
class IdentityPolicy:
    """Who must have signed: SAN identity, OIDC issuer, and extension claims."""

    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    extensions: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not (self.identity or self.identity_regexp):
            raise InputError(
                "identity-required", "an identity policy needs --certificate-identity or --certificate-identity-regexp"
            )
        if not (self.issuer or self.issuer_regexp):
            raise InputError(
                "issuer-required",
                "an identity policy needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp",
            )
        for pattern, what in ((self.identity_regexp, "identity"), (self.issuer_regexp, "issuer")):
            if pattern is not None:
                _compile(pattern, what)

    def check(self, claims: dict[str, str]) -> str:
        """Raise ``identity-mismatch``/``issuer-mismatch``/``extension-mismatch``; return a description."""
        subject = claims.get("subject")
        if subject is None:
            raise fail("identity", "certificate-no-identity", "the certificate has no subject alternative name")
        if self.identity is not None and subject != self.identity:
            raise fail("identity", "identity-mismatch", f"expected identity {self.identity!r}, found {subject!r}")
        if self.identity_regexp is not None and not _compile(self.identity_regexp, "identity").fullmatch(subject):
            raise fail("identity", "identity-mismatch", f"identity {subject!r} does not match /{self.identity_regexp}/")
        issuer = claims.get("issuer")
        if issuer is None:
            raise fail("identity", "certificate-no-issuer", "the certificate carries no OIDC issuer extension")
        if self.issuer is not None and issuer != self.issuer:
            raise fail("identity", "issuer-mismatch", f"expected OIDC issuer {self.issuer!r}, found {issuer!r}")
        if self.issuer_regexp is not None and not _compile(self.issuer_regexp, "issuer").fullmatch(issuer):
            raise fail("identity", "issuer-mismatch", f"OIDC issuer {issuer!r} does not match /{self.issuer_regexp}/")
        for name, expected in self.extensions:
            found = claims.get(name)
            if found != expected:
                raise fail("identity", "extension-mismatch", f"expected {name} {expected!r}, found {found!r}")
        return f"{subject} via {issuer}"


def ci_identity(repository: str) -> IdentityPolicy:
    """The CI signer identity of a source repository (GitHub or GitLab hosted), for provenance without flags."""
    if repository.startswith("https://github.com/"):
        return IdentityPolicy(
            None, rf"{re.escape(repository)}/\.github/workflows/.+", "https://token.actions.githubusercontent.com"
        )
    if repository.startswith("https://gitlab.com/"):
        return IdentityPolicy(None, rf"{re.escape(repository)}//.+", "https://gitlab.com")
    raise InputError(
        "identity-required",
        f"no default signer identity for {repository}: pass --key or --certificate-identity[-regexp] and the issuer",
    )
