"""JWE in the JSON serialization (RFC 7516) as ocicrypt writes it: A256GCM content, RSA-OAEP or ECDH-ES+A256KW keys.

Encryption writes one general-serialization JWE for any number of recipients (``alg`` and ``epk`` in each
recipient's header). Decryption accepts the general and the flattened forms, A128/192/256GCM content and
RSA-OAEP, RSA-OAEP-256 and ECDH-ES+A128/192/256KW recipients, so it reads what go-jose writes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from assay.errors import InputError, VerificationError

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_GCM = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
_KW = {"ECDH-ES+A128KW": 16, "ECDH-ES+A192KW": 24, "ECDH-ES+A256KW": 32}
_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
}


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64u(text: object, what: str = "JWE field") -> bytes:
    if not isinstance(text, str):
        raise InputError("malformed-jwe", f"{what} is not a string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InputError("malformed-jwe", f"{what} is not base64url") from None


def _curve_name(curve: ec.EllipticCurve) -> str:
    for name, (cls, _) in _CURVES.items():
        if isinstance(curve, cls):
            return name
    raise InputError("unsupported-key", f"curve {curve.name} is not supported for JWE")


def _oaep(alg: str) -> padding.OAEP:
    h: hashes.HashAlgorithm = hashes.SHA1() if alg == "RSA-OAEP" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


def _kdf(z: bytes, alg: str, size: int, apu: bytes, apv: bytes) -> bytes:
    def part(b: bytes) -> bytes:
        return len(b).to_bytes(4, "big") + b

    other = part(alg.encode()) + part(apu) + part(apv) + (size * 8).to_bytes(4, "big")
    return ConcatKDFHash(hashes.SHA256(), size, other).derive(z)


def _wrap_for(key: PublicKey, cek: bytes) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPublicKey):
        return {"header": {"alg": "RSA-OAEP"}, "encrypted_key": b64u(key.encrypt(cek, _oaep("RSA-OAEP")))}
    crv = _curve_name(key.curve)
    eph = ec.generate_private_key(key.curve)
    z = eph.exchange(ec.ECDH(), key)
    kek = _kdf(z, "ECDH-ES+A256KW", 32, b"", b"")
    nums = eph.public_key().public_numbers()
    size = _CURVES[crv][1]
    epk = {"kty": "EC", "crv": crv, "x": b64u(nums.x.to_bytes(size, "big")), "y": b64u(nums.y.to_bytes(size, "big"))}
    return {"header": {"alg": "ECDH-ES+A256KW", "epk": epk}, "encrypted_key": b64u(keywrap.aes_key_wrap(kek, cek))}


def encrypt(plaintext: bytes, recipients: Sequence[PublicKey]) -> bytes:
    """One general-serialization JWE of ``plaintext`` for every key in ``recipients`` (A256GCM)."""
    if not recipients:
        raise InputError("no-recipients", "a JWE needs at least one recipient")
    cek = os.urandom(32)
    protected = b64u(json.dumps({"enc": "A256GCM"}, separators=(",", ":")).encode())
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, plaintext, protected.encode())
    doc = {
        "protected": protected,
        "recipients": [_wrap_for(k, cek) for k in recipients],
        "iv": b64u(iv),
        "ciphertext": b64u(sealed[:-16]),
        "tag": b64u(sealed[-16:]),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _epk(header: dict[str, Any], curve: ec.EllipticCurve) -> ec.EllipticCurvePublicKey:
    epk = header.get("epk")
    if not isinstance(epk, dict) or epk.get("kty") != "EC" or epk.get("crv") != _curve_name(curve):
        raise InputError("malformed-jwe", "ECDH-ES recipient has no matching epk")
    x = int.from_bytes(unb64u(epk.get("x"), "epk x"), "big")
    y = int.from_bytes(unb64u(epk.get("y"), "epk y"), "big")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    except ValueError:
        raise InputError("malformed-jwe", "epk is not a point on its curve") from None


def _unwrap(key: PrivateKey, header: dict[str, Any], encrypted_key: bytes, size: int) -> bytes | None:
    alg = header.get("alg")
    try:
        if isinstance(key, rsa.RSAPrivateKey) and alg in ("RSA-OAEP", "RSA-OAEP-256"):
            return key.decrypt(encrypted_key, _oaep(alg))
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(alg, str) and alg in _KW:
            z = key.exchange(ec.ECDH(), _epk(header, key.curve))
            apu = unb64u(header["apu"]) if "apu" in header else b""
            apv = unb64u(header["apv"]) if "apv" in header else b""
            return keywrap.aes_key_unwrap(_kdf(z, alg, _KW[alg], apu, apv), encrypted_key)
    except (ValueError, keywrap.InvalidUnwrap):
        return None
    return None


def decrypt(data: bytes, keys: Sequence[PrivateKey]) -> bytes:
    """The plaintext of a JSON-serialized JWE, opened with the first key that unwraps a recipient's CEK."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise InputError("malformed-jwe", "the JWE is not JSON") from None
    if not isinstance(doc, dict):
        raise InputError("malformed-jwe", "the JWE is not a JSON object")
    protected_b64 = doc.get("protected", "")
    protected = json.loads(unb64u(protected_b64, "protected header")) if protected_b64 else {}
    shared = {**(doc.get("unprotected") or {}), **protected}
    entries = doc.get("recipients") or [{"header": doc.get("header") or {}, "encrypted_key": doc.get("encrypted_key")}]
    enc = shared.get("enc")
    if enc not in _GCM:
        raise InputError("unsupported-jwe", f"JWE content encryption {enc!r} is not supported")
    aad = protected_b64.encode() + (b"." + doc["aad"].encode() if doc.get("aad") else b"")
    iv, ct, tag = (unb64u(doc.get(f), f) for f in ("iv", "ciphertext", "tag"))
    for entry in entries:
        header = {**shared, **(entry.get("header") or {})}
        ek = unb64u(entry.get("encrypted_key", ""), "encrypted_key")
        for key in keys:
            cek = _unwrap(key, header, ek, _GCM[enc])
            if cek is None or len(cek) != _GCM[enc]:
                continue
            try:
                return AESGCM(cek).decrypt(iv, ct + tag, aad)
            except InvalidTag:
                raise VerificationError("jwe-tampered", "the JWE ciphertext fails authentication") from None
    raise VerificationError("no-matching-key", "none of the given keys is a recipient of this JWE")
