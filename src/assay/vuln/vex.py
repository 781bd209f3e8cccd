"""CycloneDX VEX: ``not_affected`` (and ``false_positive``) analyses suppress findings for the
components they name (by bom-ref or purl; qualifiers are ignored when comparing purls)."""

from __future__ import annotations

import json
from pathlib import Path

from assay.errors import InputError
from assay.vuln.scan import Finding

SUPPRESSING = ("not_affected", "false_positive")


def _base(purl: str) -> str:
    return purl.split("?", 1)[0].split("#", 1)[0]


def load(path: Path) -> list[tuple[str, set[str], str]]:
    """(vulnerability id, refs, justification) of each suppressing statement."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise InputError("vex-malformed", f"{path} is not a readable JSON document") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise InputError("vex-malformed", f"{path} is not a CycloneDX VEX document")
    out = []
    for v in doc.get("vulnerabilities") or []:
        analysis = v.get("analysis") or {}
        if analysis.get("state") not in SUPPRESSING or not isinstance(v.get("id"), str):
            continue
        refs = {str(a.get("ref")) for a in v.get("affects") or [] if a.get("ref")}
        out.append((v["id"], refs, str(analysis.get("justification", analysis.get("state")))))
    return out


def apply(
    findings: list[Finding], statements: list[tuple[str, set[str], str]]
) -> tuple[list[Finding], list[dict[str, str]]]:
    """(kept findings, suppressed as {id, purl, justification})."""
    kept, suppressed = [], []
    for f in findings:
        ids = {f.id, *f.aliases}
        hit = next(
            (
                just
                for vid, refs, just in statements
                if vid in ids and (not refs or f.ref in refs or _base(f.purl) in {_base(r) for r in refs})
            ),
            None,
        )
        if hit is None:
            kept.append(f)
        else:
            suppressed.append({"id": f.id, "purl": f.purl, "justification": hit})
    return kept, suppressed
