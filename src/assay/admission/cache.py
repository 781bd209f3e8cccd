"""Verdict and tag caches: in this process (default) or shared by replicas through Redis (``redis://``).

Values are JSON; every entry has a TTL. Redis errors never fail a decision:
they count as a miss (the verification then runs) and are logged once.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol

from assay.errors import InputError

log = logging.getLogger("assay.admission")
MAX_MEMORY_ENTRIES = 100_000


class Cache(Protocol):
    """An async key → JSON cache with per-entry TTLs."""

    kind: str

    async def get(self, key: str) -> Any:
        """The value under ``key``, or None when absent or expired."""
        ...

    async def set(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (nothing for ttl <= 0)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryCache:
    """A dict with expiry times; oldest entries are dropped past ``MAX_MEMORY_ENTRIES``."""

    kind = "memory"

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, Any]] = {}

    async def get(self, key: str) -> Any:
        """The value under ``key``, or None when absent or expired."""
        hit = self._data.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            self._data.pop(key, None)
            return None
        return hit[1]

    async def set(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (nothing for ttl <= 0)."""
        if ttl <= 0:
            return
        if len(self._data) >= MAX_MEMORY_ENTRIES:
            for k in list(self._data)[: MAX_MEMORY_ENTRIES // 10]:
                self._data.pop(k, None)
        self._data[key] = (time.monotonic() + ttl, value)

    async def close(self) -> None:
        """Release connections."""
        self._data.clear()


class RedisCache:
    """Entries under ``assay:admission:`` in Redis, with Redis's own expiry."""

    kind = "redis"
    PREFIX = "assay:admission:"

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self._client = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._warned = False

    def _trouble(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("redis cache %s unavailable (%s); verifying without it", self.url, exc)
            self._warned = True

    async def get(self, key: str) -> Any:
        """The value under ``key``, or None when absent or expired."""
        import redis

        try:
            raw = await self._client.get(self.PREFIX + key)
        except (redis.RedisError, OSError) as exc:
            self._trouble(exc)
            return None
        self._warned = False
        return json.loads(raw) if raw is not None else None

    async def set(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (nothing for ttl <= 0)."""
        import redis

        if ttl <= 0:
            return
        try:
            await self._client.set(self.PREFIX + key, json.dumps(value), px=max(1, int(ttl * 1000)))
        except (redis.RedisError, OSError) as exc:
            self._trouble(exc)

    async def close(self) -> None:
        """Release connections."""
        await self._client.aclose()


def open_cache(url: str | None) -> Cache:
    """``None``/``memory`` → in-process; ``redis://…``/``rediss://…`` → Redis."""
    if not url or url == "memory":
        return MemoryCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache(url)
    raise InputError("cache-url-invalid", f"--cache {url!r}: expected memory or redis://HOST:PORT/DB")
