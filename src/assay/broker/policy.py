"""Decryption policies: which platforms may unwrap with a key, as rules over verified workload-token claims.

A document::

    {"rules": [{"name": "ci", "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:org/app:ref:refs/heads/main" | "subjectRegexp": "^repo:org/.*$",
                "audience": "assay-broker", "claims": {"repository": "org/app"},
                "condition": "claims.namespace == 'prod'", "notBefore": "2026-01-01T00:00:00Z",
                "notAfter": "2027-01-01T00:00:00Z"}]}

or, for platform evidence signed by a trusted attester (an in-toto statement bound to the request's nonce)::

    {"name": "tee", "attester": "key:<id>" | "ISSUER=SUBJECT", "predicateType": "https://…",
     "condition": "platform.tee == 'sev-snp' && platform.measurement == 'abc…'"}

(a rule with both ``issuer`` and ``attester`` checks both). ``claims`` values are compared with the token's
claims of those names; an object value matches nested claims as a subset, member by member, so a Kubernetes
service-account token is pinned to a namespace and account with
``"claims": {"kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "app"}}}`` (other members of the
token's object are not looked at; lists and scalars must be equal, a boolean never equals a number). ``condition`` sees ``claims`` (the token's) and
``platform`` (the evidence's predicate). A request is granted when every check of one rule passes; refused otherwise, naming each rule's first failing
check. Evaluation is pure: claims and the time are handed in.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assay.errors import InputError
from assay.formats import safejson
from assay.policy.cel import CelError, Condition

FIELDS = {"name", "issuer", "subject", "subjectRegexp", "audience", "claims", "condition", "notBefore", "notAfter",
          "attester", "predicateType"}  # fmt: skip
MAX_DOCUMENT = 64 * 1024


def _bad(message: str) -> InputError:
    return InputError("broker-policy-invalid", message)


def _time(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{where}: an RFC 3339 time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"{where}: {value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise _bad(f"{where}: the time needs a zone (Z or +hh:mm)")
    return parsed.timestamp()


def _compile(source: str, where: str) -> Condition:
    import celpy

    try:
        env = celpy.Environment()
        tree = env.compile(source)
        return Condition(source, tree, env.program(tree))
    except Exception as exc:  # celpy's parse errors have several types
        raise _bad(f"{where}: {source!r} does not compile: {str(exc).splitlines()[0] if str(exc) else exc}") from None


@dataclass(frozen=True)
class Rule:
    name: str
    issuer: str | None  # None: the rule asks for no workload token (an attestation rule)
    subject: str | None
    subject_re: re.Pattern[str] | None
    audience: str | None
    claims: dict[str, Any]
    condition: Condition | None
    not_before: float | None
    not_after: float | None
    attester: str | None = None  # the signer of the platform evidence: key:ID or ISSUER=SUBJECT
    predicate_type: str | None = None

    def first_failure(
        self, claims: dict[str, Any], now: float, platform: dict[str, Any] | None = None
    ) -> tuple[str, str] | None:
        """None when the rule passes, else (reason code, the check that failed). ``platform`` is verified
        platform evidence: ``{"signer", "predicateType", "claims"}``."""
        if self.not_before is not None and now < self.not_before:
            return "policy-time-window", "not yet in the rule's time window (notBefore)"
        if self.not_after is not None and now > self.not_after:
            return "policy-time-window", "past the rule's time window (notAfter)"
        if self.attester is not None:
            if platform is None:
                return "policy-attestation-missing", "the rule needs platform evidence signed by an attester"
            if platform.get("signer") != self.attester:
                return "policy-attester", f"the evidence is signed by {platform.get('signer')!r}, not {self.attester!r}"
            if self.predicate_type is not None and platform.get("predicateType") != self.predicate_type:
                return "policy-attestation-type", f"the evidence is a {platform.get('predicateType')!r} statement"
        if self.issuer is not None:
            failed = self._token(claims)
            if failed is not None:
                return failed
        if self.condition is not None:
            scope = {"claims": claims, "platform": (platform or {}).get("claims") or {}}
            try:
                ok = self.condition.evaluate(scope)
            except CelError as exc:
                return "policy-condition", f"condition {self.condition.source!r} failed to evaluate: {exc}"
            if ok is not True:
                return "policy-condition", f"condition {self.condition.source!r} is false"
        return None

    def _token(self, claims: dict[str, Any]) -> tuple[str, str] | None:
        assert self.issuer is not None
        if str(claims.get("iss", "")).rstrip("/") != self.issuer.rstrip("/"):
            return "policy-issuer", f"issuer {claims.get('iss')!r} is not {self.issuer!r}"
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if self.audience not in auds:
            return "policy-audience", f"audience {aud!r} does not include {self.audience!r}"
        sub = str(claims.get("sub", ""))
        if self.subject is not None and sub != self.subject:
            return "policy-subject", f"subject {sub!r} is not {self.subject!r}"
        if self.subject_re is not None and not self.subject_re.fullmatch(sub):
            return "policy-subject", f"subject {sub!r} does not match {self.subject_re.pattern!r}"
        for name, want in self.claims.items():
            failed = _mismatch(claims.get(name), want, name)
            if failed is not None:
                return "policy-claim", failed
        return None


def _mismatch(have: Any, want: Any, path: str) -> str | None:
    """None when the claim ``have`` matches the policy's ``want`` (objects as subsets), else what differs."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return f"claim {path} is {_show(have)}, not an object"
        for name, value in want.items():
            failed = _mismatch(have.get(name), value, f"{path}.{name}")
            if failed is not None:
                return failed
        return None
    if have != want or isinstance(have, bool) != isinstance(want, bool):
        return f"claim {path} is {_show(have)}, not {_show(want)}"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class Decision:
    granted: bool
    rule: str | None  # the rule that granted
    failures: dict[str, tuple[str, str]]  # rule name -> (reason code, first failing check) when refused

    def reason(self) -> str:
        return "; ".join(f"rule {n}: {why}" for n, (_, why) in self.failures.items()) or "the policy has no rules"

    def code(self) -> str:
        """The refusal's reason code: the failing check's when every rule failed the same way, else the generic."""
        codes = {c for c, _ in self.failures.values()}
        return codes.pop() if len(codes) == 1 else "policy-refused"

    def failed_rules(self) -> list[str]:
        return list(self.failures)


