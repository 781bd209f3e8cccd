"""npm: ``package-lock.json`` (lockfile v2/v3 ``packages``) and installed ``node_modules/*/package.json``."""

from __future__ import annotations

import json
import re

from assay.sbom.model import Component, purl
from assay.sbom.source import Tree

_INSTALLED = re.compile(r"(^|/)node_modules/(@[^/]+/)?[^/@][^/]*/package\.json$")


def wanted(path: str) -> bool:
    return path.endswith("package-lock.json") or bool(_INSTALLED.search(path))


def _purl(name: str, version: str) -> str:
    if name.startswith("@") and "/" in name:
        scope, _, base = name.partition("/")
        return purl("npm", base, version, namespace=scope)
    return purl("npm", name, version)


def _license(value: object) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return [value["type"]]
    if isinstance(value, list):
        return [x for v in value for x in _license(v)]
    return []


def _resolve(key: str, dep: str, keys: set[str]) -> str | None:
    """Node's resolution: ``key/node_modules/dep``, then each parent's, then the top level."""
    base = key
    while True:
        candidate = f"{base}/node_modules/{dep}" if base else f"node_modules/{dep}"
        if candidate in keys:
            return candidate
        if not base:
            return None
        idx = base.rfind("/node_modules/")
        base = base[:idx] if idx >= 0 else ""


def _lockfile(tree: Tree, path: str) -> list[Component]:
    doc = json.loads(tree.read(path))
    packages = doc.get("packages")
    if not isinstance(packages, dict):
        return []  # lockfile v1 (no "packages") is not read
    comps: dict[str, Component] = {}
    for key, info in packages.items():
        if not key or not isinstance(info, dict) or info.get("link") or not info.get("version"):
            continue
        name = info.get("name") or key.rsplit("node_modules/", 1)[-1]
        c = Component("npm", name, str(info["version"]), _purl(name, str(info["version"])), path)
        c.licenses = _license(info.get("license"))
        integrity = str(info.get("integrity", ""))
        if integrity.startswith("sha256-"):
            import base64

            c.hashes["sha256"] = base64.b64decode(integrity[7:]).hex()
        comps[key] = c
    keys = set(comps)
    for key, info in packages.items():
        if key not in comps:
            continue
        for dep in {**(info.get("dependencies") or {}), **(info.get("optionalDependencies") or {})}:
            target = _resolve(key, dep, keys)
            if target:
                comps[key].depends_on.append(comps[target].ref)
    return list(comps.values())


def _installed(tree: Tree, paths: list[str]) -> list[Component]:
    comps: dict[str, Component] = {}
    deps: dict[str, list[str]] = {}
    for path in paths:
        try:
            doc = json.loads(tree.read(path))
        except (ValueError, FileNotFoundError, IsADirectoryError):
            continue
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        c = Component("npm", name, version, _purl(name, version), path)
        c.licenses = _license(doc.get("license")) or _license(doc.get("licenses"))
        key = path[: -len("/package.json")]
        comps[key] = c
        deps[key] = list(doc.get("dependencies") or {})
    groups: dict[str, set[str]] = {}
    for key in comps:
        prefix = key[: key.find("node_modules/")]
        groups.setdefault(prefix, set()).add(key[len(prefix) :])
    for key, names in deps.items():
        prefix = key[: key.find("node_modules/")]
        for dep in names:
            rel = _resolve(key[len(prefix) :], dep, groups[prefix])
            if rel:
                comps[key].depends_on.append(comps[prefix + rel].ref)
    return list(comps.values())


def catalog(tree: Tree, paths: list[str]) -> list[Component]:
    out: list[Component] = []
    for path in paths:
        if path.endswith("package-lock.json"):
            try:
                out.extend(_lockfile(tree, path))
            except (ValueError, FileNotFoundError):
                continue
    out.extend(_installed(tree, [p for p in paths if not p.endswith("package-lock.json")]))
    return out
