"""The evidence graph: subject → attestations → the digests they name → their evidence (pure walk, rendering)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.errors import AssayError
from assay.evidence.parse import linked_digests, parse_item

About = Callable[[str], list[tuple[dict[str, Any], bytes]]]  # subject digest -> [(row, exact bytes)]
MAX_NODES = 2000


@dataclass
class Graph:
    """Nodes (artifacts by digest, attestations by content digest) and labelled edges."""

    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON form (what the dashboard draws)."""
        return {
            "root": self.root,
            "nodes": [{"id": k, **v} for k, v in self.nodes.items()],
            "edges": [{"from": a, "to": b, "relation": r} for a, b, r in self.edges],
            "truncated": self.truncated,
        }


def walk(root: str, depth: int, about: About) -> Graph:
    """Breadth-first from ``root`` through ``depth`` hops of artifact → attestation → named digests."""
    g = Graph(root)
    g.nodes[root] = {"type": "artifact", "label": root[:19]}
    frontier = [root]
    for _ in range(max(depth, 0) + 1):
        nxt: list[str] = []
        for digest in frontier:
            try:
                found = about(digest)
            except AssayError:  # a digest the store cannot look up (malformed hex in a predicate)
                found = []
            for row, raw in found:
                att = "evidence:" + row["digest"]
                edge = (digest, att, "attested-by")
                if edge not in g.edges:
                    g.edges.append(edge)
                if att in g.nodes:
                    continue
                signer = (row.get("signer") or {}).get("identity") or ""
                g.nodes[att] = {
                    "type": "attestation",
                    "label": (row.get("predicateType") or row.get("kind") or "").rsplit("/", 2)[-2:][0] or "evidence",
                    "predicateType": row.get("predicateType"),
                    "signer": signer,
                    "verified": row.get("verified", False),
                }
                for name, digests in ((s["name"], s["digest"]) for s in row.get("subjects", [])):
                    for alg, value in digests.items():
                        sub = f"{alg}:{value}"
                        if sub not in g.nodes:
                            g.nodes[sub] = {"type": "artifact", "label": name or sub[:19]}
                        if (sub, att, "attested-by") not in g.edges:
                            g.edges.append((sub, att, "attested-by"))
                for relation, linked, name in _linked(raw):
                    if linked not in g.nodes:
                        g.nodes[linked] = {"type": "artifact", "label": name or linked[:19]}
                        nxt.append(linked)
                    g.edges.append((att, linked, relation))
                if len(g.nodes) > MAX_NODES:
                    g.truncated = True
                    return g
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
    g.edges = [(e["from"], e["to"], e["relation"]) for e in doc["edges"]]
    return g
