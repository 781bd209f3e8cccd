"""SPDX 2.3 JSON for a list of components."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from assay.sbom.licenses import spdx_expression
from assay.sbom.model import Component


def _id(prefix: str, value: str) -> str:
    return (
        f"SPDXRef-{prefix}-"
        + re.sub(r"[^A-Za-z0-9.-]", "-", value)[:60]
        + "-"
        + hashlib.sha256(value.encode()).hexdigest()[:12]
    )


def document(subject: dict[str, Any], components: list[Component], timestamp: str, tool_version: str) -> dict[str, Any]:
    """An SPDX document describing the subject, which contains every component."""
    ids = {c.ref: _id("Package", c.ref) for c in components}
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, subject["name"] + "|" + "|".join(sorted(ids)))
    root: dict[str, Any] = {
        "SPDXID": "SPDXRef-Subject",
        "name": subject["name"],
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER" if subject.get("type") == "container" else "APPLICATION",
    }
    if subject.get("version"):
        root["versionInfo"] = subject["version"]
    if subject.get("sha256"):
        root["checksums"] = [{"algorithm": "SHA256", "checksumValue": subject["sha256"]}]
    packages = [root]
    relationships = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Subject"}
    ]
    for c in components:
        pkg: dict[str, Any] = {
            "SPDXID": ids[c.ref],
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": spdx_expression(c.licenses),
            "copyrightText": "NOASSERTION",
            "sourceInfo": f"found in {c.found_in}",
            "externalRefs": [
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.purl}
            ],
        }
        if c.licenses and pkg["licenseDeclared"] == "NOASSERTION":
            pkg["licenseComments"] = "declared: " + "; ".join(c.licenses)
        if c.supplier:
            pkg["supplier"] = "Organization: " + c.supplier.replace("\n", " ")
        if c.hashes.get("sha256"):
            pkg["checksums"] = [{"algorithm": "SHA256", "checksumValue": c.hashes["sha256"]}]
        packages.append(pkg)
        relationships.append(
            {"spdxElementId": "SPDXRef-Subject", "relationshipType": "CONTAINS", "relatedSpdxElement": ids[c.ref]}
        )
        for d in sorted(set(c.depends_on)):
            if d in ids:
                relationships.append(
                    {"spdxElementId": ids[c.ref], "relationshipType": "DEPENDS_ON", "relatedSpdxElement": ids[d]}
                )
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject["name"],
        "documentNamespace": f"https://assay.dev/spdx/{namespace}",
        "creationInfo": {"created": timestamp, "creators": [f"Tool: assay-{tool_version}"]},
        "documentDescribes": ["SPDXRef-Subject"],
        "packages": packages,
        "relationships": relationships,
    }
