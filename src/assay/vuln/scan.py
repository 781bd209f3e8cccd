"""Matching components against the OSV index, and reading the components to scan.

Components come from an SBOM (CycloneDX or SPDX JSON, by purl) or are
catalogued from a directory or image. Each purl type maps to an OSV
ecosystem; Debian and Alpine are matched by binary and source package name
within the distro release the purl names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from assay.errors import InputError
from assay.formats import safejson
from assay.formats.encoding import objects
from assay.vuln import osv
from assay.vuln.db import VulnDB, normalise_name

ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "deb": "Debian",
    "apk": "Alpine",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "maven": "Maven",
    "nuget": "NuGet",
}


@dataclass(frozen=True)
class Package:
    """A component to scan: its purl and where it came from."""

    purl: str
    ref: str
    location: str = ""


@dataclass
class Finding:
    id: str
    aliases: list[str]
    package: str
    version: str
    purl: str
    ref: str
    location: str
    rating: str
    score: float | None
    summary: str
    fixed: list[str] = field(default_factory=list)
    vectors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aliases": self.aliases,
            "package": self.package,
            "version": self.version,
            "purl": self.purl,
            "location": self.location,
            "severity": self.rating,
            "score": self.score,
            "fixedIn": self.fixed,
            "summary": self.summary,
        }


def packages_from_sbom(doc: Any, where: str) -> list[Package] | None:
    """Packages of a CycloneDX or SPDX JSON document; None when the document is neither."""
    if not isinstance(doc, dict):
        return None
    bad = "sbom-malformed"
    if doc.get("bomFormat") == "CycloneDX":
        out = []
        stack = list(objects(doc.get("components"), f"{where}: components", reason=bad))
        while stack:
            c = stack.pop()
            stack.extend(objects(c.get("components"), f"{where}: components[].components", reason=bad))
            purl = c.get("purl")
            if isinstance(purl, str):
                props = objects(c.get("properties"), f"{where}: properties", reason=bad)
                loc = next((p.get("value") for p in props if p.get("name") == "assay:location:0:path"), "")
                out.append(Package(purl, str(c.get("bom-ref") or purl), str(loc or "")))
        return out
    if str(doc.get("spdxVersion", "")).startswith("SPDX-"):
        out = []
        for p in objects(doc.get("packages"), f"{where}: packages", reason=bad):
            for ref in objects(p.get("externalRefs"), f"{where}: externalRefs", reason=bad):
                locator = ref.get("referenceLocator")
                if ref.get("referenceType") == "purl" and isinstance(locator, str):
                    out.append(Package(locator, str(p.get("SPDXID", "")), str(p.get("sourceInfo", ""))))
        return out
    return None


def load_packages(target: str, auth: Any = None) -> tuple[list[Package], dict[str, Any]]:
    """Packages of an SBOM file, or catalogued from a directory, layout or image."""
    path = Path(target)
    if path.is_file() and path.suffix == ".json":
        try:
            doc = safejson.loads(path.read_bytes(), what=target)
        except InputError as exc:
            raise InputError("sbom-malformed", exc.message) from None
        found = packages_from_sbom(doc, target)
        if found is None:
            raise InputError("sbom-unrecognised", f"{target} is neither a CycloneDX nor an SPDX JSON document")
        return found, {"name": target, "type": "sbom"}
    from assay.sbom import generate

    comps, subject = generate.catalog(target, auth)
    return [Package(c.purl, c.ref, c.found_in) for c in comps], subject


def _query(p: PackageURL) -> tuple[str, str, list[str]] | None:
    eco = ECOSYSTEMS.get(p.type)
    if eco is None:
        return None
    q = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    names = [p.name]
    release = ""
    if p.type == "npm" and p.namespace:
        names = [f"{p.namespace}/{p.name}"]
    elif p.type == "golang" and p.namespace:
        names = [f"{p.namespace}/{p.name}"]
    elif p.type == "maven" and p.namespace:
        names = [f"{p.namespace}:{p.name}"]
    elif p.type == "deb":
        if (p.namespace or "").lower() == "ubuntu":
            eco = "Ubuntu"
        distro = q.get("distro", "")
        release = distro.rsplit("-", 1)[-1] if "-" in distro else ""
        if q.get("upstream"):
            names.append(q["upstream"].split("@")[0])
    elif p.type == "apk":
        distro = q.get("distro", "")
        if "-" in distro:
            parts = distro.rsplit("-", 1)[-1].split(".")
            release = "v" + ".".join(parts[:2])
        if q.get("upstream"):
            names.append(q["upstream"])
    return eco, release, names


def _fixed(affected: osv.Affected) -> list[str]:
    return [v for _, events in affected.ranges for k, v in events if k == "fixed"]


def match(db: VulnDB, packages: list[Package]) -> list[Finding]:
    """Every (record, package) where the package's version is affected; one finding per pair."""
    findings: dict[tuple[str, str], Finding] = {}
    for pkg in packages:
        try:
            p = PackageURL.from_string(pkg.purl)
        except ValueError:
            continue
        q = _query(p)
        if q is None or not p.version:
            continue
        eco, release, names = q
        version = p.version
        for record, name in db.candidates(eco, release, names):
            for a in record.affected:
                a_eco, _, a_rel = a.ecosystem.partition(":")
                if a_eco != eco or normalise_name(eco, a.name) != name or (release and a_rel and a_rel != release):
                    continue
                if osv.affects(record, a, version):
                    key = (record.id, pkg.ref)
                    if key not in findings:
                        findings[key] = Finding(
                            record.id,
                            record.aliases,
                            p.name if not p.namespace or eco in ("Debian", "Alpine") else f"{p.namespace}/{p.name}",
                            p.version,
                            pkg.purl,
                            pkg.ref,
                            pkg.location,
                            record.rating,
                            record.score,
                            record.summary,
                            _fixed(a),
                            record.vectors,
                        )
    order = {r: i for i, r in enumerate(("critical", "high", "medium", "low", "none", "unknown"))}
    return sorted(findings.values(), key=lambda f: (order.get(f.rating, 9), f.id, f.purl))
