"""Alpine: the apk database ``lib/apk/db/installed`` (P name, V version, A arch, L license, D depends,
p provides, o origin, m maintainer)."""

from __future__ import annotations

from assay.sbom.catalog.debian import os_release
from assay.sbom.model import Component, purl
from assay.sbom.source import Tree


def wanted(path: str) -> bool:
    return path.endswith("lib/apk/db/installed") or path in ("etc/os-release", "usr/lib/os-release")


def records(text: str) -> list[dict[str, list[str]]]:
    out: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current = {}
            continue
        if len(line) >= 2 and line[1] == ":":
            current.setdefault(line[0], []).append(line[2:])
    if current:
        out.append(current)
    return out


def catalog(tree: Tree, paths: list[str]) -> list[Component]:
    release = os_release(tree)
    is_alpine = release.get("ID") == "alpine"
    distro = f"alpine-{release['VERSION_ID']}" if is_alpine and release.get("VERSION_ID") else ""
    out: list[Component] = []
    for path in paths:
        if not path.endswith("lib/apk/db/installed"):
            continue
        try:
            text = tree.read(path).decode("utf-8", "replace")
        except (FileNotFoundError, OSError):
            continue
        comps: dict[str, Component] = {}
        provides: dict[str, str] = {}
        deps: dict[str, list[str]] = {}
        for rec in records(text):
            name, version = (rec.get("P") or [""])[0], (rec.get("V") or [""])[0]
            if not name or not version:
                continue
            arch = (rec.get("A") or [""])[0]
            qualifiers = {"arch": arch, "distro": distro}
            origin = (rec.get("o") or [""])[0]
            if origin and origin != name:
                qualifiers["upstream"] = origin
            c = Component("apk", name, version, purl("apk", name, version, "alpine", qualifiers), path)
            lic = (rec.get("L") or [""])[0]
            c.licenses = [lic] if lic else []
            c.supplier = (rec.get("m") or [""])[0] or None
            comps[name] = c
            provides[name] = name
            for p in " ".join(rec.get("p", [])).split():
                provides[p.split("=")[0]] = name
            deps[name] = [
                d.lstrip("!").split("=")[0].split(">")[0].split("<")[0] for d in " ".join(rec.get("D", [])).split()
            ]
        for name, names in deps.items():
            refs = [
                comps[provides[d]].ref for d in names if d in provides and provides[d] != name and not d.startswith("!")
            ]
            comps[name].depends_on = list(dict.fromkeys(refs))
        out.extend(comps.values())
    return out
