"""View models: what each page shows, computed from the services (the templates only lay it out)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from assay.errors import AssayError, VerificationError
from assay.evidence import graph as evidence_graph
from assay.evidence.store import EvidenceStore, parse_digest
from assay.formats import safejson
from assay.formats.bundle import InclusionProof, TlogEntry
from assay.formats.trustroot import parse_trusted_root
from assay.log.service import LogService, StoredEntry
from assay.verify import tlog

CHART_W, CHART_H, PAD = 600, 200, 40


@dataclass(frozen=True)
class Chart:
    """The tree size over time as SVG coordinates (drawn by ``log.html``)."""

    points: str  # "x,y x,y ..." for a polyline
    samples: list[tuple[int, int]]  # (time, size)
    width: int = CHART_W
    height: int = CHART_H
    pad: int = PAD

    @property
    def first(self) -> tuple[int, int]:
        return self.samples[0]

    @property
    def last(self) -> tuple[int, int]:
        return self.samples[-1]


def tree_chart(samples: list[tuple[int, int]]) -> Chart | None:
    """Scale (time, size) samples into the chart's box (None without samples)."""
    if not samples:
        return None
    t0, t1 = samples[0][0], samples[-1][0]
    top = max(n for _, n in samples) or 1
    span = max(1, t1 - t0)
    inner_w, inner_h = CHART_W - 2 * PAD, CHART_H - 2 * PAD
    coords = []
    for t, n in samples:
        x = PAD + (inner_w * (t - t0) / span if len(samples) > 1 else inner_w)
        y = CHART_H - PAD - inner_h * n / top
        coords.append(f"{x:.1f},{y:.1f}")
    if len(coords) == 1:
        coords.insert(0, f"{PAD},{CHART_H - PAD}")
    return Chart(" ".join(coords), samples)


@dataclass(frozen=True)
class EntryRow:
    """An entry in the latest-entries table."""

    index: int
    uuid: str
    kind: str
    integrated_time: int
    artifact_hash: str | None


def entry_rows(entries: list[StoredEntry]) -> list[EntryRow]:
    """Table rows for stored entries."""
    return [EntryRow(e.index, e.leaf_hash.hex(), e.kind, e.integrated_time, e.artifact_hash) for e in entries]


@dataclass
class EntryView:
    """One log entry, its inclusion proof and the outcome of checking it here."""

    index: int
    uuid: str
    kind: str
    version: str
    integrated_time: int
    body: str  # the canonical body, pretty-printed
    tree_size: int
    root_hash: str
    hashes: list[str]
    checkpoint: str
    verified: bool = False
    reason: str = ""
    message: str = ""
    steps: list[str] = field(default_factory=list)


def entry_view(log: LogService, trusted_root: dict[str, Any], index: int) -> EntryView | None:
    """Entry ``index`` with its proof against the latest signed checkpoint, checked by ``verify.tlog``."""
    stored = log.entry_by_index(index)
    if stored is None:
        return None
    receipt = log.receipt_for(stored)
    try:
        body_doc = safejson.loads(stored.body, what="log entry body")
        version = str(body_doc.get("apiVersion", "")) if isinstance(body_doc, dict) else ""
        pretty = json.dumps(body_doc, indent=2, sort_keys=True)
    except AssayError:
        version, pretty = "", stored.body.decode("utf-8", "replace")
    proof = InclusionProof(stored.index, receipt.root_hash, receipt.tree_size, tuple(receipt.proof), receipt.checkpoint)
    entry = TlogEntry(
        log_index=stored.index,
        log_id=log.identity.log_id,
        kind=stored.kind,
        version=version,
        integrated_time=stored.integrated_time,
        canonicalized_body=stored.body,
        inclusion_promise=receipt.set,
        inclusion_proof=proof,
    )
    view = EntryView(
        stored.index,
        stored.leaf_hash.hex(),
        stored.kind,
        version,
        stored.integrated_time,
        pretty,
        receipt.tree_size,
        receipt.root_hash.hex(),
        [h.hex() for h in receipt.proof],
        receipt.checkpoint,
    )
    try:
        authority = tlog.log_for(entry, parse_trusted_root(trusted_root))
        tlog.verify_promise(entry, authority)
        view.steps.append("signed entry timestamp")
        tlog.verify_inclusion(entry)
        view.steps.append("inclusion proof")
        tlog.verify_checkpoint(entry, authority)
        view.steps.append("signed checkpoint")
    except VerificationError as exc:
        view.reason, view.message = exc.reason, exc.message
        return view
    view.verified = True
    return view


_SVG_START = re.compile(r"<svg\b", re.IGNORECASE)


@dataclass
class GraphView:
    """The evidence graph around a subject: nodes, edges and the drawing."""

    root: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    truncated: bool
    svg: str  # Graphviz's SVG element, trusted markup made from escaped labels


def graph_view(store: EvidenceStore, project: str, subject: str, depth: int = 2) -> GraphView:
    """Walk the project's evidence from ``subject`` and draw it with Graphviz."""
    root = "sha256:" + parse_digest(subject)
    g = evidence_graph.walk(
        root,
        depth,
        lambda d: store.digests_about(project, d, evidence_graph.MAX_NODES + 1),
        lambda content: store.item(project, content),
    )
    raw = evidence_graph.to_svg(g).decode("utf-8", "replace")
    start = _SVG_START.search(raw)
    svg = raw[start.start() :] if start else ""
    # Natural size (pt) scaled down to the page when it fits (CSS); on a narrow screen the wrapper scrolls it.
    svg = svg.replace("<svg", '<svg role="img" aria-labelledby="graph-title" focusable="false"', 1)
    doc = g.to_json()
    return GraphView(root, doc["nodes"], doc["edges"], g.truncated, svg)


def evidence_item(store: EvidenceStore, project: str, digest: str) -> tuple[dict[str, Any], str] | None:
    """An item's row and its bytes pretty-printed (None when the project has no such item)."""
    row = store.item_row(project, digest)
    if row is None:
        return None
    raw = store.get_bytes(project, digest)
    try:
        text = json.dumps(safejson.loads(raw, what="evidence"), indent=2, sort_keys=True)
    except AssayError:
        text = raw.decode("utf-8", "replace")
    return row, text[:200_000]