@dataclass(frozen=True)
class DecryptionPolicy:
    rules: tuple[Rule, ...]
    digest: str

    def decide(self, claims: dict[str, Any], now: float, platform: dict[str, Any] | None = None) -> Decision:
        failures: dict[str, tuple[str, str]] = {}
        for rule in self.rules:
            why = rule.first_failure(claims, now, platform)
            if why is None:
                return Decision(True, rule.name, {})
            failures[rule.name] = why
        return Decision(False, None, failures)


def parse(data: bytes) -> DecryptionPolicy:
    """Parse and check a decryption-policy document (JSON); ``broker-policy-invalid`` names what is wrong."""
    if len(data) > MAX_DOCUMENT:
        raise _bad(f"the policy is larger than {MAX_DOCUMENT} bytes")
    try:
        doc = safejson.loads(data, what="the policy")
    except InputError as exc:
        raise _bad(exc.message) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list) or not doc["rules"]:
        raise _bad("the policy needs a non-empty rules list")
    unknown = set(doc) - {"rules", "apiVersion", "description"}
    if unknown:
        raise _bad(f"unknown top-level fields: {sorted(unknown)}")
    rules = []
    for i, r in enumerate(doc["rules"]):
        where = f"rules[{i}]"
        if not isinstance(r, dict):
            raise _bad(f"{where}: an object")
        if set(r) - FIELDS:
            raise _bad(f"{where}: unknown fields {sorted(set(r) - FIELDS)}")
        token_rule = "issuer" in r or "attester" not in r
        needed = ("name", "issuer", "audience") if token_rule else ("name", "attester")
        for f in (*needed, *(x for x in ("attester", "predicateType") if x in r)):
            if not isinstance(r.get(f), str) or not r[f]:
                raise _bad(f"{where}.{f}: a non-empty string is required")
        if token_rule and "subject" not in r and "subjectRegexp" not in r:
            raise _bad(f"{where}: subject or subjectRegexp is required")
        try:
            sub_re = re.compile(r["subjectRegexp"]) if "subjectRegexp" in r else None
        except (re.error, TypeError):
            raise _bad(f"{where}.subjectRegexp: not a regular expression") from None
        claims = r.get("claims") or {}
        if not isinstance(claims, dict):
            raise _bad(f"{where}.claims: an object of claim values")
        cond = r.get("condition")
        if cond is not None and not isinstance(cond, str):
            raise _bad(f"{where}.condition: a CEL expression string")
        rules.append(
            Rule(
                r["name"],
                r.get("issuer"),
                r.get("subject"),
                sub_re,
                r.get("audience"),
                claims,
                _compile(cond, f"{where}.condition") if cond else None,
                _time(r.get("notBefore"), f"{where}.notBefore"),
                _time(r.get("notAfter"), f"{where}.notAfter"),
                r.get("attester"),
                r.get("predicateType"),
            )
        )
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise _bad("rule names must be unique")
    return DecryptionPolicy(tuple(rules), "sha256:" + hashlib.sha256(data).hexdigest())


@functools.lru_cache(maxsize=128)
def parse_cached(data: bytes) -> DecryptionPolicy:
    """:func:`parse`, remembered by content (compiling CEL costs milliseconds; a stored version never changes)."""
    return parse(data)
