"""Dependencies point downward only (DESIGN.md, "Architecture"): every import in ``src/assay`` is checked.

The walk reads each module with ``ast`` and sees every ``import``/``from`` statement, including those inside
functions (lazy imports) and relative ones. A package may import a package in a lower band; within a band only
where the band allows it (below). A package missing from ``LAYERS`` fails until it is placed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import assay

SRC = Path(assay.__file__).parent

# Top to bottom, as in DESIGN.md's diagram. "assay" is the root package itself (``__version__``).
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("cli",),
    ("server",),
    ("web",),
    ("service", "access", "profiles", "admission", "evidence", "repository", "tuf", "broker"),
    (
        "sign", "verify", "policy", "layout", "attest", "sbom", "vuln", "oci", "crypt",
        "log", "ca", "tsa", "store", "clients", "checksums", "pgp",
    ),
    ("formats", "crypto", "errors", "assay"),
]  # fmt: skip

# The I/O-edge band: use cases may compose each other (publishing goes through policy and evidence, access
# authorises everything), so its members import one another freely.
OPEN_BANDS = {4}

# Everywhere else a peer import must be listed here (importer, imported). The pure middle band keeps the
# edges that exist and make sense; the reverse of each is refused (``verify -> policy`` would let the
# engine's verdicts depend on policy documents).
PEER_EDGES: dict[tuple[str, str], str] = {
    ("policy", "verify"): "each material is verified through the pipeline",
    ("policy", "attest"): "provenance rules use attest's expectations and checks",
    ("policy", "vuln"): "vulnerability rules rank severities as vuln does",
    ("policy", "layout"): "the layout rule verifies a supply chain with layout's pure verifier",
    ("layout", "verify"): "keyless functionaries' links are verified through the pipeline",
    ("sign", "clients"): "signing talks to the CA, log and TSA through clients",
    ("sign", "log"): "keyless signing builds the log's entry proposals",
    ("log", "store"): "the log service persists its tree and entries",
    ("log", "verify"): "the log's tree uses the pipeline's Merkle hashing",
    ("sbom", "oci"): "SBOMs catalogue image filesystems",
    ("vuln", "sbom"): "scans match the packages an SBOM lists",
    ("tsa", "ca"): "the TSA's certificate is issued by the CA's X.509 code",
    ("formats", "crypto"): "formats name key types in the models they decode",
    ("formats", "errors"): "decoding errors carry reason codes",
    ("crypto", "errors"): "key errors carry reason codes",
}


def _band(pkg: str) -> int | None:
    return next((i for i, band in enumerate(LAYERS) if pkg in band), None)


def _package_of(rel: Path) -> str:
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem.replace("__init__", "assay")


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Fully qualified names of every module imported anywhere in ``tree`` (with line numbers)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts[: len(parts) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield name, node.lineno
            yield from ((f"{name}.{a.name}", node.lineno) for a in node.names)  # ``from assay import cli``


def _target(name: str, root: Path) -> str | None:
    parts = name.split(".")
    if parts[0] != "assay":
        return None
    if len(parts) == 1:
        return "assay"
    top = parts[1]
    return top if (root / top).is_dir() or (root / f"{top}.py").is_file() else "assay"


def edges(root: Path) -> list[tuple[str, str, str]]:
    """(importer package, imported package, "file:line") for every cross-package import under ``root``."""
    out = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root)
        src = _package_of(rel)
        module = ".".join(["assay", *rel.with_suffix("").parts]).removesuffix(".__init__")
        for name, line in _imported(ast.parse(f.read_text(), str(f)), module, f.name == "__init__.py"):
            dst = _target(name, root)
            if dst is not None and dst not in (src, "assay"):  # the root package holds only ``__version__``
                out.append((src, dst, f"{rel}:{line}"))
    return out


def violations(root: Path) -> list[str]:
    """Every import that points up, sideways without leave, or from a package ``LAYERS`` does not place."""
    problems = set()
    for src, dst, where in edges(root):
        s, d = _band(src), _band(dst)
        if s is None or d is None:
            problems.add(f"{where}: place package {src if s is None else dst!r} in LAYERS (DESIGN.md's diagram)")
        elif d < s:
            problems.add(f"{where}: {src} imports {dst}, which is above it (band {d} of LAYERS over band {s})")
        elif d == s and s not in OPEN_BANDS and (src, dst) not in PEER_EDGES:
            problems.add(f"{where}: {src} imports its peer {dst}; not an allowed edge of its band")
    return sorted(problems)


def test_no_upward_imports():
    found = violations(SRC)
    assert not found, "imports against DESIGN.md's layering:\n" + "\n".join(found)


def test_allowed_peer_edges_still_exist():
    # The list documents today's edges; one no longer used must go, so it cannot excuse a new import later.
    present = {(s, d) for s, d, _ in edges(SRC)}
    stale = sorted(set(PEER_EDGES) - present)
    assert not stale, f"allowed peer edges no longer used; delete them from PEER_EDGES: {stale}"


def test_every_package_is_placed():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    unplaced = sorted(p for p in packages | modules if _band(p) is None)
    assert not unplaced, f"place these in LAYERS: {unplaced}"


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        ("policy/a.py", "def f():\n    from assay.service import io\n", "policy imports service"),
        ("formats/a.py", "from ..verify import model\n", "formats imports verify"),
        ("crypto/__init__.py", "from .. import sign\n", "crypto imports sign"),
        ("verify/a.py", "import assay.policy.model\n", "verify imports its peer policy"),
        ("newpkg/a.py", "from assay import errors\n", "place package 'newpkg'"),
    ],
)
def test_checker_sees_lazy_relative_and_peer_imports(tmp_path: Path, rel: str, text: str, expected: str):
    _write(tmp_path, "errors.py", "")
    for pkg in ("policy", "formats", "crypto", "verify", "service", "sign", "newpkg"):
        _write(tmp_path, f"{pkg}/__init__.py", "")
    _write(tmp_path, rel, text)
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0], found


def test_checker_accepts_downward_and_listed_imports(tmp_path: Path):
    _write(tmp_path, "errors.py", "")
    for pkg in ("cli", "service", "policy", "verify", "formats"):
        _write(tmp_path, f"{pkg}/__init__.py", "")
    _write(tmp_path, "cli/main.py", "from assay.service import policy\n")
    _write(tmp_path, "service/policy.py", "from assay.policy import evaluate\nfrom assay import __version__\n")
    _write(tmp_path, "policy/evaluate.py", "def f():\n    from ..verify import pipeline\n")
    _write(tmp_path, "verify/pipeline.py", "from assay.formats import bundle\nfrom assay.errors import InputError\n")
    assert violations(tmp_path) == []
