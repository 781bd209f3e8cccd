"""Policy results as a table, JSON or SARIF 2.1.0."""

from __future__ import annotations

from typing import Any

from assay.policy.evaluate import Evaluation


def table(evaluations: list[Evaluation]) -> str:
    lines = []
    for ev in evaluations:
        head = f"{ev.target.name} (sha256:{ev.target.sha256[:12]}…) — policy {ev.policy.name} [{ev.policy.mode}]"
        if not ev.matched:
            lines.append(f"{head}: not matched by the policy, nothing required")
            continue
        lines.append(head)
        rows = [("RULE", "KIND", "STATUS", "REASON", "EXPECTED / FOUND")]
        for r in ev.rules:
            compared = "; ".join(
                f"{c.what}: {c.expected} / {c.found}" if c.expected else f"{c.what}: {c.found}" for c in r.checks
            )
            rows.append((r.name, r.kind, r.status, r.reason or "-", compared or r.message or "-"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
        verdict = "PASS" if ev.passed else "FAIL"
        if not ev.passed and ev.policy.mode != "enforce":
            verdict += f" ({ev.policy.mode} mode: would have failed; not blocking)"
        lines.append(f"  => {verdict}")
    return "\n".join(lines) + "\n"


def to_json(evaluations: list[Evaluation]) -> dict[str, Any]:
    return {"evaluations": [ev.to_json() for ev in evaluations], "passed": not any(ev.blocking for ev in evaluations)}


def sarif(evaluations: list[Evaluation], tool_version: str) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for ev in evaluations:
        for r in ev.rules:
            rid = f"{ev.policy.name}/{r.name}"
            rules.setdefault(
                rid, {"id": rid, "shortDescription": {"text": f"{r.kind} rule {r.name} of policy {ev.policy.name}"}}
            )
            if r.status == "pass":
                continue
            level = "error" if ev.policy.mode == "enforce" else "warning"
            results.append(
                {
                    "ruleId": rid,
                    "level": level,
                    "message": {"text": f"{r.reason}: {r.message}"},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": ev.target.name},
                            }
                        },
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": ev.policy.path},
                                "region": {
                                    "startLine": next((ru.line for ru in ev.policy.rules if ru.name == r.name), 1)
                                },
                            }
                        },
                    ],
                    "properties": {"reason": r.reason, "checks": [c.to_json() for c in r.checks]},
                }
            )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "assay-policy", "version": tool_version, "rules": list(rules.values())}},
                "results": results,
            }
        ],
    }
