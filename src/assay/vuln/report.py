"""Rendering findings: a table, JSON, SARIF 2.1.0, or the in-toto vulnerability predicate v0.2."""

from __future__ import annotations

from typing import Any

from assay.vuln.scan import Finding

PREDICATE_TYPE = "https://in-toto.io/attestation/vulns/v0.2"
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "none": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0", "none": "0.0", "unknown": "5.0"}


def table(findings: list[Finding], suppressed: int) -> str:
    if not findings:
        return f"no vulnerabilities found ({suppressed} suppressed by VEX)\n"
    rows = [("ID", "SEVERITY", "PACKAGE", "VERSION", "FIXED IN", "LOCATION")]
    rows += [(f.id, f.rating, f.package, f.version, ", ".join(f.fixed) or "-", f.location) for f in findings]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(f"{len(findings)} finding(s); {suppressed} suppressed by VEX")
    return "\n".join(lines) + "\n"


def sarif(findings: list[Finding], tool_version: str) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in findings:
        rules.setdefault(
            f.id,
            {
                "id": f.id,
                "shortDescription": {"text": f.summary or f.id},
                "helpUri": f"https://osv.dev/vulnerability/{f.id}",
                "properties": {
                    "security-severity": f"{f.score:.1f}" if f.score is not None else SECURITY_SEVERITY[f.rating]
                },
            },
        )
        results.append(
            {
                "ruleId": f.id,
                "level": SARIF_LEVEL.get(f.rating, "warning"),
                "message": {
                    "text": f"{f.package} {f.version} is affected by {f.id} ({f.rating})"
                    + (f"; fixed in {', '.join(f.fixed)}" if f.fixed else "")
                },
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.location or f.purl}}}],
                "properties": {"purl": f.purl},
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "assay",
                        "version": tool_version,
                        "informationUri": "https://assay.dev",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }


def predicate(
    findings: list[Finding],
    subject: dict[str, Any],
    db_meta: dict[str, str],
    started: str,
    finished: str,
    tool_version: str,
) -> dict[str, Any]:
    """The in-toto vulns v0.2 predicate; each severity entry has a numeric score (CVSS base score) when known."""
    result = []
    for f in findings:
        severity: list[dict[str, Any]] = []
        if f.score is not None:
            severity.append({"method": "CVSS", "score": f.score})
        result.append(
            {
                "id": f.id,
                "severity": severity,
                "annotations": [{"rating": f.rating, "purl": f.purl, "fixedIn": f.fixed}],
            }
        )
    return {
        "invocation": {"uri": "", "eventId": "", "producerId": "", "builderId": ""},
        "scanner": {
            "uri": "https://assay.dev/scanner",
            "version": tool_version,
            "db": {
                "uri": "https://osv.dev",
                "version": db_meta.get("records", ""),
                "lastUpdate": db_meta.get("lastUpdate", ""),
            },
            "result": result,
        },
        "metadata": {"scanStartedOn": started, "scanFinishedOn": finished},
    }
