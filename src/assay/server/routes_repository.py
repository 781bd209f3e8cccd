"""The verified artifact repository: publish (streamed, policy-gated), fetch, list, delete, policy, key."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from assay.crypto import keys
from assay.errors import InputError, VerificationError
from assay.evidence.store import EvidenceStore, parse_digest
from assay.formats import safejson
from assay.policy.model import Policy
from assay.repository import service
from assay.repository.blobs import BlobStore, Received
from assay.server.auth import Principal, require
from assay.server.names import check_name, check_project, untrusted

router = APIRouter()
STREAMED = re.compile(r"PUT /api/v1/projects/[^/]+/artifacts/[^/]+/[^/]+")
DEFAULT_MAX_ARTIFACT = 16 * 1024**3


def _load_policy(path: str) -> Policy:
    """The service layer's policy loader, imported on first use (in the worker thread, as before)."""
    from assay.service.policy import load_policy

    return load_policy(path)


def mount(app: Any) -> None:
    """The blob store in the data directory and the repository's VSA signing key."""
    from assay.server.config import key_in_data_dir

    settings = app.state.settings
    app.state.blobs = BlobStore(settings.data_dir / "blobs")
    app.state.repository_signer = key_in_data_dir(settings.data_dir, "repository")
    app.state.max_artifact = int(os.environ.get("ASSAY_MAX_ARTIFACT_BYTES") or DEFAULT_MAX_ARTIFACT)


def _parts(request: Request) -> tuple[EvidenceStore, BlobStore]:
    return request.app.state.evidence, request.app.state.blobs


def _names(project: str, name: str, version: str | None = None) -> None:
    check_project(project)
    check_name(name, "artifact name")
    if version is not None:
        check_name(version, "version")


@router.put(
    "/api/v1/projects/{project}/artifacts/{name}/{version}",
    tags=["repository"],
    summary="Publish an artifact version (raw body, streamed); refused unless it passes the repository policy",
)
async def publish(
    request: Request,
    project: str,
    name: str,
    version: str,
    principal: Principal = Depends(require("artifact.publish")),
) -> JSONResponse:
    _names(project, name, version)
    store, blobs = _parts(request)
    engine = store.engine
    declared = request.headers.get("x-assay-digest")
    declared_hex = parse_digest(declared) if declared else None
    existing = await asyncio.to_thread(service.get, engine, project, name, version)
    if existing is not None and declared_hex is not None:
        service.check_immutable(existing, declared_hex)
    received = await blobs.receive(request.stream(), request.app.state.max_artifact)
    try:
        return await _publish(request, store, blobs, received, project, name, version, declared, principal)
    except VerificationError as exc:
        return untrusted(exc)


async def _publish(
    request: Request,
    store: EvidenceStore,
    blobs: BlobStore,
    received: Received,
    project: str,
    name: str,
    version: str,
    declared: str | None,
    principal: Principal,
) -> JSONResponse:
    engine = store.engine
    declared_hex = parse_digest(declared) if declared else None
    existing = await asyncio.to_thread(service.get, engine, project, name, version)
    try:
        if declared_hex is not None and received.sha256 != declared_hex:
            raise InputError(
                "digest-mismatch", f"the body hashes to sha256:{received.sha256}, not the declared {declared}"
            )
        if existing is not None:
            service.check_immutable(existing, received.sha256)
            blobs.discard(received)  # the same bytes are already published under this version
            return JSONResponse(existing.to_json(), status_code=200)
        policy, ev = await asyncio.to_thread(
            service.evaluate, store, blobs, project, name, received.sha256, _load_policy
        )
        report = ev.to_json()
        if not ev.matched or not ev.passed:
            failed = [r for r in report.get("rules", []) if r.get("status") != "pass"]
            why = "; ".join(f"{r.get('rule')}: {r.get('message') or r.get('reason')}" for r in failed[:3])
            raise VerificationError(
                "policy-failed" if ev.matched else "policy-not-applicable",
                f"{name}@{version} (sha256:{received.sha256}) does not pass {policy.name}: {why or 'no rule matched'}",
            )
        signer = request.app.state.repository_signer
        resource = f"{project}/{name}@{version}"
        vsa_bytes = service.sign_vsa(signer, resource, received.sha256, policy, ev)
        vsa_digest = await asyncio.to_thread(service.store_vsa, store, project, vsa_bytes, signer.public_key)
        blobs.commit(received)
    except BaseException:
        blobs.discard(received)
        raise
    v = service.Version(project, name, version, received.sha256, received.size, vsa_digest, report, principal.actor, 0)
    try:
        v = await asyncio.to_thread(service.record, engine, v)
    except InputError:  # a concurrent publish of other bytes won the version: drop ours unless still used
        await asyncio.to_thread(service.drop_unreferenced, engine, blobs, received.sha256)
        raise
    return JSONResponse(v.to_json(), status_code=201)


