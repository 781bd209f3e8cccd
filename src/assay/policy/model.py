"""The compiled policy: authorities with loaded keys, compiled regexps and CEL programs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from assay.crypto.keys import PublicKey
from assay.formats.trustroot import TrustedRoot

# policy claim names -> certificate claim names (Fulcio OIDs .8-.24)
CLAIM_FIELDS = {
    "sourceRepository": "sourceRepositoryURI",
    "sourceRef": "sourceRepositoryRef",
    "sourceDigest": "sourceRepositoryDigest",
    "buildSigner": "buildSignerURI",
    "runnerEnvironment": "runnerEnvironment",
    "buildTrigger": "buildTrigger",
    "certIssuer": "issuer",
}


@dataclass(frozen=True)
class Keyless:
    issuer: str | None
    issuer_re: re.Pattern[str] | None
    subject: str | None
    subject_re: re.Pattern[str] | None
    claims: tuple[tuple[str, str], ...] = ()
    claims_re: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def describe(self) -> str:
        who = self.subject or (self.subject_re.pattern if self.subject_re else "*")
        iss = self.issuer or (self.issuer_re.pattern if self.issuer_re else "*")
        return f"{who} from {iss}"


@dataclass(frozen=True)
class Authorities:
    keys: tuple[tuple[str, PublicKey], ...] = ()  # (path as written, key)
    threshold: int = 1
    keyless: tuple[Keyless, ...] = ()


@dataclass
class Rule:
    name: str
    kind: str  # signature | attestation | provenance | sbom | vulnerabilities
    authorities: Authorities
    line: int
    predicate_types: tuple[str, ...] = ()
    max_age: timedelta | None = None
    conditions: tuple[tuple[str, Any], ...] = ()  # (source, compiled program)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Policy:
    name: str
    path: str
    digest: str  # sha256 of the policy file's bytes
    raw: bytes
    mode: str
    images: tuple[str, ...]
    blobs: tuple[str, ...]
    exclude: tuple[str, ...]
    tags: tuple[str, ...]
    tag_re: re.Pattern[str] | None
    trust: TrustedRoot | None
    rules: list[Rule]
    lines: dict[str, int] = field(default_factory=dict)
    # admission: namespace globs and a LabelSelector ({} / None: every namespace); timeouts fail closed or open
    namespaces: tuple[str, ...] = ()
    namespace_selector: dict[str, Any] | None = None
    failure_policy: str = "fail-closed"
    # every file the policy names (keys, trusted root, layouts, layout keys, links directories), absolute paths
    named_files: tuple[str, ...] = ()
    # sha256 over the policy's bytes and all its trust material as read; "" until the service layer read it
    trust_digest: str = ""

    @property
    def material_digest(self) -> str:
        """The digest a cached verdict of this policy is keyed by: the policy and everything it trusts."""
        return self.trust_digest or self.digest


MAX_DURATION = timedelta(days=36500)


def parse_duration(value: str) -> timedelta:
    """``1h30m``-style durations; ValueError past 100 years (``MAX_DURATION``)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total = 0.0
    for number, unit in re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)", value):
        total += float(number) * units[unit]
    if not total <= MAX_DURATION.total_seconds():
        raise ValueError(f"{value!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=total)
