"""Debian: the dpkg database (``var/lib/dpkg/status`` and distroless ``status.d/*``), with licenses
from DEP-5 ``usr/share/doc/PKG/copyright`` files when present, and the distro from ``etc/os-release``."""

from __future__ import annotations

import re

from assay.sbom.model import Component, purl
from assay.sbom.source import Tree

_STATUS_D = re.compile(r"(^|/)var/lib/dpkg/status\.d/[^/]+$")
_COPYRIGHT = re.compile(r"(^|/)usr/share/doc/([^/]+)/copyright$")


def wanted(path: str) -> bool:
    return (
        path.endswith("var/lib/dpkg/status")
        or bool(_STATUS_D.search(path) and not path.endswith(".md5sums"))
        or bool(_COPYRIGHT.search(path))
        or path in ("etc/os-release", "usr/lib/os-release")
    )


def paragraphs(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs (continuation lines joined with newlines)."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current, last = {}, None
        elif line[0] in " \t" and last:
            current[last] += "\n" + line.strip()
        elif ":" in line:
            k, _, v = line.partition(":")
            last = k.strip()
            current[last] = v.strip()
    if current:
        out.append(current)
    return out


def os_release(tree: Tree) -> dict[str, str]:
    for p in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = tree.read(p).decode("utf-8", "replace")
        except (FileNotFoundError, IsADirectoryError, OSError):
            continue
        out = {}
        for line in text.splitlines():
            k, sep, v = line.partition("=")
            if sep:
                out[k.strip()] = v.strip().strip('"')
        return out
    return {}


def _copyright_licenses(text: str) -> list[str]:
    found = re.findall(r"^License:\s*(\S[^\n]*)$", text, flags=re.MULTILINE)
    return list(dict.fromkeys(x.strip() for x in found if x.strip()))


def _depends(value: str) -> list[str]:
    names = []
    for alt in value.split(","):
        first = alt.split("|")[0].strip()
        name = re.split(r"[\s(:]", first, maxsplit=1)[0]
        if name:
            names.append(name)
    return names


def catalog(tree: Tree, paths: list[str]) -> list[Component]:
    release = os_release(tree)
    distro_id = release.get("ID", "debian") or "debian"
    distro = f"{distro_id}-{release['VERSION_ID']}" if release.get("VERSION_ID") else ""
    copyrights = {m.group(2): p for p in paths if (m := _COPYRIGHT.search(p))}
    comps: dict[str, Component] = {}
    deps: dict[str, list[str]] = {}
    for path in paths:
        if not (path.endswith("var/lib/dpkg/status") or _STATUS_D.search(path)):
            continue
        try:
            text = tree.read(path).decode("utf-8", "replace")
        except (FileNotFoundError, IsADirectoryError, OSError):
            continue
        for para in paragraphs(text):
            name, version = para.get("Package"), para.get("Version")
            status = para.get("Status", "install ok installed")
            if not name or not version or "installed" not in status.split() or "not-installed" in status:
                continue
            arch = para.get("Architecture", "")
            qualifiers = {"arch": arch, "distro": distro}
            source = para.get("Source", "").split(" ")[0]
            if source and source != name:
                qualifiers["upstream"] = source
            c = Component("deb", name, version, purl("deb", name, version, distro_id, qualifiers), path)
            c.supplier = para.get("Maintainer")
            if name in copyrights:
                try:
                    c.licenses = _copyright_licenses(tree.read(copyrights[name]).decode("utf-8", "replace"))
                except (FileNotFoundError, OSError):
                    pass
            comps[name] = c
            deps[name] = _depends(para.get("Depends", "") + "," + para.get("Pre-Depends", ""))
    for name, names in deps.items():
        comps[name].depends_on = [comps[d].ref for d in dict.fromkeys(names) if d in comps and d != name]
    return list(comps.values())
