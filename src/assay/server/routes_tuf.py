"""TUF repositories: ``/tuf/{project}/`` reads (anonymous on public projects) and the upload API, the online
re-signing job, server-owned Sigstore trust targets and the ``--dev`` bootstrap of project ``sigstore``."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine

from assay.errors import AssayError, InputError
from assay.formats import safejson
from assay.server.auth import Principal, require
from assay.server.config import DEV_ADMIN, Settings, key_in_data_dir
from assay.server.names import check_project
from assay.store import lease
from assay.tuf import keys as tuf_keys
from assay.tuf import owned
from assay.tuf.repository import OnlineKeys, Published, Repository

router = APIRouter()
JSON = "application/json"
DEV_PROJECT = "sigstore"


def _repo(request: Request) -> Repository:
    return request.app.state.tuf  # type: ignore[no-any-return]


async def _thread(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


@router.get("/tuf/{project}/targets/{path:path}", tags=["tuf"], summary="A target by its hashed name")
async def target(
    request: Request, project: str, path: str, principal: Principal = Depends(require("tuf.read"))
) -> Response:
    check_project(project)
    data = await _thread(_repo(request).blob, project, path.rpartition("/")[2])
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE})


@router.get("/tuf/{project}/{filename}", tags=["tuf"], summary="Metadata: root.json, N.ROLE.json, timestamp.json")
async def metadata(
    request: Request, project: str, filename: str, principal: Principal = Depends(require("tuf.read"))
) -> Response:
    check_project(project)
    data = await _thread(_repo(request).metadata, project, filename)
    return Response(data, media_type=JSON, headers={"Cache-Control": _cache(filename)})


def _cache(filename: str) -> str:
    """Versioned metadata never changes once published (consistent snapshots); timestamp and root.json do."""
    return IMMUTABLE if filename[:1].isdigit() else "no-cache"


IMMUTABLE = "public, max-age=31536000, immutable"


@router.get("/api/v1/tuf/online-keys", tags=["tuf"], summary="The server's online TUF keys (preferred first)")
async def online_keys(request: Request) -> dict[str, Any]:
    return {"keys": _repo(request).online.public()}


@router.get("/api/v1/projects/{project}/tuf/status", tags=["tuf"], summary="Each role's version, expiry and keys")
async def status(request: Request, project: str, principal: Principal = Depends(require("tuf.read"))) -> Any:
    return await _thread(_repo(request).status, project)


@router.get("/api/v1/projects/{project}/tuf/pending/{role}", tags=["tuf"], summary="A version awaiting signatures")
async def pending(
    request: Request, project: str, role: str, principal: Principal = Depends(require("tuf.read"))
) -> Response:
    return Response(await _thread(_repo(request).pending, project, role), media_type=JSON)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = safejson.load_object(await request.body(), what="the TUF init request")
    except InputError as exc:
        raise InputError("tuf-metadata-malformed", exc.message) from None
    if not isinstance(body, dict) or not isinstance(body.get("root"), str) or not isinstance(body.get("targets"), str):
        raise InputError("tuf-metadata-malformed", 'expected {"root": "<root.json>", "targets": "<targets.json>"}')
    return body


def _answer(done: Published) -> JSONResponse:
    return JSONResponse(done.to_json(), status_code=202 if done.missing else 201)


@router.post("/api/v1/projects/{project}/tuf", tags=["tuf"], summary="Create the repository: root v1 and targets v1")
async def init(request: Request, project: str, principal: Principal = Depends(require("tuf.root"))) -> JSONResponse:
    body = await _json_body(request)
    done = await _thread(_repo(request).init, project, body["root"].encode(), body["targets"].encode())
    return JSONResponse(done, status_code=201)


def _partial(request: Request) -> bool:
    return request.query_params.get("partial", "").lower() in ("1", "true", "yes")


@router.put("/api/v1/projects/{project}/tuf/root", tags=["tuf"], summary="Upload root N+1 (rotation)")
async def put_root(request: Request, project: str, principal: Principal = Depends(require("tuf.root"))) -> JSONResponse:
    data = await request.body()
    return _answer(await _thread(_repo(request).upload_root, project, data, _partial(request)))


@router.put("/api/v1/projects/{project}/tuf/roles/{role}", tags=["tuf"], summary="Upload a signed role version")
async def put_role(
    request: Request, project: str, role: str, principal: Principal = Depends(require("tuf.sign"))
) -> JSONResponse:
    data = await request.body()
    access = request.app.state.access

    def may_delegate() -> None:  # a version changing delegations needs the delegate permission too
        access.authorize(principal, "tuf.delegate", project)

    repo = _repo(request)
    return _answer(await _thread(repo.upload_role, project, role, data, _partial(request), may_delegate))


@router.put("/api/v1/projects/{project}/tuf/blobs", tags=["tuf"], summary="Upload a target file's bytes")
async def put_blob(request: Request, project: str, principal: Principal = Depends(require("tuf.sign"))) -> Any:
    check_project(project)
    data = await request.body()
    return JSONResponse(await _thread(_repo(request).put_blob, project, data), status_code=201)


@router.post("/api/v1/tuf/republish", tags=["tuf"], summary="Republish the server's Sigstore trust targets")
async def republish(request: Request, principal: Principal = Depends(require("tuf.republish"))) -> Any:
    done = await _thread(republish_trust, request.app)
    return {"project": request.app.state.settings.tuf_trust_project, "published": None if done is None else
            done.to_json()}  # fmt: skip


# ---- server-owned Sigstore trust ---------------------------------------------------------------


def trust_files(app: FastAPI) -> dict[str, bytes]:
    """The bytes of the server's ``trusted_root.json`` and ``signing_config.v0.2.json``, as served over TUF."""
    import json

    def dump(doc: Any) -> bytes:
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    return {"trusted_root.json": dump(app.state.trusted_root()),
            "signing_config.v0.2.json": dump(app.state.signing_config())}  # fmt: skip


