"""OpenPGP public keys as in-toto's ``gpg`` key entries (what ``in-toto-verify --gpg`` loads from a keyring).

Owns: reading an OpenPGP public key file (ASCII-armoured or binary) into the key dict in-toto layouts hold
(``type``, ``method: pgp+…``, ``hashes``, ``keyval``, ``creation_time``, ``validity_period``, ``subkeys``),
with securesystemslib's OpenPGP packet parser, so keys are named and checked exactly as in-toto does.
May import: ``errors``; uses securesystemslib's gpg packet parser (no ``gpg`` binary, no keyring).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from assay.errors import InputError

ARMOR_BEGIN = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"


def is_openpgp(data: bytes) -> bool:
    """True when ``data`` looks like an OpenPGP public key (armoured, or a binary public-key packet)."""
    head = data.lstrip()[:64]
    if head.startswith(ARMOR_BEGIN):
        return True
    # binary: an old-format (0x99 / 0x98 / 0x9a) or new-format (0xc6) public-key packet tag first
    return bool(data) and data[0] in (0x98, 0x99, 0x9A, 0xC6)


def dearmor(data: bytes, where: str) -> bytes:
    """The packets of an ASCII-armoured public key block (binary data is returned as it is)."""
    if not data.lstrip().startswith(ARMOR_BEGIN):
        return data
    lines = data.decode("ascii", "replace").strip().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if not line.strip()) + 1
        end = next(i for i, line in enumerate(lines) if line.startswith("-----END PGP PUBLIC KEY BLOCK-----"))
    except StopIteration:
        raise InputError("pgp-malformed-key", f"{where}: an unterminated OpenPGP armour block") from None
    body = [line.strip() for line in lines[start:end] if line.strip() and not line.startswith("=")]
    try:
        return base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("pgp-malformed-key", f"{where}: the OpenPGP armour is not base64") from None


def key_dict(data: bytes, where: str) -> dict[str, Any]:
    """in-toto's key entry for the (first) primary key in an OpenPGP public key file, with its subkeys."""
    from securesystemslib._gpg import common

    packets = dearmor(data, where)
    try:
        bundle = common.parse_pubkey_bundle(packets)  # type: ignore[no-untyped-call]
        keyid = bundle[0x06]["key"]["keyid"]
        key: dict[str, Any] = common.get_pubkey_bundle(packets, keyid)  # type: ignore[no-untyped-call]
    except Exception as exc:  # securesystemslib raises its own parsing errors and KeyError on odd bundles
        raise InputError("pgp-malformed-key", f"{where}: not a usable OpenPGP public key ({exc})") from None
    if "private" in (key.get("keyval") or {}) and key["keyval"]["private"]:
        raise InputError("private-key-given", f"{where}: holds a secret key; give the public key")
    return key
