"""Evaluating a compiled policy against one target's materials — pure, deterministic, no network.

Order for every rule: select the materials of the rule's kind → verify each
against the authorities (keys: distinct keys counted against the threshold;
keyless: issuer, subject and claims compared, each value reported) → for
attestations, age, then the rule's own checks (CEL conditions, provenance
source, SBOM parse, vulnerability threshold). A rule passes when one
material (or, for keys, enough distinct keys) satisfies all of it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from assay.errors import AssayError
from assay.policy.materials import Material, Target
from assay.policy.model import CLAIM_FIELDS, Authorities, Keyless, Policy, Rule
from assay.policy.result import Check, RuleResult
from assay.verify import pipeline
from assay.verify.identity import IdentityPolicy, ci_identity
from assay.verify.model import Result
from assay.verify.policy import Policy as VerifyPolicy
from assay.vuln.osv import SEVERITIES

ANY_IDENTITY = IdentityPolicy(None, ".*", None, ".*")
RANK = SEVERITIES
RATING_SCORE = {"none": 0.0, "low": 1.0, "medium": 5.0, "high": 7.0, "critical": 9.0}  # a score inside each band


@dataclass
class Evaluation:
    policy: Policy
    target: Target
    matched: bool
    rules: list[RuleResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.status == "pass" for r in self.rules)

    @property
    def blocking(self) -> bool:
        """True when the result should fail the command (enforce mode and a rule did not pass)."""
        return self.matched and not self.passed and self.policy.mode in ("enforce", "allow-unmatched")

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target.name,
            "digest": "sha256:" + self.target.sha256,
            "policy": self.policy.name,
            "mode": self.policy.mode,
            "matched": self.matched,
            "result": ("pass" if self.passed else "fail") if self.matched else "not-applicable",
            "rules": [r.to_json() for r in self.rules],
        }


# ---- matching ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # admission matches the same globs on every request
def glob_re(pattern: str) -> re.Pattern[str]:
    """``**`` crosses ``/``; ``*`` and ``?`` do not."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def name_matches(pattern: str, target: Target) -> bool:
    """Images match on ``registry/repository``; blobs on their path, or (for a pattern without ``/``)
    on the file name in any directory, as in .gitignore."""
    if target.kind == "image":
        return bool(glob_re(pattern).fullmatch(target.match_name))
    path = target.name.removeprefix("./")
    if "/" not in pattern:
        path = path.rsplit("/", 1)[-1]
    return bool(glob_re(pattern).fullmatch(path))


def matches(policy: Policy, target: Target) -> bool:
    patterns = policy.images if target.kind == "image" else policy.blobs
    if not any(name_matches(p, target) for p in patterns):
        return False
    if any(name_matches(p, target) for p in policy.exclude):
        return False
    if target.kind == "image" and (policy.tags or policy.tag_re):
        tag = target.tag or ""
        if tag not in policy.tags and not (policy.tag_re and policy.tag_re.fullmatch(tag)):
            return False
    return True


# ---- verification against authorities ---------------------------------------------------