def _digest_headers(v: service.Version) -> dict[str, str]:
    b64 = base64.b64encode(bytes.fromhex(v.digest)).decode()
    return {"X-Assay-Digest": "sha256:" + v.digest, "Digest": f"sha-256={b64}", "X-Assay-Vsa": "sha256:" + v.vsa_digest}


@router.get("/api/v1/projects/{project}/artifacts/{name}/{version}", tags=["repository"], summary="Download")
def fetch(
    request: Request, project: str, name: str, version: str, principal: Principal = Depends(require("artifact.read"))
) -> Response:
    _names(project, name, version)
    store, blobs = _parts(request)
    v = service.get(store.engine, project, name, version)
    if v is None:
        raise LookupError(f"no artifact {project}/{name}@{version}")
    path = blobs.path(v.digest)
    if not path.exists():
        raise LookupError(f"the blob of {project}/{name}@{version} is missing")
    resp = FileResponse(path, media_type="application/octet-stream", headers=_digest_headers(v))
    resp.chunk_size = 1 << 20  # fewer, larger writes for multi-GiB files; memory stays bounded
    return resp


@router.get("/api/v1/projects/{project}/artifacts/{name}/{version}/vsa", tags=["repository"], summary="The VSA")
def fetch_vsa(
    request: Request, project: str, name: str, version: str, principal: Principal = Depends(require("artifact.read"))
) -> Response:
    _names(project, name, version)
    store, _ = _parts(request)
    v = service.get(store.engine, project, name, version)
    if v is None:
        raise LookupError(f"no artifact {project}/{name}@{version}")
    return Response(store.get_bytes(project, v.vsa_digest), media_type="application/json")


@router.get("/api/v1/projects/{project}/artifacts/{name}", tags=["repository"], summary="List versions")
def list_versions(
    request: Request, project: str, name: str, principal: Principal = Depends(require("artifact.read"))
) -> JSONResponse:
    _names(project, name)
    store, _ = _parts(request)
    return JSONResponse({"versions": [v.to_json() for v in service.versions(store.engine, project, name)]})


@router.delete("/api/v1/projects/{project}/artifacts/{name}/{version}", tags=["repository"], summary="Delete")
async def delete_version(
    request: Request, project: str, name: str, version: str, principal: Principal = Depends(require("artifact.delete"))
) -> JSONResponse:
    _names(project, name, version)
    store, blobs = _parts(request)
    v = await asyncio.to_thread(service.remove, store.engine, blobs, project, name, version)
    return JSONResponse({"deleted": v.to_json(), "evidenceKept": True})


@router.put("/api/v1/projects/{project}/repository/policy", tags=["repository"], summary="Set the repository policy")
async def put_policy(
    request: Request, project: str, principal: Principal = Depends(require("policy.write"))
) -> JSONResponse:
    check_project(project)
    store, blobs = _parts(request)
    doc = safejson.load_object(await request.body(), what="repository policy")
    return JSONResponse(await asyncio.to_thread(service.set_policy, store, blobs, project, doc, _load_policy))


@router.get("/api/v1/repository/publicKey", tags=["repository"], summary="The key that signs repository VSAs")
def public_key(request: Request) -> Response:
    return Response(
        keys.public_pem(request.app.state.repository_signer.public_key), media_type="application/x-pem-file"
    )
