"""In-process token buckets keyed by identity or address."""

from __future__ import annotations

import re
import threading
import time

from assay.errors import InputError

MAX_KEYS = 100_000


def parse_rate(text: str) -> tuple[float, float]:
    """``N/s``, ``N/m`` or ``N/h`` with an optional ``:BURST`` -> (tokens per second, burst)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)/([smh])(?::(\d+))?", text.strip())
    if not m:
        raise InputError("bad-rate-limit", f"{text!r} is not a rate", hint="use e.g. 20/s, 600/m or 100/m:20")
    per = {"s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    rate = float(m.group(1)) / per
    burst = float(m.group(3)) if m.group(3) else max(1.0, float(m.group(1)))
    return rate, burst


class Buckets:
    """One token bucket per key; ``take`` returns 0 when allowed, else seconds until a token is available."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one token for ``key``."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                if len(self._state) >= MAX_KEYS:
                    self._state.clear()
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 3600.0

    def peek(self, key: str) -> float:
        """Seconds until ``key`` has a token (0 if it has one now), without spending it."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._state.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        return 0.0 if tokens >= 1.0 else ((1.0 - tokens) / self.rate if self.rate > 0 else 3600.0)
