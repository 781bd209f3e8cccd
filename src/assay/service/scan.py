"""The scan use case: packages in, matched against the OSV index, VEX applied, one report out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.vuln.osv import SEVERITIES as RANK
from assay.vuln.scan import Finding


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ScanResult:
    target: str
    packages: int
    subject: dict[str, Any]
    findings: list[Finding]
    suppressed: list[dict[str, str]]
    db: dict[str, str]
    started: str
    finished: str

    def render(self, fmt: str) -> str:
        """``table``, ``json``, ``sarif`` or ``predicate`` (in-toto vulns v0.2)."""
        from assay import __version__
        from assay.vuln import report

        if fmt == "table":
            return report.table(self.findings, len(self.suppressed))
        doc: Any
        if fmt == "json":
            doc = {
                "target": self.target,
                "packages": self.packages,
                "findings": [f.to_json() for f in self.findings],
                "suppressed": self.suppressed,
                "db": self.db,
            }
        elif fmt == "sarif":
            doc = report.sarif(self.findings, __version__)
        else:
            doc = report.predicate(self.findings, self.subject, self.db, self.started, self.finished, __version__)
        return json.dumps(doc, indent=2) + "\n"

    def at_or_above(self, severity: str) -> list[Finding]:
        threshold = RANK.index(severity)
        return [f for f in self.findings if f.rating in RANK and RANK.index(f.rating) >= threshold]


def scan(target: str, db: str, vex: str | None = None, auth: Any = None) -> ScanResult:
    from assay.vuln import scan as matcher
    from assay.vuln import vex as vex_mod
    from assay.vuln.db import VulnDB

    started = _now()
    index = VulnDB(Path(db))
    try:
        statements = vex_mod.load(Path(vex)) if vex else []
        packages, subject = matcher.load_packages(target, auth)
        findings, suppressed = vex_mod.apply(matcher.match(index, packages), statements)
        meta = index.meta()
    finally:
        index.close()
    return ScanResult(
        str(subject.get("name", target)), len(packages), subject, findings, suppressed, meta, started, _now()
    )
