"""The HTTPS webhook: ``POST /validate``, ``POST /mutate``, ``GET /healthz``, ``/readyz``, ``/metrics``.

A small Starlette app run by uvicorn with TLS. Bad bodies answer 400 with
``{"code", "reason", "message"}``; an unexpected failure inside a decision
denies the request (fail closed) rather than answering 500. Policy files are
watched: a set that no longer loads is refused and the last good set keeps
serving; until a first set loads, ``/readyz`` answers 503 with the reason.
Watched are the policy files and every file a loaded policy names (keys,
trusted roots, layouts and their keys, links directories): a rotated key is
a reload, and — the verdict cache being keyed by the digest of a policy and
all its trust material — no verdict made under the old key is reused. While
the last reload failed, it is retried every interval (a missing key file may
appear later without any policy file changing).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assay.admission import policyset
from assay.admission.engine import Engine
from assay.errors import AssayError, InputError

log = logging.getLogger("assay.admission")
MAX_BODY = 8 * 1024 * 1024
WATCH_HASH_LIMIT = 1024 * 1024  # watched files up to this size are compared by content too


@dataclass
class State:
    """What the webhook serves and why it is (not) ready."""

    engine: Engine
    sources: list[str]
    excluded: tuple[str, ...]
    reload_interval: float = 5.0
    error: AssayError | None = None
    reloads: int = 0
    failed_reloads: int = 0
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def load(self) -> bool:
        """(Re)load the policy set; on failure keep the last good one and remember why."""
        try:
            self.engine.policies = policyset.load(self.sources, self.excluded)
        except AssayError as exc:
            if self.error is None or self.error.line() != exc.line():
                log.error("policy set not loaded: %s", exc.line())
            self.error = exc
            self.failed_reloads += 1
            return False
        self.error = None
        self.reloads += 1
        return True

    def snapshot(self) -> dict[str, tuple[int, int, int, str] | None]:
        """(mtime ns, size, inode, sha256 of small files) of every policy file and every file the loaded
        policies name, now; directories contribute each file below them; a missing file is None. Contents are
        compared too: a key rewritten in place within one timestamp tick keeps its mtime and size."""
        try:
            names = [str(f.absolute()) for f in policyset.policy_files(self.sources)]
        except (OSError, AssayError):
            names = []
        if self.engine.policies is not None:
            names += [f for f in self.engine.policies.watched() if f not in names]
        out: dict[str, tuple[int, int, int, str] | None] = {}
        for name in names:
            path = Path(name)
            files = sorted(p for p in path.rglob("*") if p.is_file())[:10_000] if path.is_dir() else [path]
            for f in files:
                try:
                    st = f.stat()  # follows symlinks: a Secret volume's ..data swap changes the target
                    small = st.st_size <= WATCH_HASH_LIMIT
                    h = hashlib.sha256(f.read_bytes()).hexdigest() if small else ""
                    out[str(f)] = (st.st_mtime_ns, st.st_size, st.st_ino, h)
                except OSError:
                    out[str(f)] = None
        return out

    async def watch(self) -> None:
        """Reload when a watched file changes, or on every interval while the last load failed
        (a failed reload keeps the last good set)."""
        seen = await asyncio.to_thread(self.snapshot)
        while True:
            await asyncio.sleep(self.reload_interval)
            now = await asyncio.to_thread(self.snapshot)
            if now != seen or self.error is not None:
                await asyncio.to_thread(self.load)
                # files the new set names are added; a file that changed during the load keeps its
                # earlier state here, so the next round sees the difference and loads again
                after = await asyncio.to_thread(self.snapshot)
                seen = {k: now.get(k, v) for k, v in after.items()}


def _error(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "reason": reason, "message": message}, status_code=status)


def build_app(state: State) -> Starlette:
    """The ASGI app over a loaded (or not yet loaded) state."""
    engine = state.engine
    metrics = engine.metrics

    async def admit(request: Request, mutate: bool) -> Response:
        hook = "mutate" if mutate else "validate"
        started = time.perf_counter()
        try:
            body = await _body(request)
            outcome = await engine.review(body, mutate)
        except InputError as exc:
            metrics.decisions.labels(hook, "bad-request").inc()
            log.warning("%s: bad request: %s", hook, exc.line())
            return _error(400, exc.reason, exc.message)
        resp = outcome.response
        result = "allowed" if resp.allowed else "denied"
        if resp.allowed and resp.warnings:
            result = "warned"
        metrics.decisions.labels(hook, result).inc()
        metrics.latency.labels(hook).observe(time.perf_counter() - started)
        if not resp.allowed:
            log.info("%s %s: denied: %s", hook, resp.uid, resp.message.replace("\n", " | "))
        return Response(json.dumps(resp.to_review()), media_type="application/json")

    async def validate(request: Request) -> Response:
        return await admit(request, False)

    async def mutate(request: Request) -> Response:
        return await admit(request, True)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if engine.policies is None:
            err = state.error
            return _error(503, err.reason if err else "policies-not-loaded", err.message if err else "loading")
        body: dict[str, Any] = {"status": "ready", "policies": [p.name for p in engine.policies.policies]}
        if state.error is not None:
            body["lastReloadError"] = {"reason": state.error.reason, "message": state.error.message}
        return JSONResponse(body)

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if state.reload_interval > 0:
            state.tasks.append(asyncio.create_task(state.watch()))
        try:
            yield
        finally:
            for t in state.tasks:
                t.cancel()
            await engine.cache.close()

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, "not-found", f"no route {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, "method-not-allowed", f"{request.method} is not allowed on {request.url.path}")

    return Starlette(
        routes=[
            Route("/validate", validate, methods=["POST"]),
            Route("/mutate", mutate, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
        lifespan=lifespan,
    )


async def _body(request: Request) -> bytes:
    if request.headers.get("content-type", "").split(";")[0].strip() not in ("application/json", ""):
        raise InputError("content-type-unsupported", "AdmissionReview bodies are application/json")
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_BODY:
        raise InputError("body-too-large", f"the body exceeds {MAX_BODY} bytes")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            raise InputError("body-too-large", f"the body exceeds {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def serve(state: State, host: str, port: int, cert: str, key: str, client_ca: str | None = None) -> None:
    """Run the webhook with uvicorn over TLS (blocks); ``client_ca`` requires client certificates it signed."""
    import gc
    import ssl

    import uvicorn

    import assay.service.image  # noqa: F401  (imported now, not during the first request)

    gc.collect()
    gc.freeze()  # the loaded policies and modules are long-lived: keep them out of every collection

    config = uvicorn.Config(
        build_app(state),
        host=host,
        port=port,
        ssl_certfile=cert,
        ssl_keyfile=key,
        ssl_ca_certs=client_ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
    )
    uvicorn.Server(config).run()
