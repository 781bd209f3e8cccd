"""A rule's outcome and the checks it compared: shared by the evaluator and the rules it delegates to.

Kept apart from :mod:`assay.policy.evaluate` so that a rule module (``layout_rule``) builds its result without
importing the evaluator that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.policy.materials import Material


@dataclass
class Check:
    what: str
    expected: str
    found: str

    def to_json(self) -> dict[str, str]:
        return {"what": self.what, "expected": self.expected, "found": self.found}


@dataclass
class RuleResult:
    name: str
    kind: str
    status: str  # pass | fail | error
    reason: str = ""
    message: str = ""
    checks: list[Check] = field(default_factory=list)
    inputs: list[Material] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.name, "kind": self.kind, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.message:
            out["message"] = self.message
        out["checks"] = [c.to_json() for c in self.checks]
        return out
