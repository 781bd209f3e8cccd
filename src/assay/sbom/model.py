"""The component model every cataloger produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote


@dataclass
class Component:
    """One package: identity, where it was found, and what it depends on (by ``ref``)."""

    ecosystem: str  # pypi, npm, deb, apk, golang
    name: str
    version: str
    purl: str
    found_in: str
    licenses: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)  # refs of other components (resolved by the cataloger)
    hashes: dict[str, str] = field(default_factory=dict)  # algorithm (sha256) -> hex
    supplier: str | None = None

    @property
    def ref(self) -> str:
        """A stable identifier within one SBOM: the purl plus where it was found."""
        return f"{self.purl}#{self.found_in}"


def purl(
    kind: str, name: str, version: str, namespace: str | None = None, qualifiers: dict[str, str] | None = None
) -> str:
    """A package URL (purl spec): ``pkg:type/namespace/name@version?qualifiers``."""
    out = f"pkg:{kind}/"
    if namespace:
        out += "/".join(quote(part, safe="") for part in namespace.split("/")) + "/"
    out += quote(name, safe="") + "@" + quote(version, safe="+")
    q = {k: v for k, v in (qualifiers or {}).items() if v}
    if q:
        out += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(q.items()))
    return out


def pypi_name(name: str) -> str:
    """PEP 503 normalised project name (the purl spec's form for pypi)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()
