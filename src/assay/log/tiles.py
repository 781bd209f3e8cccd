"""C2SP tlog-tiles paths and encodings (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import InputError

TILE_WIDTH = 256
TILE_HEIGHT = 8
MAX_LEVEL = 63 // TILE_HEIGHT  # levels above this cover more than 2^63 leaves
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts "²" and other digits


@dataclass(frozen=True)
class TilePath:
    """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``."""

    level: int | None  # None for entry bundles
    index: int
    width: int  # TILE_WIDTH for full tiles


def encode_index(n: int) -> str:
    """``1234067`` → ``x001/x234/067``."""
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def parse_tile_path(path: str) -> TilePath:
    """Parse the part of a tile URL after ``tile/``."""
    bad = InputError("bad-tile-path", f"not a tile path: {path!r}")
    parts = path.split("/")
    width = TILE_WIDTH
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        w = parts[-1]
        if not _DIGITS.fullmatch(w) or not 1 <= int(w) < TILE_WIDTH or w != str(int(w)):
            raise bad
        width = int(w)
        parts = [*parts[:-2], parts[-2][:-2]]
    if len(parts) < 2:
        raise bad
    head, *index_parts = parts
    if head == "entries":
        level = None
    elif _DIGITS.fullmatch(head) and len(head) <= 2 and head == str(int(head)) and int(head) <= MAX_LEVEL:
        level = int(head)
    else:
        raise bad
    for i, p in enumerate(index_parts):
        digits = p[1:] if i < len(index_parts) - 1 else p
        if (i < len(index_parts) - 1 and not p.startswith("x")) or len(digits) != 3 or not _DIGITS.fullmatch(digits):
            raise bad
    if len(index_parts) > 7:  # indexes beyond 10^21 are beyond any tree
        raise bad
    n = int("".join(p.lstrip("x") for p in index_parts))
    if encode_index(n) != "/".join(index_parts):
        raise bad
    return TilePath(level, n, width)


def entry_bundle(bodies: list[bytes]) -> bytes:
    """Entries, each prefixed by its big-endian uint16 length."""
    return b"".join(len(b).to_bytes(2, "big") + b for b in bodies)
