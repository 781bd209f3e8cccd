"""The component model every cataloger produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
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
        out += "/".join(_quote(part) for part in namespace.split("/")) + "/"
    out += _quote(name) + "@" + _quote(version, safe="+")
    q = {k: v for k, v in (qualifiers or {}).items() if v}
    if q:
        out += "?" + "&".join(f"{k}={_quote(v)}" for k, v in sorted(q.items()))
    return out


def _quote(text: str, safe: str = "") -> str:
    """Percent-encode UTF-8; text decoded with surrogateescape (file headers) cannot fail here."""
    return quote(text.encode("utf-8", "replace"), safe=safe)


def lockfile_json(data: bytes, path: str) -> dict[str, Any]:
    """A JSON lock file's top-level object; malformed or deeply nested files are ``sbom-lockfile-malformed``."""
    from assay.errors import InputError
    from assay.formats import safejson

    try:
        doc = safejson.loads(data, what=path)
    except InputError as exc:
        raise InputError("sbom-lockfile-malformed", exc.message) from None
    if not isinstance(doc, dict):
        raise InputError("sbom-lockfile-malformed", f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


def lockfile_error(path: str, message: str) -> Exception:
    """The error for a lock file whose structure is wrong (exit 2)."""
    from assay.errors import InputError

    return InputError("sbom-lockfile-malformed", f"{path}: {message}")


def pypi_name(name: str) -> str:
    """PEP 503 normalised project name (the purl spec's form for pypi)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()
