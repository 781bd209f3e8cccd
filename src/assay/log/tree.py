"""Merkle tree arithmetic over stored perfect-subtree hashes (pure).

Nodes are addressed ``(level, index)``: the perfect subtree of ``2**level``
leaves starting at leaf ``index * 2**level``. Every RFC 6962 proof is built
from the hashes of a few such nodes, fetched in one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from assay.verify.merkle import node_hash

NodeKey = tuple[int, int]
Fetch = Callable[[Iterable[NodeKey]], dict[NodeKey, bytes]]


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[NodeKey]:
    """Decompose leaves ``[start, end)`` into maximal aligned perfect subtrees, left to right."""
    out: list[NodeKey] = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length()
        while start + (1 << level) > end:
            level -= 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def fold(hashes: list[bytes]) -> bytes:
    """Root of a range from its perfect subtrees (sizes non-increasing left to right)."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _path(m: int, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if m - start < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def _subproof(m: int, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    complete = True
    while True:
        n = end - start
        if m == n:
            if not complete:
                out.append((start, end))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            m -= k
            start += k
            complete = False
    out.reverse()
    return out


def _hashes_for(ranges: list[tuple[int, int]], fetch: Fetch) -> list[bytes]:
    parts = [perfect_subtrees(a, b) for a, b in ranges]
    nodes = fetch({key for p in parts for key in p})
    try:
        return [fold([nodes[key] for key in p]) for p in parts]
    except KeyError as exc:
        raise LookupError(f"tree node {exc.args[0]} is not stored") from None


def inclusion_proof(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    return _hashes_for(_path(index, 0, size), fetch)


def consistency_proof(first: int, second: int, fetch: Fetch) -> list[bytes]:
    """Proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first == 0 or first == second:
        return []
    return _hashes_for(_subproof(first, 0, second), fetch)


def root(size: int, fetch: Fetch) -> bytes:
    """Root hash of the tree of ``size`` leaves (empty tree: SHA-256 of nothing)."""
    if size == 0:
        import hashlib

        return hashlib.sha256(b"").digest()
    return _hashes_for([(0, size)], fetch)[0]


def append(
    compact: list[tuple[int, int, bytes]], leaves: list[bytes], first_index: int
) -> tuple[list[tuple[int, int, bytes]], list[tuple[int, int, bytes]]]:
    """Add leaf hashes to a tree whose right edge is ``compact``; returns (new nodes, new compact range)."""
    stack = list(compact)
    new: list[tuple[int, int, bytes]] = []
    for i, leaf in enumerate(leaves):
        node = (0, first_index + i, leaf)
        new.append(node)
        stack.append(node)
        while len(stack) >= 2 and stack[-1][0] == stack[-2][0]:
            right = stack.pop()
            left = stack.pop()
            merged = (left[0] + 1, left[1] >> 1, node_hash(left[2], right[2]))
            new.append(merged)
            stack.append(merged)
    return new, stack
