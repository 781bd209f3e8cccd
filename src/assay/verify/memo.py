"""Bounded memo for pure verification sub-steps.

Chain/SCT checks and RFC 3161 timestamp checks are pure functions of their
input bytes and the trusted root. Repeat verifications of the same material —
an admission controller seeing the same image again — can skip the signature
work. Only successes are remembered; the trusted root object is held in the
entry so the ``id`` in the key cannot be reused while cached. ``enabled`` lets
benchmarks measure the cold path.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A least-recently-used map of successful results."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.enabled = True
        self._entries: OrderedDict[K, tuple[object, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The remembered result, or None."""
        if not self.enabled:
            return None
        hit = self._entries.get(key)
        if hit is None:
            return None
        self._entries.move_to_end(key)
        return hit[1]

    def put(self, key: K, anchor: object, value: V) -> None:
        """Remember a success; ``anchor`` is kept alive with it."""
        if not self.enabled:
            return
        self._entries[key] = (anchor, value)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()


ALL: list[Memo[object, object]] = []


def memo(size: int = 1024) -> Memo[K, V]:
    """A registered memo (so :func:`set_enabled` reaches every one)."""
    m: Memo[K, V] = Memo(size)
    ALL.append(m)  # type: ignore[arg-type]
    return m


def set_enabled(enabled: bool) -> None:
    """Turn every memo on or off (off also clears them)."""
    for m in ALL:
        m.enabled = enabled
        if not enabled:
            m.clear()
