"""Upload: parse every item, verify each against the project's trust, store all or nothing."""

from __future__ import annotations

from typing import Any

from assay.errors import AssayError, InputError, VerificationError
from assay.evidence.parse import Item, parse_upload
from assay.evidence.store import EvidenceStore
from assay.evidence.trust import Verdict, verify_item


def ingest(store: EvidenceStore, project: str, data: bytes, uploader: str, accept_unverified: bool) -> dict[str, Any]:
    """Verify and store an upload; VerificationError names the first refused item unless unverified is accepted."""
    items = parse_upload(data)
    trust = store.trust(project)
    decided: list[tuple[Item, Verdict | None, str | None]] = []
    for i, item in enumerate(items):
        try:
            decided.append((item, verify_item(item, trust), None))
        except AssayError as exc:
            if not accept_unverified:
                where = f"item {i + 1}: " if len(items) > 1 else ""
                cls = VerificationError if isinstance(exc, VerificationError) else InputError
                raise cls(exc.reason, where + exc.message, step=exc.step) from None
            decided.append((item, None, exc.reason))
    stored = store.put(project, decided, uploader)
    if trust.retention_days is not None:
        store.purge_quietly(project)  # the upload is stored; housekeeping's failure must not fail it
    out = []
    for (item, verdict, reason), s in zip(decided, stored, strict=True):
        entry: dict[str, Any] = {
            "digest": "sha256:" + s.digest,
            "kind": item.kind,
            "predicateType": item.predicate_type,
            "subjects": sorted({d for d, _ in item.subjects}),
            "verified": s.verified,
            "created": s.created,
        }
        if verdict is not None:
            entry["signer"] = {"identity": verdict.signer, "issuer": verdict.issuer}
        if reason is not None:
            entry["reason"] = reason
        out.append(entry)
    return {"items": out}