class _Verifier:
    """Verifies materials against keys and identities once per evaluation (memoised)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.cache: dict[tuple[int, str, str | None], Result | AssayError] = {}

    def run(self, m: Material, key: Any, key_id: str, ptype: str | None) -> Result | AssayError:
        k = (id(m), key_id, ptype)
        if k not in self.cache:
            try:
                vp = VerifyPolicy(
                    key=key, identity=None if key is not None else ANY_IDENTITY,
                    predicate_type=ptype, expect_statement=ptype is not None,
                )  # fmt: skip
                trust = self.policy.trust if pipeline.needs_trust_root(m.bundle) else None
                self.cache[k] = pipeline.verify(m.bundle, m.artifact, vp, trust)
            except AssayError as exc:
                self.cache[k] = exc
        return self.cache[k]


def _identity_checks(who: Keyless, claims: dict[str, Any]) -> list[tuple[Check, bool]]:
    out: list[tuple[Check, bool]] = []
    issuer, subject = str(claims.get("issuer", "")), str(claims.get("subject", ""))
    if who.issuer is not None:
        out.append((Check("issuer", who.issuer, issuer), issuer == who.issuer))
    if who.issuer_re is not None:
        out.append((Check("issuer", f"/{who.issuer_re.pattern}/", issuer), bool(who.issuer_re.fullmatch(issuer))))
    if who.subject is not None:
        out.append((Check("subject", who.subject, subject), subject == who.subject))
    if who.subject_re is not None:
        out.append((Check("subject", f"/{who.subject_re.pattern}/", subject), bool(who.subject_re.fullmatch(subject))))
    for name, value in who.claims:
        found = str(claims.get(CLAIM_FIELDS[name], ""))
        out.append((Check(name, value, found or "(absent)"), found == value))
    for name, rx in who.claims_re:
        found = str(claims.get(CLAIM_FIELDS[name], ""))
        out.append((Check(name, f"/{rx.pattern}/", found or "(absent)"), bool(rx.fullmatch(found))))
    return out


def _authorised(
    v: _Verifier, auth: Authorities, mats: list[Material], attest: bool, res: RuleResult
) -> list[tuple[Material, Result]]:
    """Materials whose signer the authorities accept, with their verification results.
    On failure ``res`` is filled with the reason and the compared values."""
    accepted: list[tuple[Material, Result]] = []
    errors: list[AssayError] = []
    if auth.keys:
        by_key: dict[str, list[tuple[Material, Result]]] = {}
        for path, key in auth.keys:
            for m in mats:
                r = v.run(m, key, path, m.predicate_type if attest else None)
                if isinstance(r, Result):
                    by_key.setdefault(path, []).append((m, r))
                else:
                    errors.append(r)
        if len(by_key) >= auth.threshold:
            for pairs in by_key.values():
                accepted.extend(p for p in pairs if p not in accepted)
        else:
            res.checks.append(
                Check(
                    "distinct keys verified",
                    f">= {auth.threshold}",
                    f"{len(by_key)} ({', '.join(sorted(by_key)) or 'none'})",
                )
            )
    best: list[tuple[Check, bool]] | None = None
    for who in auth.keyless:
        for m in mats:
            if not m.bundle.certificates:
                continue
            r = v.run(m, None, "keyless", m.predicate_type if attest else None)
            if isinstance(r, AssayError):
                errors.append(r)
                continue
            checks = _identity_checks(who, r.claims)
            if all(ok for _, ok in checks):
                accepted.append((m, r))
                res.checks.extend(c for c, _ in checks)
            elif best is None or sum(ok for _, ok in checks) > sum(ok for _, ok in best):
                best = checks
    if accepted:
        return accepted
    res.status = "fail"
    if best is not None:
        failed = [c for c, ok in best if not ok]
        res.checks.extend(failed)
        first = failed[0]
        res.reason = {"issuer": "issuer-mismatch", "subject": "identity-mismatch"}.get(first.what, "claim-mismatch")
        res.message = f"{first.what}: expected {first.expected}, found {first.found}"
    elif auth.keys and res.checks:
        res.reason = "threshold-not-met"
        detail = f"; first error: {errors[0].reason}: {errors[0].message}" if errors else ""
        res.message = f"{res.checks[-1].found} of the listed keys verified, {auth.threshold} required{detail}"
    elif errors:
        res.reason, res.message = errors[0].reason, errors[0].message
    else:
        res.reason, res.message = "no-authorised-signer", "no bundle was signed by a listed authority"
    return []


# ---- rules ---------------------------------------------------------------------------------


def _signing_time(r: Result, statement: Any) -> datetime | None:
    for t in r.verified_times:
        try:
            return datetime.fromisoformat(str(t["time"]))
        except (KeyError, ValueError):
            continue
    pred = statement.get("predicate") if isinstance(statement, dict) else None
    if isinstance(pred, dict):
        for path in (("metadata", "scanFinishedOn"), ("runDetails", "metadata", "finishedOn"),
                     ("runDetails", "metadata", "startedOn"), ("timeVerified",)):  # fmt: skip
            node: Any = pred
            for p in path:
                node = node.get(p) if isinstance(node, dict) else None
            if isinstance(node, str):
                try:
                    when = datetime.fromisoformat(node.replace("Z", "+00:00"))
                    return when if when.tzinfo else when.replace(tzinfo=UTC)
                except ValueError:
                    continue
    return None


def _conditions(rule: Rule, m: Material) -> tuple[bool, Check | None, str]:
    from assay.policy.cel import CelError

    statement = m.statement if isinstance(m.statement, dict) else {}
    variables = m.cel_variables
    if variables is None:
        variables = m.cel_variables = {
            "predicate": statement.get("predicate"),
            "predicateType": statement.get("predicateType", ""),
            "subject": statement.get("subject", []),
            "statement": statement,
        }
    for source, condition in rule.conditions:
        try:
            out = condition.evaluate(variables)
        except CelError as exc:
            return False, Check("condition", source, f"error: {exc}"), "condition-error"
        if out is not True:
            return False, Check("condition", source, str(out).lower()), "condition-failed"
    return True, None, ""


def _severity(entry: dict[str, Any]) -> str:
    from assay.vuln.osv import rating_of

    best = -1.0
    for s in entry.get("severity") or []:
        score = s.get("score") if isinstance(s, dict) else None
        if isinstance(score, int | float):
            best = max(best, float(score))
        elif isinstance(score, str):
            low = score.lower()
            if low in RATING_SCORE:
                best = max(best, RATING_SCORE[low])
            else:
                try:
                    best = max(best, float(score))
                except ValueError:
                    continue
    for a in entry.get("annotations") or []:
        if isinstance(a, dict) and str(a.get("rating", "")).lower() in RATING_SCORE:
            best = max(best, RATING_SCORE[str(a["rating"]).lower()])
    return rating_of(best) if best >= 0 else "unknown"


def _specific(rule: Rule, m: Material, r: Result, now: datetime) -> tuple[str, str, list[Check]]:
    """Rule-specific checks on one verified attestation: ("", "", checks) when it passes."""
    statement = m.statement if isinstance(m.statement, dict) else {}
    checks: list[Check] = []
    if rule.max_age is not None:
        when = _signing_time(r, statement)
        if when is None:
            return "attestation-time-unknown", "the attestation has no verified or stated time", checks
        age = now - when
        checks.append(Check("age", f"<= {rule.max_age}", str(age).split(".")[0]))
        if age > rule.max_age:
            return "attestation-too-old", f"attested {when.isoformat()}, older than {rule.max_age}", checks
    if rule.kind == "attestation" and rule.conditions:
        ok, failed, reason = _conditions(rule, m)
        if not ok:
            assert failed is not None
            checks.append(failed)
            return reason, f"condition {failed.expected!r} is {failed.found}", checks
        checks.extend(Check("condition", c, "true") for c, _ in rule.conditions)
    if rule.kind == "provenance":
        from assay.attest import provenance

        o = rule.options
        expect = provenance.Expectations(o["sourceRepository"], o.get("branch"), o.get("tag"), o.get("builderId"))
        try:
            done = provenance.check(
                str(statement.get("predicateType")),
                statement.get("predicate"),
                expect,
                {k: str(x) for k, x in r.claims.items()},
            )
        except AssayError as exc:
            repo, ref, _ = provenance.source_of(statement.get("predicate") or {})
            checks += [Check("source", expect.repository, str(repo)), Check("ref", str(expect.ref or "*"), str(ref))]
            return exc.reason, exc.message, checks
        checks.extend(Check("provenance", "", d) for d in done)
    if rule.kind == "sbom":
        pred = statement.get("predicate")
        ok = isinstance(pred, dict) and (
            (pred.get("bomFormat") == "CycloneDX" and isinstance(pred.get("specVersion"), str))
            or (str(pred.get("spdxVersion", "")).startswith("SPDX-") and isinstance(pred.get("packages", []), list))
        )
        if not ok:
            return "sbom-malformed", "the SBOM attestation's predicate is not a CycloneDX or SPDX document", checks
        count = len(pred.get("components") or pred.get("packages") or [])  # type: ignore[union-attr]
        checks.append(Check("sbom", "CycloneDX or SPDX", f"{statement.get('predicateType')} ({count} components)"))
    if rule.kind == "vulnerabilities":
        fail_on = RANK.index(rule.options["failOn"])
        allowed = {}
        for a in rule.options["allow"]:
            expires = date.fromisoformat(str(a["expires"]))
            if expires >= now.date():
                allowed[str(a["id"])] = expires
        results = ((statement.get("predicate") or {}).get("scanner") or {}).get("result") or []
        blocking = []
        for entry in results:
            if not isinstance(entry, dict):
                continue
            sev = _severity(entry)
            if sev in RANK and RANK.index(sev) >= fail_on and str(entry.get("id")) not in allowed:
                blocking.append(f"{entry.get('id')} ({sev})")
        checks.append(Check(f"findings at or above {rule.options['failOn']}", "none", ", ".join(blocking) or "none"))
        if blocking:
            return (
                "vulnerability-found",
                f"{len(blocking)} finding(s) at or above {rule.options['failOn']}: {', '.join(blocking[:5])}",
                checks,
            )
    return "", "", checks


def _rule(v: _Verifier, rule: Rule, target: Target, now: datetime) -> RuleResult:
    if rule.kind == "checklist":
        from assay.policy.checklist_rule import evaluate_checklist

        return evaluate_checklist(rule, lambda sub: _rule(v, sub, target, now))
    if rule.kind == "layout":
        from assay.policy.layout_rule import evaluate_layout

        o = rule.options
        return evaluate_layout(
            rule.name, target.sha256, o["layout"], o["keys"], o["links"], now,
            step=o["step"], trust=v.policy.trust, where=o["path"],
        )  # fmt: skip
    res = RuleResult(rule.name, rule.kind, "pass")
    if rule.kind == "signature":
        mats = [m for m in target.materials if m.bundle.message_signature is not None]
        if not mats:
            res.status, res.reason, res.message = "fail", "no-signatures", f"no signature bundle for {target.name}"
            return res
        accepted = _authorised(v, rule.authorities, mats, False, res)
        res.inputs = [m for m, _ in accepted]
        return res
    mats = [m for m in target.materials if m.predicate_type in rule.predicate_types]
    if not mats:
        res.status, res.reason = "fail", "attestation-missing"
        res.message = f"no attestation of type {' or '.join(rule.predicate_types)} for {target.name}"
        res.checks.append(
            Check(
                "predicateType",
                " | ".join(rule.predicate_types),
                ", ".join(sorted({str(m.predicate_type) for m in target.materials if m.predicate_type})) or "none",
            )
        )
        return res
    auth = rule.authorities
    if rule.kind == "provenance" and not auth.keys and not auth.keyless:
        auth = _default_provenance_authority(rule)
    accepted = _authorised(v, auth, mats, True, res)
    if not accepted:
        return res
    first_failure: tuple[str, str, list[Check]] | None = None
    for m, r in accepted:
        reason, message, checks = _specific(rule, m, r, now)
        if not reason:
            res.checks.extend(checks)
            res.inputs = [m]
            return res
        first_failure = first_failure or (reason, message, checks)
    assert first_failure is not None
    res.status = "error" if first_failure[0] == "condition-error" else "fail"
    res.reason, res.message = first_failure[0], first_failure[1]
    res.checks.extend(first_failure[2])
    return res


def _default_provenance_authority(rule: Rule) -> Authorities:
    ident = ci_identity(rule.options["sourceRepository"])
    return Authorities(keyless=(Keyless(ident.issuer, None, None, re.compile(ident.identity_regexp or ".*")),))


def evaluate(policy: Policy, target: Target, now: datetime | None = None) -> Evaluation:
    """Every rule of the policy against one target (rules are independent; all are reported)."""
    now = now or datetime.now(UTC)
    ev = Evaluation(policy, target, matches(policy, target))
    if not ev.matched:
        return ev
    v = _Verifier(policy)
    for rule in policy.rules:
        try:
            ev.rules.append(_rule(v, rule, target, now))
        except AssayError as exc:
            ev.rules.append(RuleResult(rule.name, rule.kind, "error", exc.reason, exc.message))
    return ev
