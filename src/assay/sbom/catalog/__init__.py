"""One cataloger per ecosystem. Each exposes ``wanted(path) -> bool`` (which files it reads) and
``catalog(tree, paths) -> list[Component]`` (pure: bytes in, components out)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assay.sbom.catalog import alpine, debian, golang, npm, python
from assay.sbom.model import Component
from assay.sbom.source import Tree


@dataclass(frozen=True)
class Cataloger:
    name: str
    wanted: Callable[[str], bool]
    catalog: Callable[[Tree, list[str]], list[Component]]


CATALOGERS = (
    Cataloger("python", python.wanted, python.catalog),
    Cataloger("npm", npm.wanted, npm.catalog),
    Cataloger("dpkg", debian.wanted, debian.catalog),
    Cataloger("apk", alpine.wanted, alpine.catalog),
    Cataloger("go", golang.wanted, golang.catalog),
)


def wanted(path: str) -> bool:
    """True when any cataloger reads this path."""
    return any(c.wanted(path) for c in CATALOGERS)


def catalog_all(tree: Tree) -> list[Component]:
    """Every component every cataloger finds, in a stable order."""
    paths = list(tree.paths())
    out: list[Component] = []
    for c in CATALOGERS:
        mine = [p for p in paths if c.wanted(p)]
        if mine or c.name == "go":
            out.extend(c.catalog(tree, mine))
    out.sort(key=lambda x: (x.ecosystem, x.name.lower(), x.version, x.found_in))
    return out
