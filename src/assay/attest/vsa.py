"""SLSA verification summary v1: what was verified, against which policy, from which attestations."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = "https://assay.dev/verifier"


@dataclass
class Summary:
    """The facts a VSA records; ``passed`` decides PASSED/FAILED."""

    resource_uri: str
    policy_uri: str
    policy_bytes: bytes
    inputs: list[tuple[str, bytes]] = field(default_factory=list)  # (uri, attestation bytes)
    passed: bool = True
    levels: list[str] = field(default_factory=list)
    dependency_levels: dict[str, int] = field(default_factory=dict)


def predicate(s: Summary, tool_version: str, now: datetime | None = None) -> dict[str, Any]:
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: dict[str, Any] = {
        "verifier": {"id": VERIFIER_ID, "version": {"assay": tool_version}},
        "timeVerified": when,
        "resourceUri": s.resource_uri,
        "policy": {"uri": s.policy_uri, "digest": {"sha256": hashlib.sha256(s.policy_bytes).hexdigest()}},
        "inputAttestations": [
            {"uri": uri, "digest": {"sha256": hashlib.sha256(data).hexdigest()}} for uri, data in s.inputs
        ],
        "verificationResult": "PASSED" if s.passed else "FAILED",
        "verifiedLevels": s.levels if s.passed else [],
        "slsaVersion": "1.0",
    }
    if s.dependency_levels:
        out["dependencyLevels"] = s.dependency_levels
    return out


def flags_policy(flags: dict[str, Any]) -> bytes:
    """A canonical document for a verification made from command-line flags (its digest is the policy digest)."""
    return json.dumps({"kind": "assay-cli-flags", **{k: v for k, v in sorted(flags.items()) if v is not None}},
                      sort_keys=True, separators=(",", ":")).encode()  # fmt: skip


def build_level(claims: dict[str, str], provenance_verified: bool) -> list[str]:
    """Levels a provenance verification supports: L1 for verified provenance; L2 when it was signed
    by a hosted build platform's workload identity (a CI certificate on a hosted runner)."""
    if not provenance_verified:
        return []
    levels = ["SLSA_BUILD_LEVEL_1"]
    if claims.get("buildSignerURI") and claims.get("runnerEnvironment") in ("github-hosted", "gitlab-hosted"):
        levels = ["SLSA_BUILD_LEVEL_2"]
    return levels
