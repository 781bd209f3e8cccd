"""Identity policy for keyless certificates, with cosign's flags and semantics.

Regular expressions must match the whole value (``re.fullmatch``): unlike
cosign's unanchored matching, ``example.com`` does not accept
``evil-example.com.attacker.net``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from re import _constants as _sre
from re import _parser
from typing import Any

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


MAX_REGEXP = 1024  # characters
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT)}


def _repeats(items: Any) -> bool:
    """True when a parsed (sub)pattern holds a repetition that may match more than once, or a back-reference."""
    return any(_unsafe_node(op, av, inside=True) for op, av in items)


def _unsafe_node(op: Any, av: Any, inside: bool) -> bool:
    """A repetition of something that itself repeats (``(a+)+``, ``(a*b?)*``) or a back-reference inside one:
    the shapes whose matching time grows exponentially with the input (catastrophic backtracking)."""
    if op in _REPEATS:
        _low, high, sub = av
        if inside and high > 1:
            return True
        return (high > 1 and _repeats(sub)) or any(_unsafe_node(o, a, inside) for o, a in sub)
    if op is _sre.GROUPREF:
        return inside
    if op is _sre.SUBPATTERN:
        return any(_unsafe_node(o, a, inside) for o, a in av[-1])
    if op is _sre.BRANCH:
        return any(_unsafe_node(o, a, inside) for branch in av[1] for o, a in branch)
    if op in (_sre.ASSERT, _sre.ASSERT_NOT):
        return any(_unsafe_node(o, a, inside) for o, a in av[1])
    return False


@lru_cache(maxsize=256)
def _compile(pattern: str, what: str) -> re.Pattern[str]:
    """Compile an identity or issuer pattern; refuse ones that could make matching take exponential time.

    Patterns come from project trust settings and policies, so one careless or hostile pattern must not stall
    the server for every project: nested repetition and back-references inside repetition are refused
    (``identity-regexp-unsafe``), as is a pattern over ``MAX_REGEXP`` characters.
    """
    if len(pattern) > MAX_REGEXP:
        raise InputError("identity-regexp-unsafe", f"{what}: the regular expression is over {MAX_REGEXP} characters")
    try:
        compiled = re.compile(pattern)
        parsed = _parser.parse(pattern)
    except re.error as exc:
        raise InputError("bad-regexp", f"{what}: invalid regular expression: {exc}") from None
    if any(_unsafe_node(op, av, inside=False) for op, av in parsed):
        raise InputError(
            "identity-regexp-unsafe",
            f"{what}: /{pattern[:80]}/ repeats a repetition (or a back-reference), which can take exponential time; "
            "write it without nested quantifiers",
        )
    return compiled


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
