"""Dependencies point downward only (DESIGN.md, "Architecture"): every import in ``src/assay`` is checked.

The walk reads each module with ``ast`` and sees every ``import``/``from`` statement, including those inside
functions (lazy imports) and relative ones. A package may import a package in a lower band; within a band only
where the band allows it (below). A package missing from ``LAYERS`` fails until it is placed.

Cycles are refused too: between modules anywhere (a lazy import that closes a cycle is still one; only imports
under ``if TYPE_CHECKING:`` are left out, since they never run), and between the packages of an open band, whose
members may compose one another but only one way round.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from itertools import pairwise
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
    ("service", "access", "profiles", "admission", "evidence", "repository", "tuf", "broker", "checklist", "registry"),
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


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """The import nodes under ``if TYPE_CHECKING:`` (never executed, so they close no cycle)."""
    out: set[ast.AST] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith("TYPE_CHECKING"):
            out.update(n for b in node.body for n in ast.walk(b) if isinstance(n, ast.Import | ast.ImportFrom))
    return out


def _imported(
    tree: ast.AST, module: str, is_package: bool, skip: Collection[ast.AST] = ()
) -> Iterator[tuple[str, int]]:
    """Fully qualified names of every module imported anywhere in ``tree`` (with line numbers)."""
    for node in ast.walk(tree):
        if node in skip:
            continue
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


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``root``."""
    return {
        ".".join(["assay", *f.relative_to(root).with_suffix("").parts]).removesuffix(".__init__"): f
        for f in sorted(root.rglob("*.py"))
    }


def _imports_of(root: Path, *, runtime_only: bool = False) -> Iterator[tuple[str, Path, str, int]]:
    """(importing module, its file, imported name, line) for every import under ``root``."""
    for module, f in _modules(root).items():
        tree = ast.parse(f.read_text(), str(f))
        skip = _type_checking_only(tree) if runtime_only else set()
        for name, line in _imported(tree, module, f.name == "__init__.py", skip):
            yield module, f, name, line


def edges(root: Path, *, runtime_only: bool = False) -> list[tuple[str, str, str]]:
    """(importer package, imported package, "file:line") for every cross-package import under ``root``."""
    out = []
    for _, f, name, line in _imports_of(root, runtime_only=runtime_only):
        rel = f.relative_to(root)
        src, dst = _package_of(rel), _target(name, root)
        if dst is not None and dst not in (src, "assay"):  # the root package holds only ``__version__``
            out.append((src, dst, f"{rel}:{line}"))
    return out


Graph = dict[str, dict[str, str]]  # node -> {node it imports: "file:line" of the first such import}


def module_graph(root: Path) -> Graph:
    """Module -> the modules it imports (lazily or not; not under ``TYPE_CHECKING``), within ``root``."""
    modules = _modules(root)
    graph: Graph = {m: {} for m in modules}
    for module, f, name, line in _imports_of(root, runtime_only=True):
        while name and name not in modules:  # ``from a.b import name`` names a module or something in one
            name = name.rpartition(".")[0]
        if name and name != module:
            graph[module].setdefault(name, f"{f.relative_to(root)}:{line}")
    return graph


def _cycles(graph: Graph) -> list[list[str]]:
    """One cycle (as a closed path a -> ... -> a) through each strongly connected component of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while (w := stack.pop()) != v:
                component.add(w)
            if component:
                components.append(component | {v})

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for component in components:  # shortest way from the first member back to itself, inside the component
        start = min(component)
        paths = {w: [start, w] for w in sorted(graph[start]) if w in component}
        while start not in paths:
            paths = {w: [*p, w] for v, p in sorted(paths.items()) for w in sorted(graph[v]) if w in component} | paths
        out.append(paths[start])
    return sorted(out)


def _render(graph: Graph, cycle: list[str]) -> str:
    return " -> ".join([cycle[0], *(f"{b} ({graph[a][b]})" for a, b in pairwise(cycle))])


def cycles(root: Path) -> list[str]:
    """Every import cycle: between modules, and between the packages of an open band."""
    modules = module_graph(root)
    found = [f"module cycle: {_render(modules, c)}" for c in _cycles(modules)]
    packages: Graph = {}
    for src, dst, where in edges(root, runtime_only=True):
        if _band(src) == _band(dst) and _band(src) in OPEN_BANDS:
            packages.setdefault(src, {}).setdefault(dst, where)
            packages.setdefault(dst, {})
    found += [f"package cycle in an open band: {_render(packages, c)}" for c in _cycles(packages)]
    return found


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


def test_no_import_cycles():
    found = cycles(SRC)
    assert not found, "import cycles (move the shared part into a lower module):\n" + "\n".join(found)


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


def _tree(root: Path, files: dict[str, str]) -> None:
    _write(root, "errors.py", "")
    for rel, text in files.items():
        _write(root, rel, text)


def test_checker_sees_imports_nested_anywhere(tmp_path: Path):
    nested = "class C:\n    def m(self):\n        try:\n            import assay.cli.main\n        except ImportError:\n            pass\n"
    _tree(tmp_path, {"cli/__init__.py": "", "cli/main.py": "", "formats/__init__.py": "", "formats/a.py": nested})
    found = violations(tmp_path)
    assert len(found) == 1 and found[0].startswith("formats/a.py:4: formats imports cli"), found


def test_checker_finds_module_cycle_through_a_lazy_import(tmp_path: Path):
    _tree(
        tmp_path,
        {
            "policy/__init__.py": "",
            "policy/a.py": "from assay.policy.b import g\n",
            "policy/b.py": "from .c import h\n",
            "policy/c.py": "def h():\n    from assay.policy import a\n",
        },
    )
    found = cycles(tmp_path)
    assert found == [
        "module cycle: assay.policy.a -> assay.policy.b (policy/a.py:1) -> assay.policy.c (policy/b.py:1)"
        " -> assay.policy.a (policy/c.py:2)"
    ], found


def test_checker_ignores_type_checking_imports_for_cycles(tmp_path: Path):
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from assay.policy.a import f\n"
    _tree(tmp_path, {"policy/__init__.py": "", "policy/a.py": "from assay.policy import b\n", "policy/b.py": guarded})
    assert cycles(tmp_path) == []


def test_checker_finds_package_cycle_in_an_open_band(tmp_path: Path):
    files = {
        "service/__init__.py": "",
        "service/evidence.py": "def f():\n    from assay.repository.service import material_of\n",
        "repository/__init__.py": "",
        "service/policy.py": "",
        "repository/service.py": "def evaluate():\n    from assay.service.policy import load_policy\n",
    }
    _tree(tmp_path, files)
    assert violations(tmp_path) == []  # each import alone is allowed in the open band
    assert cycles(tmp_path) == [
        "package cycle in an open band: repository -> service (repository/service.py:2)"
        " -> repository (service/evidence.py:2)"
    ]
    _write(tmp_path, "repository/service.py", "def evaluate(load):\n    return load\n")
    assert cycles(tmp_path) == []
