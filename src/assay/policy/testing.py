"""``assay policy test DIR``: fixture cases (``cases/*.yaml``) with expected results per rule, like
``kyverno test``. A case names its policy (default ``DIR/policy.yaml``), target, bundles and ``now``.

Pure: a case's text is checked and an evaluation compared with what it expects here; reading the
case files, policies and targets is :func:`assay.service.policy.run_tests`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import InputError
from assay.formats import safeyaml
from assay.policy.evaluate import Evaluation

CASE_KEYS = {"name", "policy", "target", "bundles", "now", "expect"}


@dataclass
class CaseResult:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)


def parse_case(text: str, path: Path) -> dict[str, Any]:
    """A case document checked for its keys; InputError ``policy-test-malformed`` otherwise."""
    try:
        doc = safeyaml.load(text, what=str(path))
    except InputError as exc:
        raise InputError("policy-test-malformed", exc.message) from None
    if not isinstance(doc, dict) or "target" not in doc or "expect" not in doc:
        raise InputError("policy-test-malformed", f"{path}: a case needs 'target' and 'expect'")
    unknown = set(doc) - CASE_KEYS
    if unknown:
        raise InputError("policy-test-malformed", f"{path}: unknown key {sorted(unknown)[0]!r}")
    return doc


def expected_problems(expect: dict[str, Any], ev: Evaluation) -> list[str]:
    """How an evaluation differs from a case's ``expect`` (overall result and per-rule status[:reason])."""
    problems = []
    got_result = ("pass" if ev.passed else "fail") if ev.matched else "not-applicable"
    if "result" in expect and expect["result"] != got_result:
        problems.append(f"result: expected {expect['result']}, got {got_result}")
    got = {r.name: r for r in ev.rules}
    for rule, want in (expect.get("rules") or {}).items():
        if rule not in got:
            problems.append(f"rule {rule}: not in the policy's results")
            continue
        want_status, _, want_reason = str(want).partition(":")
        r = got[rule]
        if r.status != want_status.strip() or (want_reason and r.reason != want_reason.strip()):
            problems.append(f"rule {rule}: expected {want}, got {r.status}{':' + r.reason if r.reason else ''}")
    return problems
