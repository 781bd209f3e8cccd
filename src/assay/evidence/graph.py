"""The evidence graph: subject → attestations → the digests they name → their evidence (pure walk, rendering)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.errors import AssayError
from assay.evidence.parse import linked_digests, parse_item

Find = Callable[[str], list[str]]  # subject digest -> content digests (hex) of the verified items about it
Load = Callable[[str], tuple[dict[str, Any], bytes]]  # content digest -> (row, exact bytes)
MAX_NODES = 2000


@dataclass
class Graph:
    """Nodes (artifacts by digest, attestations by content digest) and labelled edges, each at most once.

    ``add`` refuses the node past ``MAX_NODES`` and marks the graph truncated: the cap holds as nodes are
    added, not after a whole item (one link can name 46,000 products).
    """

    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edge_set: dict[tuple[str, str, str], None] = field(default_factory=dict)  # insertion-ordered set
    truncated: bool = False
    limit: int = MAX_NODES

    @property
    def edges(self) -> list[tuple[str, str, str]]:
        """Edges in the order they were found."""
        return list(self.edge_set)

    def add(self, node_id: str, node: dict[str, Any]) -> bool:
        """Add a node unless present; False (and ``truncated``) when the cap is reached."""
        if node_id in self.nodes:
            return True
        if len(self.nodes) >= self.limit:
            self.truncated = True
            return False
        self.nodes[node_id] = node
        return True

    def link(self, a: str, b: str, relation: str) -> None:
        """An edge between two nodes of the graph (once)."""
        self.edge_set[(a, b, relation)] = None

    def to_json(self) -> dict[str, Any]:
        """JSON form (what the dashboard draws)."""
        return {
            "root": self.root,
            "nodes": [{"id": k, **v} for k, v in self.nodes.items()],
            "edges": [{"from": a, "to": b, "relation": r} for a, b, r in self.edge_set],
            "truncated": self.truncated,
        }


def _attestation(row: dict[str, Any]) -> dict[str, Any]:
    signer = (row.get("signer") or {}).get("identity") or ""
    return {
        "type": "attestation",
        "label": (row.get("predicateType") or row.get("kind") or "").rsplit("/", 2)[-2:][0] or "evidence",
        "predicateType": row.get("predicateType"),
        "signer": signer,
        "verified": row.get("verified", False),
    }


def walk(root: str, depth: int, find: Find, load: Load, limit: int = MAX_NODES) -> Graph:
    """Breadth-first from ``root`` through ``depth`` hops of artifact → attestation → named digests.

    Each attestation is loaded and parsed once however many digests lead to it; the walk stops at the first
    node past ``limit``.
    """
    g = Graph(root, limit=limit)
    g.add(root, {"type": "artifact", "label": root[:19]})
    frontier = [root]
    for _ in range(max(depth, 0) + 1):
        nxt: list[str] = []
        for digest in frontier:
            try:
                found = find(digest)
            except AssayError:  # a digest the store cannot look up (malformed hex in a predicate)
                found = []
            for content in found:
                att = "evidence:sha256:" + content
                if att in g.nodes:
                    g.link(digest, att, "attested-by")
                    continue
                row, raw = load(content)
                if not g.add(att, _attestation(row)):
                    return g
                g.link(digest, att, "attested-by")
                for s in row.get("subjects", []):
                    for alg, value in s["digest"].items():
                        sub = f"{alg}:{value}"
                        if not g.add(sub, {"type": "artifact", "label": s["name"] or sub[:19]}):
                            return g
                        g.link(sub, att, "attested-by")
                for relation, linked, name in _linked(raw):
                    if linked not in g.nodes:
                        if not g.add(linked, {"type": "artifact", "label": name or linked[:19]}):
                            return g
                        nxt.append(linked)
                    g.link(att, linked, relation)
        frontier = nxt
    return g


def _linked(raw: bytes) -> list[tuple[str, str, str]]:
    try:
        item = parse_item(raw)
    except AssayError:
        return []
    return linked_digests(item.statement)


def _label(node_id: str, node: dict[str, Any]) -> str:
    if node["type"] == "attestation":
        status = "verified" if node.get("verified") else "NOT verified"
        return f"{node['label']} ({status})\\n{node.get('signer') or ''}"
    return f"{node['label']}\\n{node_id[:19]}"


# Status in colour as well as in the label's text: (border and text, fill) for verified and unverified items.
_COLOURS = {True: ("#0b5d1e", "#e6f4ea"), False: ("#8a1c12", "#fdecea")}


def to_dot(g: Graph) -> str:
    """Graphviz DOT source."""
    import graphviz

    dot = graphviz.Digraph("evidence", graph_attr={"rankdir": "LR"})
    ids = {n: f"n{i}" for i, n in enumerate(g.nodes)}
    for n, node in g.nodes.items():
        if node["type"] == "attestation":
            ink, fill = _COLOURS[bool(node.get("verified"))]
            dot.node(ids[n], _label(n, node), shape="note", style="filled", color=ink, fontcolor=ink,
                     fillcolor=fill, tooltip=n)  # fmt: skip
            continue
        style = "filled" if n == g.root else ""
        dot.node(ids[n], _label(n, node), shape="box", style=style, fillcolor="#e5e7eb", tooltip=n)
    for a, b, rel in g.edges:
        dot.edge(ids[a], ids[b], label=rel)
    return str(dot.source)


def to_svg(g: Graph) -> bytes:
    """SVG drawn by Graphviz's ``dot`` (EnvironmentFailure when it is not installed)."""
    import graphviz

    from assay.errors import EnvironmentFailure

    try:
        return bytes(graphviz.Source(to_dot(g)).pipe(format="svg"))
    except graphviz.ExecutableNotFound:
        raise EnvironmentFailure(
            "graphviz-missing", "Graphviz 'dot' is not installed (apt-get install graphviz)"
        ) from None


def from_json(doc: dict[str, Any]) -> Graph:
    """A graph from its JSON form (as the server answers it)."""
    g = Graph(str(doc["root"]), truncated=bool(doc.get("truncated")))
    for n in doc["nodes"]:
        g.nodes[n["id"]] = {k: v for k, v in n.items() if k != "id"}
    for e in doc["edges"]:
        g.link(e["from"], e["to"], e["relation"])
    return g
