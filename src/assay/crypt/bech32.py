"""Bech32 (BIP 173) encoding as age uses it for keys: no length limit, one case per string."""

from __future__ import annotations

from assay.errors import InputError

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


def _expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes | list[int], frm: int, to: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to) - 1
    for value in data:
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (to - bits)) & maxv)
    elif not pad and (bits >= frm or (acc << (to - bits)) & maxv):
        raise InputError("bad-bech32", "bech32 string has non-zero padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Lower-case Bech32 of ``data`` under human-readable part ``hrp``."""
    values = _convert(data, 8, 5, True)
    poly = _polymod(_expand(hrp) + values + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """(hrp, data) of a Bech32 string; mixed case, bad characters or a bad checksum raise ``bad-bech32``."""
    if text.lower() != text and text.upper() != text:
        raise InputError("bad-bech32", "bech32 string mixes upper and lower case")
    text = text.lower()
    hrp, sep, rest = text.rpartition("1")
    if not sep or not hrp or len(rest) < 6 or any(c not in _CHARSET for c in rest):
        raise InputError("bad-bech32", "not a bech32 string")
    if any(ord(c) < 33 or ord(c) > 126 for c in hrp):
        raise InputError("bad-bech32", "bech32 prefix has invalid characters")
    values = [_CHARSET.index(c) for c in rest]
    if _polymod(_expand(hrp) + values) != 1:
        raise InputError("bad-bech32", "bech32 checksum mismatch")
    return hrp, bytes(_convert(values[:-6], 5, 8, False))
