"""Evidence store routes (per project) and the Rekor v1 search index."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from assay.errors import InputError, VerificationError
from assay.evidence import logindex
from assay.evidence.ingest import ingest
from assay.evidence.store import PAGE_MAX, EvidenceStore, parse_digest
from assay.formats import safejson
from assay.server import params
from assay.server.auth import Principal, require
from assay.server.names import check_project, untrusted

router = APIRouter()


def _store(request: Request) -> EvidenceStore:
    return request.app.state.evidence  # type: ignore[no-any-return]


@router.post("/api/v1/projects/{project}/evidence", tags=["evidence"], summary="Upload and verify evidence")
async def put_evidence(
    request: Request,
    project: str,
    accept: str | None = Query(None, description="'unverified' stores items that fail verification, marked so"),
    principal: Principal = Depends(require("evidence.write")),
) -> JSONResponse:
    check_project(project)
    if accept not in (None, "unverified"):
        raise InputError("bad-request", "accept must be 'unverified'")
    body = await request.body()
    try:
        result = await asyncio.to_thread(
            ingest, _store(request), project, body, principal.actor, accept == "unverified"
        )
    except VerificationError as exc:
        return untrusted(exc)
    created = any(i["created"] for i in result["items"])
    hook = getattr(request.app.state, "profile_evidence_hook", None)
    digests = sorted({d for i in result["items"] if i.get("verified") for d in i.get("subjects") or []})
    if hook is not None and digests:
        await asyncio.to_thread(hook, project, digests)  # profiles watching these digests re-evaluate now
    return JSONResponse(result, status_code=201 if created else 200)


@router.get("/api/v1/projects/{project}/evidence", tags=["evidence"], summary="Search evidence")
def search_evidence(
    request: Request,
    project: str,
    subject: str | None = None,
    predicateType: str | None = None,
    signer: str | None = None,
    since: str | None = None,
    until: str | None = None,
    status: str = Query("verified", description="verified (default) or unverified"),
    cursor: str | None = Query(None, description="the `next` of the previous page"),
    limit: str | None = Query(None, description=f"items per page, 1 to {PAGE_MAX} (default 100)"),
    principal: Principal = Depends(require("evidence.read")),
) -> JSONResponse:
    check_project(project)
    if status not in ("verified", "unverified"):
        raise InputError("bad-request", "status must be verified or unverified")
    items, nxt = _store(request).search(
        project,
        subject=subject,
        predicate_type=params.text(predicateType, "predicateType"),
        signer=params.text(signer, "signer"),
        since=params.unix_time(since, "since"),
        until=params.unix_time(until, "until"),
        verified=status == "verified",
        cursor=params.number(cursor, "cursor", 0),
        limit=params.number(limit, "limit", 100, minimum=1, maximum=PAGE_MAX),
    )
    return JSONResponse({"items": items, "next": str(nxt) if nxt is not None else None})


@router.get("/api/v1/projects/{project}/evidence/{digest}", tags=["evidence"], summary="The exact bytes of an item")
def get_evidence(
    request: Request, project: str, digest: str, principal: Principal = Depends(require("evidence.read"))
) -> Response:
    check_project(project)
    data = _store(request).get_bytes(project, digest)
    hexd = parse_digest(digest)
    return Response(data, media_type="application/json", headers={"Digest": f"sha256:{hexd}", "ETag": hexd})


@router.get("/api/v1/projects/{project}/graph", tags=["evidence"], summary="The evidence graph around a digest")
def evidence_graph(
    request: Request,
    project: str,
    subject: str,
    depth: str | None = Query(None, description="hops from the subject, 0 to 10 (default 2)"),
    principal: Principal = Depends(require("evidence.read")),
) -> JSONResponse:
    from assay.evidence import graph

    check_project(project)
    hops = params.number(depth, "depth", 2, maximum=10)
    store = _store(request)
    root = "sha256:" + parse_digest(subject)
    g = graph.walk(
        root,
        hops,
        lambda d: store.digests_about(project, d, graph.MAX_NODES + 1),
        lambda content: store.item(project, content),
    )
    return JSONResponse(g.to_json())


@router.get("/api/v1/projects/{project}/trust", tags=["evidence"], summary="The project's trust and retention")
def get_trust(request: Request, project: str, principal: Principal = Depends(require("evidence.read"))) -> Any:
    check_project(project)
    return _store(request).settings(project)


@router.put("/api/v1/projects/{project}/trust", tags=["evidence"], summary="Set trusted root, keys, identities")
async def put_trust(request: Request, project: str, principal: Principal = Depends(require("policy.write"))) -> Any:
    check_project(project)
    doc = safejson.load_object(await request.body(), what="trust")
    unknown = set(doc) - {"trustedRoot", "keys", "identities"}
    if unknown:
        raise InputError("trust-malformed", f"unknown fields {sorted(unknown)}")
    return await asyncio.to_thread(_store(request).set_trust, project, doc)


@router.put("/api/v1/projects/{project}/retention", tags=["evidence"], summary="Retention of unverified evidence")
async def put_retention(
    request: Request, project: str, principal: Principal = Depends(require("project.admin"))
) -> Any:
    check_project(project)
    doc = safejson.load_object(await request.body(), what="retention")
    if set(doc) != {"unverifiedRetentionDays"}:
        raise InputError("bad-retention", 'expected {"unverifiedRetentionDays": DAYS or null}')
    return await asyncio.to_thread(_store(request).set_retention, project, doc["unverifiedRetentionDays"])


@router.post("/api/v1/index/retrieve", tags=["log"], summary="Search log entries by hash, public key or email")
async def index_retrieve(request: Request) -> JSONResponse:
    doc = safejson.load_object(await request.body(), what="search")
    wanted, operator = logindex.query_keys(doc)
    leaves = await asyncio.to_thread(logindex.search, _store(request).engine, wanted, operator)
    prefix = f"{int(request.app.state.tree_id):016x}"
    return JSONResponse([prefix + leaf.hex() for leaf in leaves])


def mount(app: Any, engine: Any, trusted_root: Any) -> None:
    """Open the evidence store on the app's database and hook the log's append path to the search index."""
    from assay.formats.trustroot import TrustedRoot, parse_trusted_root

    cache: list[TrustedRoot] = []

    def default_root() -> TrustedRoot:
        if not cache:
            cache.append(parse_trusted_root(trusted_root()))
        return cache[0]

    store = EvidenceStore(engine, default_root)
    app.state.evidence = store
    log = app.state.log

    def on_append(entry: Any, proposal_bytes: bytes) -> None:
        import logging

        try:
            proposal = safejson.loads(proposal_bytes, what="entry")
            tlog_entry = _bundle_entry(log, entry) if isinstance(proposal, dict) and entry.kind == "dsse" else None
            logindex.on_append(engine, store, entry.index, entry.leaf_hash, entry.body, proposal, tlog_entry)
        except Exception:  # the entry is already durable; backfill indexes it at the next start
            logging.getLogger("assay.evidence").exception("indexing log entry %s failed", entry.index)

    log.index_keys = lambda e: logindex.search_keys(e.body)
    log.on_append = on_append
    log.on_append_kinds = frozenset({"dsse"})
    logindex.backfill(engine)
    _sweep_retention(engine, store)


def _bundle_entry(log: Any, entry: Any) -> Any:
    """The log entry as a bundle carries it: SET, and an inclusion proof to the latest signed checkpoint."""
    from assay.formats.bundle import InclusionProof, TlogEntry

    r = log.receipt_for(entry)
    proof = InclusionProof(entry.index, r.root_hash, r.tree_size, tuple(r.proof), r.checkpoint)
    return TlogEntry(
        log_index=entry.index,
        log_id=log.identity.log_id,
        kind=entry.kind,
        version="0.0.1",
        integrated_time=entry.integrated_time,
        canonicalized_body=entry.body,
        inclusion_promise=r.set,
        inclusion_proof=proof,
    )


def _sweep_retention(engine: Any, store: Any) -> None:
    """Purge expired unverified evidence at start, in one process at a time (lease ``evidence-retention``)."""
    import logging
    import os
    import socket

    from assay.store import lease

    holder = f"{socket.gethostname()}:{os.getpid()}"
    try:
        if not lease.acquire(engine, "evidence-retention", holder, 300.0):
            return  # another process is sweeping right now; the same rows would be purged twice for nothing
        try:
            store.purge_all()  # each project on its own: one's failure is logged, the others still swept
        finally:
            lease.release(engine, "evidence-retention", holder)
    except Exception:  # housekeeping: the server starts (and serves) without it
        logging.getLogger("assay.evidence").exception("the start-up retention sweep failed")
