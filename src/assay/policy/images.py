"""The policy as a check for ``assay copy --policy`` (promotion into a repository of verified artifacts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay.errors import VerificationError
from assay.oci.target import Target
from assay.policy import loader
from assay.policy.evaluate import evaluate
from assay.policy.materials import attached_target


def copy_check(policy_path: str) -> Callable[[Target, str, Any], Any]:
    policy = loader.load(policy_path)

    def check(source: Target, digest: str, attached: Any) -> Any:
        t = attached_target(source.pinned(digest), source, digest, attached)
        ev = evaluate(policy, t)
        if not ev.matched:
            raise VerificationError(
                "policy-not-applicable", f"policy {policy.name} does not match {t.name}; refusing to copy"
            )
        failed = [r for r in ev.rules if r.status != "pass"]
        if failed and policy.mode == "enforce":
            first = failed[0]
            raise VerificationError(first.reason or "policy-failed", f"rule {first.name}: {first.message}")
        return ev.to_json()

    return check
