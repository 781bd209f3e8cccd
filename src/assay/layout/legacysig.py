"""securesystemslib's key dicts and legacy signature schemes for the common key types, without its signer package.

Importing ``securesystemslib.signer`` loads every signer backend (PKCS#11 among them), a large share of
``assay verify-layout``'s start-up. The schemes in-toto keys use in practice (ECDSA P-256/384/521, Ed25519,
RSA PSS and PKCS#1 v1.5 with SHA-256/384/512) are checked here exactly as ``SSlibKey`` checks them; the
callers fall back to securesystemslib for anything else (``None`` from these functions). May import
``assay.crypto`` and ``cryptography`` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

_EC = {
    "ecdsa-sha2-nistp256": (ec.SECP256R1, hashes.SHA256),
    "ecdsa-sha2-nistp384": (ec.SECP384R1, hashes.SHA384),
    "ecdsa-sha2-nistp521": (ec.SECP521R1, hashes.SHA512),
}
_RSA = {
    f"{pad}-{h}": (pad, alg)
    for pad in ("rsassa-pss", "rsa-pkcs1v15")
    for h, alg in (("sha256", hashes.SHA256), ("sha384", hashes.SHA384), ("sha512", hashes.SHA512))
}


@lru_cache(maxsize=64)
def _pem_public_key(pem: str) -> Any:
    """A PEM public key, loaded once per run however many links and layouts it checks (keys are immutable)."""
    return serialization.load_pem_public_key(pem.encode("utf-8"))


def handles(kd: dict[str, Any]) -> bool:
    """True when key dict ``kd`` is of a type and scheme checked here."""
    keytype, scheme, keyval = kd.get("keytype"), kd.get("scheme"), kd.get("keyval")
    if (
        not isinstance(kd.get("keyid"), str)
        or not isinstance(keyval, dict)
        or not isinstance(keyval.get("public"), str)
    ):
        return False
    return (
        (keytype == "ecdsa" and scheme in _EC)
        or (keytype == "rsa" and scheme in _RSA)
        or (keytype == "ed25519" and scheme == "ed25519")
    )


def verify(kd: dict[str, Any], sig: bytes, message: bytes) -> bool:
    """True when ``sig`` over ``message`` verifies under ``kd`` (a key dict for which :func:`handles` holds)."""
    keytype, scheme, public = kd["keytype"], kd["scheme"], kd["keyval"]["public"]
    try:
        if keytype == "ed25519":
            ed = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
            ed.verify(sig, message)
            return True
        key = _pem_public_key(public)
        if keytype == "ecdsa":
            curve, alg = _EC[scheme]
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
                return False
            key.verify(sig, message, ec.ECDSA(alg()))
            return True
        pad_name, alg = _RSA[scheme]
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(alg()), salt_length=padding.PSS.AUTO)
            if pad_name == "rsassa-pss"
            else padding.PKCS1v15()
        )
        key.verify(sig, message, pad, alg())
        return True
    except InvalidSignature:
        return False
    except Exception:  # a key that does not load (bad hex or PEM, unsupported algorithm) verifies nothing
        return False


def key_dict(public: Any, canonical: Any) -> dict[str, Any] | None:
    """``SSlibKey.from_crypto(public)`` as a layout key dict with its keyid (None for other key types)."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        keytype, scheme = "ed25519", "ed25519"
        value = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    else:
        if isinstance(public, rsa.RSAPublicKey):
            keytype, scheme = "rsa", "rsassa-pss-sha256"
        elif isinstance(public, ec.EllipticCurvePublicKey):
            names = {ec.SECP256R1: "256", ec.SECP384R1: "384", ec.SECP521R1: "521"}
            size = names.get(type(public.curve))
            if size is None:
                return None
            keytype, scheme = "ecdsa", f"ecdsa-sha2-nistp{size}"
        else:
            return None
        value = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    d: dict[str, Any] = {"keytype": keytype, "scheme": scheme, "keyval": {"public": value}}
    d["keyid"] = hashlib.sha256(canonical(d)).hexdigest()
    return d


@dataclass(frozen=True)
class _PublicKey:
    keyid: str


@dataclass(frozen=True)
class _Signature:
    keyid: str
    signature: str  # hex, as securesystemslib's Signature


class FastSigner:
    """``CryptoSigner`` for an ECDSA or Ed25519 key in memory: the same keyid, scheme and signature encoding."""

    def __init__(self, private_key: Any, canonical: Any) -> None:
        kd = key_dict(private_key.public_key(), canonical)
        assert kd is not None
        self._key = private_key
        self._ecdsa = ec.ECDSA(_EC[kd["scheme"]][1]()) if kd["keytype"] == "ecdsa" else None
        self.public_key = _PublicKey(kd["keyid"])

    @classmethod
    def for_key(cls, private_key: Any, canonical: Any) -> FastSigner | None:
        """A signer for ``private_key`` when it is an ECDSA (P-256/384/521) or Ed25519 key, else None."""
        if isinstance(private_key, ed25519.Ed25519PrivateKey):
            return cls(private_key, canonical)
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
            private_key.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1
        ):
            return cls(private_key, canonical)
        return None

    def sign(self, payload: bytes) -> _Signature:
        """Sign ``payload`` as securesystemslib's signer for this key does."""
        sig = self._key.sign(payload) if self._ecdsa is None else self._key.sign(payload, self._ecdsa)
        return _Signature(self.public_key.keyid, sig.hex())
