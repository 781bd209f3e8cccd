"""CycloneDX 1.6 JSON for a list of components."""

from __future__ import annotations

import uuid
from typing import Any

from assay.sbom.licenses import classify
from assay.sbom.model import Component


def _licenses(values: list[str]) -> list[dict[str, Any]]:
    kinds = [classify(v) for v in values]
    expressions = [v for k, v in kinds if k == "expression"]
    if expressions and len(values) == 1:
        return [{"expression": expressions[0]}]
    out: list[dict[str, Any]] = []
    for kind, value in kinds:
        if kind == "id":
            out.append({"license": {"id": value}})
        else:
            out.append({"license": {"name": value}})
    return out


def document(subject: dict[str, Any], components: list[Component], timestamp: str, tool_version: str) -> dict[str, Any]:
    """A CycloneDX BOM. ``subject`` names what was catalogued (name, type, optional version/digest)."""
    refs = {c.ref for c in components}
    serial = uuid.uuid5(uuid.NAMESPACE_URL, subject["name"] + "|" + "|".join(sorted(refs)))
    root: dict[str, Any] = {
        "type": subject.get("type", "application"),
        "bom-ref": "assay:subject",
        "name": subject["name"],
    }
    if subject.get("version"):
        root["version"] = subject["version"]
    if subject.get("sha256"):
        root["hashes"] = [{"alg": "SHA-256", "content": subject["sha256"]}]
    comps = []
    for c in components:
        item: dict[str, Any] = {
            "type": "library",
            "bom-ref": c.ref,
            "name": c.name,
            "version": c.version,
            "purl": c.purl,
        }
        if c.supplier:
            item["supplier"] = {"name": c.supplier}
        if c.hashes.get("sha256"):
            item["hashes"] = [{"alg": "SHA-256", "content": c.hashes["sha256"]}]
        if c.licenses:
            item["licenses"] = _licenses(c.licenses)
        item["properties"] = [
            {"name": "assay:package:ecosystem", "value": c.ecosystem},
            {"name": "assay:location:0:path", "value": c.found_in},
        ]
        comps.append(item)
    dependencies = [{"ref": "assay:subject", "dependsOn": sorted(refs)}]
    dependencies += [{"ref": c.ref, "dependsOn": sorted(set(d for d in c.depends_on if d in refs))} for c in components]
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "assay", "version": tool_version}]},
            "component": root,
        },
        "components": comps,
        "dependencies": dependencies,
    }