def republish_trust(app: FastAPI) -> Published | None:
    """Republish the trust targets into ``--tuf-trust-project`` when their bytes changed (None: unchanged/unset).

    THE function to call after the server's Sigstore keys change (``assay server rotate-key``)."""
    project = app.state.settings.tuf_trust_project
    if not project:
        return None
    return owned.publish(app.state.tuf, project, trust_files(app))


# ---- the online re-signing job -------------------------------------------------------------------


class Resigner:
    """Re-signs snapshots and timestamps past half their lifetime every ``tick`` seconds, under lease ``tuf-resign``."""

    LEASE = "tuf-resign"

    def __init__(self, repo: Repository, tick: float) -> None:
        self.repo = repo
        self.tick_s = tick
        self.ttl = tick * 2 + 5.0
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tuf-resign", daemon=True)

    def start(self) -> None:
        if self.tick_s > 0:
            self._thread.start()

    def tick(self) -> list[tuple[str, str]]:
        if not lease.acquire(self.repo.engine, self.LEASE, self.holder, self.ttl):
            return []
        return self.repo.resign_due()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:  # the next tick retries; re-signing never stops the server
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            lease.release(self.repo.engine, self.LEASE, self.holder)
        except Exception:  # the lease expires by itself
            pass


def online_keys_for(settings: Settings) -> OnlineKeys:
    """``--tuf-online-key`` signers (preferred first), then the data directory's own ``tuf-online`` key."""
    found = [tuf_keys.tuf_signer(spec) for spec in settings.tuf_online_keys]
    found.append(tuf_keys.tuf_signer(_dev_key(settings, "tuf-online")))
    return OnlineKeys(found)


def _dev_bootstrap(app: FastAPI, settings: Settings, repo: Repository) -> None:
    """--dev: a public project ``sigstore`` whose root/targets keys live in the data directory (dev only)."""
    from assay.tuf import offline
    from assay.tuf.repository import to_bytes

    access = app.state.access
    actor = (settings.dev_issuer, DEV_ADMIN)
    try:
        access.projects.get(DEV_PROJECT)
    except Exception:
        try:
            access.projects.create(DEV_PROJECT, None, actor, "public")
        except Exception:  # another worker created it
            pass
    where = settings.data_dir / "tuf" / DEV_PROJECT
    root_path = where / "root.json"
    if not repo.initialised(DEV_PROJECT):
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        root_signer = tuf_keys.tuf_signer(_dev_key(settings, "tuf-dev-root"))
        targets_signer = tuf_keys.tuf_signer(_dev_key(settings, "tuf-dev-targets"))
        online = repo.online.signers[0].public_key
        root = offline.build_root([root_signer.public_key], 1, [targets_signer.public_key], 1, online, 3650)
        offline.sign(root, [root_signer])
        from tuf.api.metadata import Metadata, Targets

        targets = Metadata(Targets(expires=offline.expiry(3650), delegations=owned.delegation(online)))
        offline.sign(targets, [targets_signer])
        try:
            repo.init(DEV_PROJECT, to_bytes(root), to_bytes(targets))
            root_path.write_bytes(to_bytes(root))
        except AssayError:  # another worker initialised it
            pass
    if not root_path.exists():
        root_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        root_path.write_bytes(repo.metadata(DEV_PROJECT, "1.root.json"))
    sys.stderr.write(f"*** --dev: TUF repository {settings.url}/tuf/{DEV_PROJECT} (bootstrap root {root_path}) ***\n")


def _dev_key(settings: Settings, name: str) -> str:
    key_in_data_dir(settings.data_dir, name)
    return str(settings.data_dir / "keys" / f"{name}.pem")


def mount(app: FastAPI, settings: Settings, engine: Engine) -> Resigner:
    """The TUF routes, the repository on ``app.state.tuf``, the trust targets published; returns the job."""
    repo = Repository(engine, online_keys_for(settings), settings.tuf_snapshot_expiry, settings.tuf_timestamp_expiry)
    app.state.tuf = repo
    app.state.tuf_republish = lambda: republish_trust(app)
    app.include_router(router)
    if settings.dev and not settings.tuf_trust_project:
        settings.tuf_trust_project = DEV_PROJECT
    if settings.dev and settings.tuf_trust_project == DEV_PROJECT:
        _dev_bootstrap(app, settings, repo)
    if settings.tuf_trust_project:
        try:
            republish_trust(app)
        except AssayError as exc:
            sys.stderr.write(f"assay server: TUF trust targets not published: error[{exc.reason}]: {exc.message}\n")
    return Resigner(repo, settings.tuf_tick)


def root_file(settings: Settings) -> Path:
    """Where ``--dev`` writes the ``sigstore`` project's bootstrap root."""
    return settings.data_dir / "tuf" / DEV_PROJECT / "root.json"
