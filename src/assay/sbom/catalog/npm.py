"""npm: ``package-lock.json`` (lockfile v2/v3 ``packages``) and installed ``node_modules/*/package.json``."""

from __future__ import annotations

import re

from assay.errors import InputError
from assay.formats.encoding import b64decode
from assay.sbom.model import Component, lockfile_error, lockfile_json, purl
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
    doc = lockfile_json(tree.read(path), path)
    packages = doc.get("packages")
    if packages is None:
        return []  # lockfile v1 (no "packages") is not read
    if not isinstance(packages, dict):
        raise lockfile_error(path, "packages: expected an object")
    comps: dict[str, Component] = {}
    for key, info in packages.items():
        if not isinstance(info, dict):
            raise lockfile_error(path, f"packages[{key!r}]: expected an object")
        version = info.get("version")
        if not key or info.get("link") or not version:
            continue
        name = info.get("name") or key.rsplit("node_modules/", 1)[-1]
        if not isinstance(name, str) or not isinstance(version, str):
            raise lockfile_error(path, f"packages[{key!r}]: name and version must be strings")
        c = Component("npm", name, version, _purl(name, version), path)
        c.licenses = _license(info.get("license"))
        integrity = info.get("integrity")
        if isinstance(integrity, str) and integrity.startswith("sha256-"):
            try:
                c.hashes["sha256"] = b64decode(integrity[7:], f"{path}: integrity").hex()
            except InputError:
                raise lockfile_error(path, f"packages[{key!r}].integrity is not base64") from None
        comps[key] = c
    keys = set(comps)
    for key, info in packages.items():
        if key not in comps:
            continue
        for field in ("dependencies", "optionalDependencies"):
            deps = info.get(field)
            if deps is not None and not isinstance(deps, dict):
                raise lockfile_error(path, f"packages[{key!r}].{field}: expected an object")
            for dep in deps or {}:
                target = _resolve(key, dep, keys)
                if target:
                    comps[key].depends_on.append(comps[target].ref)
    return list(comps.values())


def _installed(tree: Tree, paths: list[str]) -> list[Component]:
    comps: dict[str, Component] = {}
    deps: dict[str, list[str]] = {}
    for path in paths:
        try:
            doc = lockfile_json(tree.read(path), path)
        except (InputError, FileNotFoundError, IsADirectoryError):
            continue  # an unreadable installed package.json is skipped, as npm itself would
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        c = Component("npm", name, version, _purl(name, version), path)
        c.licenses = _license(doc.get("license")) or _license(doc.get("licenses"))
        key = path[: -len("/package.json")]
        comps[key] = c
        dependencies = doc.get("dependencies")
        deps[key] = list(dependencies) if isinstance(dependencies, dict) else []
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
            except FileNotFoundError:
                continue
    out.extend(_installed(tree, [p for p in paths if not p.endswith("package-lock.json")]))
    return out
