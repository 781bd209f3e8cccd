"""The webhook's decision on manifest files, for CI: ``assay admission test``.

Reads multi-document YAML (Helm's rendered output included) and ``List``
documents, takes namespace labels from ``Namespace`` documents, decides every
workload exactly as ``/mutate`` would (CREATE), and can write the manifests
back with verified tags pinned to their digests.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.admission.engine import ContainerResult, Engine
from assay.errors import InputError
from assay.formats import admission as fmt


@dataclass
class Workload:
    source: str
    kind: str
    namespace: str
    name: str
    obj: dict[str, Any]  # the document itself (patched in place when pinning)
    containers: list[ContainerResult] = field(default_factory=list)
    allowed: bool = True
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    patch: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The workload's decision as JSON."""
        out: dict[str, Any] = {
            "source": self.source, "kind": self.kind, "namespace": self.namespace, "name": self.name,
            "allowed": self.allowed, "containers": [c.to_json() for c in self.containers],
        }  # fmt: skip
        if self.message:
            out["message"] = self.message
        if self.warnings:
            out["warnings"] = self.warnings
        return out


def read_manifests(paths: list[str]) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, dict[str, Any]]]]:
    """(file, documents) per file, and every (file, object) in them with Lists expanded."""
    from assay.formats.safeyaml import load_all

    files: list[tuple[str, list[Any]]] = []
    objects: list[tuple[str, dict[str, Any]]] = []
    for p in paths:
        try:
            text = Path(p).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError("file-not-found", f"{p}: {getattr(exc, 'strerror', None) or exc}") from None
        docs = [d for d in load_all(text, what=p) if d is not None]
        for i, d in enumerate(docs):
            if not isinstance(d, dict):
                raise InputError("manifest-invalid", f"{p}: document {i + 1} is not a Kubernetes object")
            objects.extend((p, o) for o in _expand(d, p))
        files.append((p, docs))
    return files, objects


def _expand(doc: dict[str, Any], where: str) -> list[dict[str, Any]]:
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
        items = doc["items"] or []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InputError("manifest-invalid", f"{where}: {kind}.items must be a list of objects")
        return [o for i in items for o in _expand(i, where)]
    return [doc]


def namespace_labels(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Labels of every ``Namespace`` object."""
    out: dict[str, dict[str, str]] = {}
    for o in objects:
        meta = o.get("metadata") or {}
        if o.get("kind") == "Namespace" and isinstance(meta, dict) and isinstance(meta.get("name"), str):
            labels = meta.get("labels") or {}
            out[meta["name"]] = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    return out


async def _decide_all(engine: Engine, work: list[Workload]) -> None:
    for i, w in enumerate(work):
        req = fmt.Request(f"offline-{i}", w.kind, "", "CREATE", w.namespace, w.name, w.obj, None, False)
        outcome = await engine.decide(req, mutate=True)
        r = outcome.response
        w.containers, w.allowed, w.warnings = outcome.containers, r.allowed, r.warnings
        w.message = r.message if not r.allowed else ""
        w.patch = r.patch


@dataclass
class Run:
    """The manifests as read and the decision for each workload in them."""

    files: list[tuple[str, list[Any]]]  # every document as read (workloads are the same objects)
    workloads: list[Workload]

    @property
    def allowed(self) -> bool:
        """True when no workload would be denied."""
        return all(w.allowed for w in self.workloads)


def decide(engine: Engine, paths: list[str], default_namespace: str = "default") -> Run:
    """Every workload of the manifests, decided as the mutating webhook would (each file is read once,
    so ``/dev/stdin`` works)."""
    files, objects = read_manifests(paths)
    labels = namespace_labels([o for _, o in objects])
    engine.settings.namespace_labels = {**labels, **engine.settings.namespace_labels}
    work = []
    for source, o in objects:
        kind = o.get("kind")
        if not isinstance(kind, str) or kind not in fmt.POD_SPEC_PATHS:
            continue
        meta = o.get("metadata") if isinstance(o.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        namespace = str(meta.get("namespace") or default_namespace)
        work.append(Workload(source, kind, namespace, str(meta.get("name", "")), o))
    asyncio.run(_decide_all(engine, work))
    return Run(files, work)


def pin(run: Run, out: str) -> int:
    """Write every document to ``out`` with the verified tags pinned (patched in place); returns images pinned."""
    import jsonpatch
    import yaml

    pinned = 0
    for w in run.workloads:
        if w.patch:
            jsonpatch.apply_patch(w.obj, copy.deepcopy(w.patch), in_place=True)
            pinned += len(w.patch)
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False) for _, docs in run.files for d in docs)
    Path(out).write_text(text, encoding="utf-8")
    return pinned
