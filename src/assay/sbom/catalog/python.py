"""Python: installed distributions (``*.dist-info/METADATA``, ``*.egg-info``) and lock files
(``requirements*.txt`` pins, ``poetry.lock``, ``uv.lock``, ``Pipfile.lock``)."""

from __future__ import annotations

import re
import tomllib
from email.parser import BytesHeaderParser

from assay.sbom.model import Component, lockfile_error, lockfile_json, purl, pypi_name
from assay.sbom.source import Tree

_REQ_FILE = re.compile(r"(^|/)requirements[^/]*\.txt$")
_LOCKS = ("poetry.lock", "uv.lock", "Pipfile.lock")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([^\s;\\]+)")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def wanted(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    return (
        path.endswith(".dist-info/METADATA")
        or path.endswith(".egg-info/PKG-INFO")
        or path.endswith(".egg-info")
        or bool(_REQ_FILE.search(path))
        or base in _LOCKS
    )


def _component(name: str, version: str, found_in: str, **kw: object) -> Component:
    return Component("pypi", name, version, purl("pypi", pypi_name(name), version), found_in, **kw)  # type: ignore[arg-type]


def _licenses(headers: object) -> list[str]:
    get = headers.get  # type: ignore[attr-defined]
    expr = get("License-Expression")
    if expr:
        return [str(expr).strip()]
    out = []
    lic = get("License")
    if lic and "\n" not in str(lic) and len(str(lic)) <= 80 and str(lic).strip().upper() not in ("UNKNOWN", ""):
        out.append(str(lic).strip())
    for c in headers.get_all("Classifier") or []:  # type: ignore[attr-defined]
        if str(c).startswith("License ::") and str(c).count("::") >= 2:
            out.append(str(c).split("::")[-1].strip())
    return list(dict.fromkeys(out))


def _requires(headers: object) -> list[str]:
    out = []
    for req in headers.get_all("Requires-Dist") or []:  # type: ignore[attr-defined]
        marker = str(req).partition(";")[2]
        if "extra" in marker:
            continue  # optional extras are not installed dependencies
        m = _REQ_NAME.match(str(req))
        if m:
            out.append(pypi_name(m.group(1)))
    return out


def _installed(tree: Tree, path: str) -> tuple[Component, list[str]] | None:
    try:
        data = tree.read(path)
    except (FileNotFoundError, IsADirectoryError, OSError):
        return None
    headers = BytesHeaderParser().parsebytes(data)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    return _component(str(name), str(version), path, licenses=_licenses(headers)), _requires(headers)


def _requirements(tree: Tree, path: str) -> list[Component]:
    text = tree.read(path).decode("utf-8", "replace").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        m = _PIN.match(line)
        if not m:
            continue  # unpinned requirements are not a resolved component
        hashes = re.findall(r"--hash[= ]sha256:([0-9a-f]{64})", line)
        c = _component(m.group(1), m.group(2), path)
        if len(hashes) == 1:
            c.hashes["sha256"] = hashes[0]
        out.append(c)
    return out


def _toml_lock(tree: Tree, path: str) -> list[tuple[Component, list[str]]]:
    try:
        doc = tomllib.loads(tree.read(path).decode("utf-8", "replace"))
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise lockfile_error(path, f"not TOML: {exc}") from None
    out = []
    packages = doc.get("package", [])
    if not isinstance(packages, list):
        raise lockfile_error(path, "package: expected an array of tables")
    for pkg in packages:
        if not isinstance(pkg, dict):
            raise lockfile_error(path, "package: expected an array of tables")
        name, version = pkg.get("name"), pkg.get("version")
        if not name or not version:
            continue
        deps = pkg.get("dependencies", {})
        if isinstance(deps, dict):
            names = [str(n) for n in deps]
        elif isinstance(deps, list):
            names = [str(d.get("name", "")) for d in deps if isinstance(d, dict)]
        else:
            raise lockfile_error(path, f"package {name!r}: dependencies must be a table or an array")
        out.append((_component(str(name), str(version), path), [pypi_name(n) for n in names if n]))
    return out


def _pipfile_lock(tree: Tree, path: str) -> list[Component]:
    doc = lockfile_json(tree.read(path), path)
    out = []
    for section in ("default", "develop"):
        entries = doc.get(section)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise lockfile_error(path, f"{section}: expected an object")
        for name, info in entries.items():
            if not isinstance(info, dict):
                raise lockfile_error(path, f"{section}.{name}: expected an object")
            version = info.get("version")
            if version is None:
                continue
            if not isinstance(version, str):
                raise lockfile_error(path, f"{section}.{name}.version: expected a string")
            if version.lstrip("="):
                out.append(_component(name, version.lstrip("="), path))
    return out


def _link(found: list[tuple[Component, list[str]]]) -> list[Component]:
    """Resolve dependency names to components found in the same place (directory or lock file)."""
    by_scope: dict[tuple[str, str], Component] = {}
    for c, _ in found:
        by_scope[(_scope(c.found_in), pypi_name(c.name))] = c
    for c, deps in found:
        for d in deps:
            target = by_scope.get((_scope(c.found_in), d))
            if target is not None and target is not c:
                c.depends_on.append(target.ref)
    return [c for c, _ in found]


def _scope(found_in: str) -> str:
    if found_in.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO")):
        return found_in.rsplit("/", 2)[0] if found_in.count("/") >= 2 else ""
    if found_in.endswith(".egg-info"):
        return found_in.rsplit("/", 1)[0] if "/" in found_in else ""
    return found_in


def catalog(tree: Tree, paths: list[str]) -> list[Component]:
    found: list[tuple[Component, list[str]]] = []
    plain: list[Component] = []
    for path in paths:
        try:
            if path.endswith(("METADATA", "PKG-INFO", ".egg-info")):
                got = _installed(tree, path)
                if got:
                    found.append(got)
            elif path.endswith(("poetry.lock", "uv.lock")):
                found.extend(_toml_lock(tree, path))
            elif path.endswith("Pipfile.lock"):
                plain.extend(_pipfile_lock(tree, path))
            else:
                plain.extend(_requirements(tree, path))
        except (FileNotFoundError, IsADirectoryError):
            continue  # listed but not readable (an image path without kept contents)
    return _link(found) + plain
