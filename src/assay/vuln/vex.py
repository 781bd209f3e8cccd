"""CycloneDX VEX: ``not_affected`` (and ``false_positive``) analyses suppress findings for the
components they name (by bom-ref or purl; qualifiers are ignored when comparing purls)."""

from __future__ import annotations

from pathlib import Path

from assay.errors import InputError
from assay.formats import safejson
from assay.formats.encoding import objects, optional_object
from assay.vuln.scan import Finding

SUPPRESSING = ("not_affected", "false_positive")


def _base(purl: str) -> str:
    return purl.split("?", 1)[0].split("#", 1)[0]


def load(path: Path) -> list[tuple[str, set[str], str]]:
    """(vulnerability id, refs, justification) of each suppressing statement."""
    try:
        doc = safejson.loads(path.read_bytes(), what=str(path))
    except OSError as exc:
        raise InputError("vex-malformed", f"{path} is not readable: {exc.strerror or exc}") from None
    except InputError as exc:
        raise InputError("vex-malformed", exc.message) from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise InputError("vex-malformed", f"{path} is not a CycloneDX VEX document")
    out = []
    for v in objects(doc.get("vulnerabilities"), f"{path}: vulnerabilities", reason="vex-malformed"):
        analysis = optional_object(v.get("analysis"), f"{path}: analysis", reason="vex-malformed")
        if analysis.get("state") not in SUPPRESSING or not isinstance(v.get("id"), str):
            continue
        affects = objects(v.get("affects"), f"{path}: affects", reason="vex-malformed")
        refs = {str(a.get("ref")) for a in affects if a.get("ref")}
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
