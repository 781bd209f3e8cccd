"""Wiring access control into the app: state, routes, the dev login, and the audit anchoring thread."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Connection, Engine

from assay.access.anchor import anchor_now
from assay.access.gate import Access
from assay.access.ratelimit import parse_rate
from assay.crypto import keys
from assay.log.entries import canonicalize, hashedrekord_proposal
from assay.log.service import LogService, SideWrites
from assay.server import auth, routes_access, routes_devlogin
from assay.server.config import Settings, key_in_data_dir
from assay.store import lease


class Anchoring:
    """Anchors the audit head every ``interval`` seconds while holding lease ``audit-anchor``, and once on stop."""

    LEASE = "audit-anchor"

    def __init__(self, access: Access, append: Any, interval: float) -> None:
        self.access = access
        self.append = append
        self.interval = interval
        # A little above the interval: the holder renews every tick; others take over one TTL after it stops.
        self.ttl = interval * 1.2 + 1.0
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)
        if interval > 0:
            self._thread.start()

    def once(self) -> int | None:
        """Anchor now (if the head moved)."""
        return anchor_now(self.access.engine, self.access.audit, self.append)

    def tick(self) -> int | None:
        """One periodic round: anchor only if this process holds (or now takes) the lease."""
        if not lease.acquire(self.access.engine, self.LEASE, self.holder, self.ttl):
            return None
        return self.once()

    def _run(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            started = time.monotonic()
            try:
                self.tick()
            except Exception:  # the next tick retries; a failed anchor never stops the server
                pass
            wait = max(0.0, self.interval - (time.monotonic() - started))

    def stop(self) -> None:
        """Stop the timer, anchor the final head (idempotent) and give up the lease."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            self.once()
        except Exception:  # shutting down with the database gone: nothing more to do
            pass
        try:
            lease.release(self.access.engine, self.LEASE, self.holder)
        except Exception:  # the lease expires by itself
            pass


def per_worker(rate: tuple[float, float], workers: int) -> tuple[float, float]:
    """One process's share of a limit: with ``--workers N`` each process keeps its own buckets, so each gets 1/N of
    the rate and of the burst (at least one request), and all of them together never exceed the configured limit."""
    n = max(1, workers)
    return rate[0] / n, max(1.0, rate[1] / n)


def attach(app: FastAPI, settings: Settings, engine: Engine, log: LogService) -> Anchoring:
    """Install access control on ``app``; returns the anchoring job."""
    access = Access(
        engine,
        settings.server_admins(),
        per_worker(parse_rate(settings.rate_limit), settings.workers) if settings.rate_limit else None,
        per_worker(parse_rate(settings.login_rate_limit), settings.workers),
    )
    auth.install(app, access)
    signer = key_in_data_dir(settings.data_dir, "audit")
    pem = keys.public_pem(signer.public_key)

    def append(
        statement: bytes,
        claim: Callable[[Connection], None] | None = None,
        record: Callable[[Connection, int], None] | None = None,
    ) -> tuple[int, str]:
        digest = hashlib.sha256(statement).digest()
        entry = canonicalize(hashedrekord_proposal(signer.sign_message(statement), digest, pem))
        side = SideWrites(claim, record) if claim is not None or record is not None else None
        receipt = log.submit(entry, side=side)
        return receipt.entry.index, receipt.entry.leaf_hash.hex()

    app.state.audit_append = append
    app.state.audit_public_pem = pem
    app.include_router(routes_access.router)
    if settings.dev:
        app.include_router(routes_devlogin.router)
    return Anchoring(access, append, settings.audit_anchor_interval)


def outermost(inner: Any, app: FastAPI, settings: Settings) -> Any:
    """The audit middleware around everything (it also sees 413s and the log's fast path)."""
    return auth.AuditMiddleware(inner, app, app.state.access, settings.log_write == "require-token")
