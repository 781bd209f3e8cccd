"""The one narrow call from admission into the policy engine and image verification (blocking I/O).

``resolve`` turns a tag into the digest the registry names now; ``verify``
gathers what is attached to that digest and evaluates one policy over it,
returning a :class:`Verdict` that can be cached (JSON) with a TTL that never
outlives a certificate or an attestation ``maxAge``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from assay.errors import AssayError, EnvironmentFailure
from assay.oci.target import RegistryAuth
from assay.policy.model import Policy


@dataclass
class Verdict:
    """One policy's decision about one image digest."""

    passed: bool
    rule: str = ""
    reason: str = ""
    message: str = ""
    ttl: float = 0.0  # seconds this verdict may be reused
    environment: bool = False  # could not decide (registry down, auth): never cached, fail-open applies

    def to_json(self) -> dict[str, Any]:
        """The verdict as a cache entry."""
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Verdict:
        """A verdict back from a cache entry."""
        return cls(**{k: doc[k] for k in ("passed", "rule", "reason", "message", "ttl", "environment") if k in doc})


def resolve(name: str, tag: str, auth: RegistryAuth) -> str:
    """The manifest digest ``name:tag`` names now (one registry round trip)."""
    from assay.oci.target import open_target

    digest, _, _ = open_target(f"{name}:{tag}", auth).resolve()
    return digest


_AGE = re.compile(r"(?:(\d+) days?, )?(\d+):(\d\d):(\d\d)")


def _age(text: str) -> timedelta | None:
    m = _AGE.fullmatch(text)
    if not m:
        return None
    d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def _ttl(policy: Policy, evaluation: Any, default: float, now: datetime) -> float:
    from cryptography import x509

    ttl = default
    by_name = {r.name: r for r in policy.rules}
    for res in evaluation.rules:
        rule = by_name.get(res.name)
        if rule is not None and rule.max_age is not None:
            for c in res.checks:
                age = _age(c.found) if c.what == "age" else None
                if age is not None:
                    ttl = min(ttl, (rule.max_age - age).total_seconds())
        for m in res.inputs:
            if m.bundle.certificates:
                try:
                    cert = x509.load_der_x509_certificate(m.bundle.certificates[0])
                except ValueError:
                    continue
                left = (cert.not_valid_after_utc - now).total_seconds()
                if left > 0:  # a signature verified by a timestamp after expiry stays valid
                    ttl = min(ttl, left)
    return max(ttl, 0.0)


def verify(
    policy: Policy, image: str, name: str, tag: str | None, digest: str, auth: RegistryAuth, default_ttl: float
) -> Verdict:
    """Evaluate ``policy`` over everything attached to ``name@digest`` (``tag`` as the image was named, for the
    policy's tag filters); registry trouble is an environment verdict."""
    from assay.oci.target import open_target
    from assay.policy.evaluate import evaluate
    from assay.policy.materials import attached_target
    from assay.service.image import collect

    try:
        t = open_target(f"{name}@{digest}", auth)
        t.tag = tag
        target = attached_target(image, t, digest, collect(t.store, t.repository, digest))
        now = datetime.now(UTC)
        ev = evaluate(policy, target, now)
    except EnvironmentFailure as exc:
        return Verdict(False, "", exc.reason, exc.message, environment=True)
    except AssayError as exc:
        return Verdict(False, "", exc.reason, exc.message)
    if not ev.matched:
        return Verdict(False, "", "policy-not-applicable", f"policy {policy.name} does not match {image}")
    failed = [r for r in ev.rules if r.status != "pass"]
    if failed:
        first = failed[0]
        ttl = _ttl(policy, ev, default_ttl, now)
        return Verdict(False, first.name, first.reason or "policy-failed", first.message, ttl=ttl)
    return Verdict(True, ",".join(r.name for r in ev.rules), "", "", ttl=_ttl(policy, ev, default_ttl, now))
