"""``assay policy test DIR``: fixture cases (``cases/*.yaml``) with expected results per rule, like
``kyverno test``. A case names its policy (default ``DIR/policy.yaml``), target, bundles and ``now``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from assay.errors import AssayError, InputError
from assay.formats import safeyaml
from assay.oci.reference import is_image_argument
from assay.policy import loader
from assay.policy.evaluate import evaluate
from assay.policy.materials import blob_target, image_target

CASE_KEYS = {"name", "policy", "target", "bundles", "now", "expect"}


@dataclass
class CaseResult:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)


def _case(path: Path) -> dict[str, Any]:
    try:
        doc = safeyaml.load(path.read_text(encoding="utf-8", errors="replace"), what=str(path))
    except OSError as exc:
        raise InputError("policy-test-malformed", f"{path}: {exc.strerror or exc}") from None
    except InputError as exc:
        raise InputError("policy-test-malformed", exc.message) from None
    if not isinstance(doc, dict) or "target" not in doc or "expect" not in doc:
        raise InputError("policy-test-malformed", f"{path}: a case needs 'target' and 'expect'")
    unknown = set(doc) - CASE_KEYS
    if unknown:
        raise InputError("policy-test-malformed", f"{path}: unknown key {sorted(unknown)[0]!r}")
    return doc


def run(directory: Path) -> list[CaseResult]:
    cases = sorted((directory / "cases").glob("*.y*ml"))
    if not cases:
        raise InputError("policy-test-malformed", f"{directory}/cases holds no *.yaml cases")
    policies: dict[Path, Any] = {}
    out = []
    for path in cases:
        doc = _case(path)
        base = path.parent
        policy_path = (base / doc["policy"]) if "policy" in doc else directory / "policy.yaml"
        policy = policies.get(policy_path) or loader.load(str(policy_path))
        policies[policy_path] = policy
        target_arg = str(doc["target"])
        if not (base / target_arg).exists() and is_image_argument(target_arg):
            if target_arg.startswith("oci:") and not Path(target_arg[4:].split(":")[0]).is_absolute():
                target_arg = "oci:" + str(base / target_arg[4:])
            target = image_target(target_arg)
        else:
            bundles = [str(base / b) for b in doc["bundles"]] if "bundles" in doc else None
            target = blob_target(str(base / target_arg), bundles)
        now = datetime.fromisoformat(str(doc["now"]).replace("Z", "+00:00")) if "now" in doc else None
        name = str(doc.get("name", path.stem))
        try:
            ev = evaluate(policy, target, now)
        except AssayError as exc:
            out.append(CaseResult(name, False, [f"evaluation failed: {exc.reason}: {exc.message}"]))
            continue
        expect = doc["expect"]
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
        out.append(CaseResult(name, not problems, problems))
    return out
