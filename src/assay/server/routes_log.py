"""Rekor v1 API subset, tlog-tiles reads, and the trusted root naming this log."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from assay.errors import AssayError, EnvironmentFailure, InputError
from assay.log import tiles
from assay.log.entries import CanonicalEntry, canonicalize_outcome
from assay.log.proposals import DsseProposal, HashedRekordProposal
from assay.log.service import LogService, Receipt
from assay.server import params
from assay.server.models import MAX_HASH_RESULTS, MAX_INDEX, UUID_RE, RetrieveRequest, parse
from assay.server.openapi import json_body
from assay.server.work import WorkerPool

INLINE_COST = 1024  # bytes: proposals the sequencer verifies itself

router = APIRouter()


def _svc(request: Request) -> LogService:
    return request.app.state.log  # type: ignore[no-any-return]


def entry_json(r: Receipt, log_id: bytes) -> dict[str, Any]:
    """One entry in Rekor's response shape, keyed by its UUID."""
    e = r.entry
    return {
        e.leaf_hash.hex(): {
            "body": base64.b64encode(e.body).decode(),
            "integratedTime": e.integrated_time,
            "logID": log_id.hex(),
            "logIndex": e.index,
            "verification": {
                "inclusionProof": {
                    "checkpoint": r.checkpoint,
                    "hashes": [h.hex() for h in r.proof],
                    "logIndex": e.index,
                    "rootHash": r.root_hash.hex(),
                    "treeSize": r.tree_size,
                },
                "signedEntryTimestamp": base64.b64encode(r.set).decode(),
            },
        }
    }


_ENTRY_BODY = json_body(
    HashedRekordProposal,
    DsseProposal,
    description="a proposed hashedrekord or dsse 0.0.1 entry, as Rekor accepts (parsed through the strict JSON loader)",
)
_RETRIEVE_BODY = json_body(RetrieveRequest, description="at most 10 UUIDs and 10 indexes, or one artifact hash")


