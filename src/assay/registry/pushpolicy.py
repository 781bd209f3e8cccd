"""A project's ``push`` rule (pure): ``any`` (the roles decide), or ``ci-only`` with rules matched against a
verified CI ID token, so no other identity (humans included) may push whatever its role.

A rule is ``{issuer, repository, ref, workflow}``: ``issuer`` is required and exact; the others are glob
patterns (``fnmatch``) over the token's claims — ``repository`` over ``repository`` (GitHub) or
``project_path`` (GitLab), ``ref`` over ``ref``, ``workflow`` over the ``workflow`` claim or the workflow
file path of ``job_workflow_ref``/``workflow_ref`` (GitHub) or ``ci_config_ref_uri`` (GitLab).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from assay.errors import InputError

MODES = ("any", "ci-only")
RULE_KEYS = ("issuer", "repository", "ref", "workflow")
MAX_RULES = 64
MAX_VALUE = 512


@dataclass(frozen=True)
class PushPolicy:
    """The push rule of one project."""

    push: str = "any"
    rules: tuple[dict[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As the API shows it."""
        return {"push": self.push, "rules": [dict(r) for r in self.rules]}


def parse(doc: Any) -> PushPolicy:
    """A push-policy document, or ``bad-push-policy``."""
    if not isinstance(doc, dict) or set(doc) - {"push", "rules"}:
        raise InputError("bad-push-policy", "expected {push: any|ci-only, rules: [...]}")
    push = doc.get("push", "any")
    if push not in MODES:
        raise InputError("bad-push-policy", f"push must be one of {', '.join(MODES)}")
    raw = doc.get("rules", [])
    if not isinstance(raw, list) or len(raw) > MAX_RULES:
        raise InputError("bad-push-policy", f"rules is a list of at most {MAX_RULES} objects")
    rules = tuple(parse_rule(r) for r in raw)
    if push == "any" and rules:
        raise InputError("bad-push-policy", "rules apply only with push: ci-only")
    return PushPolicy(push, rules)


def parse_rule(rule: Any) -> dict[str, str]:
    """One rule: string values, known keys only, an issuer URL."""
    if not isinstance(rule, dict) or not rule or set(rule) - set(RULE_KEYS):
        raise InputError("bad-push-policy", f"a rule is an object with keys among {', '.join(RULE_KEYS)}")
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_VALUE and v.isprintable() for v in rule.values()):
        raise InputError("bad-push-policy", f"rule values are non-empty strings of at most {MAX_VALUE} characters")
    issuer = rule.get("issuer", "")
    if not issuer.startswith(("https://", "http://")):
        raise InputError("bad-push-policy", "every rule names its issuer URL (issuer=https://...)")
    return {k: (v.rstrip("/") if k == "issuer" else v) for k, v in rule.items()}


def rule_from_text(text: str) -> dict[str, str]:
    """``issuer=URL,repository=org/repo,ref=refs/heads/main`` -> a rule (for the command line)."""
    rule: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise InputError("bad-push-policy", f"{part[:60]!r}: expected KEY=VALUE")
        rule[key.strip()] = value.strip()
    return parse_rule(rule)


def _workflow_paths(claims: dict[str, Any]) -> list[str]:
    found = [str(claims["workflow"])] if isinstance(claims.get("workflow"), str) else []
    for key in ("job_workflow_ref", "workflow_ref", "ci_config_ref_uri"):
        value = claims.get(key)
        if isinstance(value, str):
            path = value.split("@", 1)[0]
            repo = claims.get("repository") or claims.get("project_path")
            if isinstance(repo, str) and path.startswith(repo + "/"):
                path = path[len(repo) + 1 :]
            found.append(path)
    return found


def rule_matches(rule: dict[str, str], issuer: str, claims: dict[str, Any]) -> bool:
    """Whether a verified token from ``issuer`` with ``claims`` satisfies ``rule``."""
    if rule["issuer"] != issuer.rstrip("/"):
        return False
    repo = claims.get("repository", claims.get("project_path"))
    if "repository" in rule and not (isinstance(repo, str) and fnmatch.fnmatchcase(repo, rule["repository"])):
        return False
    ref = claims.get("ref")
    if "ref" in rule and not (isinstance(ref, str) and fnmatch.fnmatchcase(ref, rule["ref"])):
        return False
    return "workflow" not in rule or any(fnmatch.fnmatchcase(p, rule["workflow"]) for p in _workflow_paths(claims))


def push_refusal(policy: PushPolicy, kind: str, issuer: str, claims: dict[str, Any] | None) -> str | None:
    """None when ``policy`` lets this caller push (its role permitting), else the reason it does not."""
    if policy.push == "any":
        return None
    if kind != "oidc" or claims is None:
        return "push-ci-only"
    return None if any(rule_matches(r, issuer, claims) for r in policy.rules) else "push-rule-mismatch"
