"""A Rekor v1 API client (works against assay and Rekor v1)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from assay.clients.http import reject, request
from assay.errors import EnvironmentFailure, InputError
from assay.formats import safejson
from assay.formats.bundle import InclusionProof, TlogEntry


@dataclass(frozen=True)
class RekorClient:
    """Talks to ``{url}/api/v1/...``."""

    url: str

    def _u(self, path: str) -> str:
        return self.url.rstrip("/") + path

    def create_entry(self, proposed: dict[str, Any]) -> TlogEntry:
        """Upload a proposed entry; an existing identical entry is fetched instead."""
        resp = request("POST", self._u("/api/v1/log/entries"), json=proposed)
        if resp.status_code == 409 and resp.headers.get("Location"):
            resp = request("GET", self._u(resp.headers["Location"]))
        if resp.status_code not in (200, 201):
            raise reject(resp, "log entry")
        return entry_from_response(resp.json())

    def log_info(self) -> dict[str, Any]:
        resp = request("GET", self._u("/api/v1/log"))
        if resp.status_code != 200:
            raise reject(resp, "log info")
        return resp.json()  # type: ignore[no-any-return]

    def consistency(self, first: int, last: int) -> dict[str, Any]:
        resp = request("GET", self._u("/api/v1/log/proof"), params={"firstSize": first, "lastSize": last})
        if resp.status_code != 200:
            raise reject(resp, "consistency proof")
        return resp.json()  # type: ignore[no-any-return]

    def entry(self, *, uuid: str | None = None, index: int | None = None) -> TlogEntry:
        if uuid is not None:
            resp = request("GET", self._u(f"/api/v1/log/entries/{uuid}"))
        else:
            resp = request("GET", self._u("/api/v1/log/entries"), params={"logIndex": index})
        if resp.status_code != 200:
            raise reject(resp, "log entry")
        return entry_from_response(resp.json())

    def search_hash(self, sha256_hex: str) -> list[TlogEntry]:
        """Every entry whose artifact hash is ``sha256_hex`` (``POST /api/v1/log/entries/retrieve``)."""
        resp = request("POST", self._u("/api/v1/log/entries/retrieve"), json={"hash": f"sha256:{sha256_hex}"})
        if resp.status_code != 200:
            raise reject(resp, "log search")
        doc = resp.json()
        if not isinstance(doc, list):
            raise EnvironmentFailure("bad-log-response", "the log's search answered with an unexpected document")
        return [entry_from_response(item) for item in doc]

    def trusted_root(self) -> bytes:
        resp = request("GET", self._u("/api/v1/trustedRoot"))
        if resp.status_code != 200:
            raise reject(resp, "trusted root")
        return resp.content


def entry_from_response(doc: Any) -> TlogEntry:
    """A Rekor ``{uuid: entry}`` response as a bundle tlog entry (hashedrekord/dsse 0.0.1)."""
    if isinstance(doc, list):
        doc = doc[0] if doc else {}
    if not isinstance(doc, dict) or len(doc) != 1:
        raise EnvironmentFailure("bad-log-response", "the log answered with an unexpected document")
    ((_, e),) = doc.items()
    try:
        body = base64.b64decode(e["body"])
        kind_doc = safejson.loads(body, what="the log's entry body")
        v = e["verification"]
        p = v["inclusionProof"]
        proof = InclusionProof(
            log_index=int(p["logIndex"]),
            root_hash=bytes.fromhex(p["rootHash"]),
            tree_size=int(p["treeSize"]),
            hashes=tuple(bytes.fromhex(h) for h in p["hashes"]),
            checkpoint=p["checkpoint"],
        )
        return TlogEntry(
            log_index=int(e["logIndex"]),
            log_id=bytes.fromhex(e["logID"]),
            kind=kind_doc["kind"],
            version=kind_doc["apiVersion"],
            integrated_time=int(e["integratedTime"]),
            canonicalized_body=body,
            inclusion_promise=base64.b64decode(v["signedEntryTimestamp"]),
            inclusion_proof=proof,
        )
    except (InputError, KeyError, ValueError, TypeError) as exc:
        raise EnvironmentFailure("bad-log-response", f"the log's entry is malformed: {exc}") from None