async def append(svc: LogService, pool: WorkerPool, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Verify, sequence and answer one proposed entry: (status, headers, JSON body).

    A proposal under ``INLINE_COST`` bytes (a hashedrekord with an EC or Ed25519 key: one signature check) is
    verified right here, as the tranche-one log did: cheaper than any hand-off, and it overlaps the sequencer's
    commit of the previous batch. Anything larger (RSA keys, DSSE envelopes with several signatures or
    verifiers) is verified in the worker lanes, cheapest first, so a flood of costly proposals never holds the
    event loop or the sequencer. (Verifying in the sequencer's thread was measured too: it serialised
    verification with the commit, and under attack an ordinary append's p99 grew 5.3x instead of 2.6x.)
    """
    if len(body) < INLINE_COST:
        entry, error = canonicalize_outcome(body)  # one EC/Ed25519 check: cheaper than any hand-off
    else:
        try:
            entry, error = await pool.cpu(canonicalize_outcome, body, cost=len(body))
        except AssayError as exc:
            return _answer(503 if isinstance(exc, EnvironmentFailure) else 400, exc.reason, exc.message)
    if entry is None:
        assert error is not None
        return _answer(400, *error)
    item: CanonicalEntry | bytes = entry
    try:
        done = await asyncio.wait_for(asyncio.wrap_future(svc.enqueue(item)), timeout=30)
    except TimeoutError:
        return _answer(503, "deadline-exceeded", "the log did not store the entry in time; retry")
    except InputError as exc:
        return _answer(400, exc.reason, exc.message)
    # A fresh entry's proof comes from memory (no I/O): built here, off the sequencer's thread.
    receipt = svc.receipt(done) if done.nodes is not None else await asyncio.to_thread(svc.receipt, done)
    if receipt.created and svc.on_append is not None and receipt.entry.kind in svc.on_append_kinds:
        await asyncio.to_thread(svc.on_append, receipt.entry, body)  # DSSE envelopes kept as evidence
    uuid = receipt.entry.leaf_hash.hex()
    headers = {"content-type": "application/json", "location": f"/api/v1/log/entries/{uuid}", "etag": uuid}
    if not receipt.created:
        message = f"an equivalent entry already exists in the log with UUID {uuid}"
        return 409, headers, json.dumps({"code": 409, "reason": "entry-exists", "message": message}).encode()
    return 201, headers, json.dumps(entry_json(receipt, svc.identity.log_id)).encode()


def _answer(status: int, reason: str, message: str) -> tuple[int, dict[str, str], bytes]:
    payload = json.dumps({"code": status, "reason": reason, "message": message}).encode()
    return status, {"content-type": "application/json"}, payload


def _number(value: str, reason: str, name: str) -> int:
    """A decimal parameter: ``[0-9]+`` (ASCII digits only) within int64."""
    return params.number(value, name, 0, maximum=MAX_INDEX, reason=reason)


@router.post(
    "/api/v1/log/entries",
    status_code=201,
    tags=["log"],
    summary="Add an entry (hashedrekord or dsse 0.0.1)",
    openapi_extra=_ENTRY_BODY,
)
async def create_entry(request: Request) -> Response:
    # Served by the fast path in server.limits when wrapped by server.app.asgi; this route documents it.
    status, headers, payload = await append(_svc(request), request.app.state.pool, await request.body())
    return Response(payload, status_code=status, headers=headers)


@router.get("/api/v1/log/entries/{uuid}", tags=["log"], summary="Get an entry by UUID")
def get_entry(request: Request, uuid: str) -> JSONResponse:
    svc = _svc(request)
    if not UUID_RE.fullmatch(uuid):
        raise InputError("bad-uuid", f"{uuid[:100]!r} is not an entry UUID")
    entry = svc.entry_by_leaf_hash(bytes.fromhex(uuid[-64:]))
    if entry is None:
        raise LookupError(f"no entry with UUID {uuid}")
    return JSONResponse(entry_json(svc.receipt_for(entry), svc.identity.log_id))


@router.get("/api/v1/log/entries", tags=["log"], summary="Get an entry by log index")
def get_entry_by_index(
    request: Request, logIndex: str = Query(..., description="a decimal index, 0 to 2^63-1")
) -> JSONResponse:
    svc = _svc(request)
    index = _number(logIndex, "bad-index", "logIndex")
    entry = svc.entry_by_index(index)
    if entry is None:
        raise LookupError(f"no entry at index {index}")
    return JSONResponse(entry_json(svc.receipt_for(entry), svc.identity.log_id))


def _retrieve(svc: LogService, req: RetrieveRequest) -> list[dict[str, Any]]:
    found = []
    for uuid in req.entryUUIDs:
        e = svc.entry_by_leaf_hash(bytes.fromhex(uuid[-64:]))
        if e:
            found.append(e)
    for idx in req.logIndexes:
        e = svc.entry_by_index(idx)
        if e:
            found.append(e)
    if req.hash:
        found.extend(svc.entries_by_artifact_hash(req.hash, limit=MAX_HASH_RESULTS))
    return [entry_json(svc.receipt_for(e), svc.identity.log_id) for e in found]


@router.post(
    "/api/v1/log/entries/retrieve",
    tags=["log"],
    summary="Search entries by UUID, index or artifact hash",
    openapi_extra=_RETRIEVE_BODY,
)
async def retrieve(request: Request) -> JSONResponse:
    req = parse(RetrieveRequest, await request.body())
    return JSONResponse(await request.app.state.pool.blocking(_retrieve, _svc(request), req))


@router.get("/api/v1/log", tags=["log"], summary="Current tree head")
def log_info(request: Request) -> JSONResponse:
    svc = _svc(request)
    head = svc.head()
    return JSONResponse(
        {
            "rootHash": head.root_hash.hex(),
            "treeSize": head.size,
            "signedTreeHead": head.checkpoint,
            "treeID": request.app.state.tree_id,
            "inactiveShards": [],
        }
    )


@router.get("/api/v1/log/publicKey", tags=["log"], summary="The log's public key (PEM)")
def public_key(request: Request) -> Response:
    return Response(request.app.state.log_public_pem, media_type="application/x-pem-file")


@router.get("/api/v1/log/proof", tags=["log"], summary="Consistency proof between two tree sizes")
def consistency(request: Request, firstSize: str = Query("0"), lastSize: str = Query(...)) -> JSONResponse:
    svc = _svc(request)
    first, last = _number(firstSize, "bad-tree-size", "firstSize"), _number(lastSize, "bad-tree-size", "lastSize")
    return _consistency(svc, first, last)


def _consistency(svc: LogService, firstSize: int, lastSize: int) -> JSONResponse:
    head = svc.head()
    if lastSize > head.size or firstSize > lastSize:
        raise InputError("bad-tree-size", f"no proof from {firstSize} to {lastSize} (tree size is {head.size})")
    last = svc.checkpoint_at(lastSize)
    root = last.root_hash if last else _root_at(svc, lastSize)
    return JSONResponse(
        {"rootHash": root.hex(), "hashes": [h.hex() for h in svc.consistency_proof(firstSize, lastSize)]}
    )


def _root_at(svc: LogService, size: int) -> bytes:
    from assay.log import tree

    return tree.root(size, svc._fetcher())


@router.get("/checkpoint", tags=["tiles"], summary="Latest checkpoint (signed note)")
def checkpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse(_svc(request).head().checkpoint, headers={"Cache-Control": "no-cache"})


@router.get("/tile/{path:path}", tags=["tiles"], summary="Hash tiles and entry bundles")
def tile(request: Request, path: str) -> Response:
    svc = _svc(request)
    t = tiles.parse_tile_path(path)
    size = svc.head().size
    if t.level is None:
        start = t.index * tiles.TILE_WIDTH
        if start + t.width > size:
            raise LookupError("entry bundle beyond the tree")
        data = tiles.entry_bundle(svc.bodies(start, t.width))
        immutable = True
    else:
        level = t.level * tiles.TILE_HEIGHT
        start = t.index * tiles.TILE_WIDTH
        if (start + t.width) << level > size:
            raise LookupError("tile beyond the tree")
        hashes = svc.nodes_at(level, start, t.width)
        if len(hashes) != t.width:
            raise LookupError("tile not available")
        data = b"".join(hashes)
        immutable = True
    headers = {"Cache-Control": "public, max-age=31536000, immutable"} if immutable else {}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.get("/api/v1/trustedRoot", tags=["trust"], summary="A Sigstore TrustedRoot naming this server's services")
def trusted_root(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.trusted_root())
