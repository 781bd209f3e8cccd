"""Shared httpx plumbing: timeouts, retries on 429/5xx, error mapping."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import httpx

from assay.errors import EnvironmentFailure, InputError

RETRY_STATUS = {429, 502, 503, 504}
_REASON = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_shared: httpx.Client | None = None
_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """One pooled client per process (creating a client builds a TLS context, which is slow)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        return _shared


def request(
    method: str, url: str, *, retries: int = 3, timeout: float = 30.0, client: httpx.Client | None = None, **kwargs: Any
) -> httpx.Response:
    """One HTTP request with backoff on transient failures; raises on transport errors and 5xx."""
    delay = 0.2
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            resp = (client or shared_client()).request(method, url, timeout=timeout, **kwargs)
        except httpx.HTTPError as exc:
            last = exc
        else:
            if resp.status_code not in RETRY_STATUS or attempt == retries:
                if resp.status_code >= 500:  # the server's own reason code when it gives one (kek-unavailable)
                    raise EnvironmentFailure(
                        _reason(resp) or "server-error", f"{method} {url}: HTTP {resp.status_code}: {_message(resp)}"
                    )
                return resp
            last = None
        if attempt < retries:
            time.sleep(delay)
            delay *= 2
    raise EnvironmentFailure("network-error", f"{method} {url}: {last or 'service unavailable'}")


def _reason(resp: httpx.Response) -> str | None:
    """The reason code of an error body ``{"reason": "..."}``, when it is one (lowercase words and dashes)."""
    try:
        doc = resp.json()
    except ValueError:
        return None
    reason = doc.get("reason") if isinstance(doc, dict) else None
    return reason if isinstance(reason, str) and _REASON.fullmatch(reason) else None


def _message(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(doc, dict):
        return str(doc.get("message") or doc)[:300]
    return str(doc)[:300]


def reject(resp: httpx.Response, what: str) -> InputError:
    """A 4xx answer as an error carrying the server's reason code."""
    try:
        doc = resp.json()
        reason = (
            str(doc.get("reason") or f"http-{resp.status_code}")
            if isinstance(doc, dict)
            else f"http-{resp.status_code}"
        )
    except ValueError:
        reason = f"http-{resp.status_code}"
    return InputError(reason, f"{what}: the server refused it (HTTP {resp.status_code}): {_message(resp)}")
