"""ocicrypt's layer encryption: AES-256-CTR with HMAC-SHA256 and the ``org.opencontainers.image.enc.*`` annotations.

A layer's private options (``symkey``, the plaintext ``digest``, ``cipheroptions.nonce``; Go's JSON with byte
slices as standard base64) travel inside a JWE in ``org.opencontainers.image.enc.keys.jwe`` (base64 of the JWE
JSON; several JWEs are comma-separated); the public options (``cipher``, ``hmac`` over the ciphertext,
keyed with the symmetric key) in ``org.opencontainers.image.enc.pubopts``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from assay.crypt import jwe
from assay.errors import InputError, VerificationError

CIPHER = "AES_256_CTR_HMAC_SHA256"
SUFFIX = "+encrypted"
KEYS_JWE = "org.opencontainers.image.enc.keys.jwe"
KEYS_PREFIX = "org.opencontainers.image.enc.keys."
PUBOPTS = "org.opencontainers.image.enc.pubopts"
KEYS_PROVIDER = "org.opencontainers.image.enc.keys.provider."


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise InputError("malformed-encryption-annotations", f"{what} is not a string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("malformed-encryption-annotations", f"{what} is not base64") from None


@dataclass(frozen=True)
class LayerKey:
    """A layer's private options: symmetric key, nonce and the plaintext digest."""

    symkey: bytes
    nonce: bytes
    digest: str

    def to_json(self) -> bytes:
        doc = {"symkey": _b64(self.symkey), "digest": self.digest, "cipheroptions": {"nonce": _b64(self.nonce)}}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LayerKey:
        try:
            doc = json.loads(data)
            opts = doc.get("cipheroptions") or {}
            key = cls(_unb64(doc["symkey"], "symkey"), _unb64(opts["nonce"], "nonce"), str(doc.get("digest", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InputError("malformed-encryption-annotations", "the layer's private options are malformed") from None
        if len(key.symkey) != 32 or len(key.nonce) != 16:
            raise InputError("malformed-encryption-annotations", "AES-256-CTR needs a 32-byte key and 16-byte nonce")
        return key


def is_encrypted(descriptor: dict[str, Any]) -> bool:
    return str(descriptor.get("mediaType", "")).endswith(SUFFIX)


def _ctr(key: LayerKey) -> Any:
    return Cipher(algorithms.AES(key.symkey), modes.CTR(key.nonce)).encryptor()


class LayerEncryptor:
    """Encrypts a layer as its bytes arrive (``write``), into ``sink``; ``finish`` gives (key, HMAC, digest, size)."""

    def __init__(self, sink: BinaryIO, plain_digest: str) -> None:
        self.key = LayerKey(os.urandom(32), os.urandom(16), plain_digest)
        self._ctr = _ctr(self.key)
        self._mac = hmac.new(self.key.symkey, digestmod=hashlib.sha256)
        self._hash = hashlib.sha256()
        self._sink = sink
        self.size = 0

    def write(self, chunk: bytes) -> int:
        out = self._ctr.update(chunk)
        self._mac.update(out)
        self._hash.update(out)
        self._sink.write(out)
        self.size += len(out)
        return len(chunk)

    def finish(self) -> tuple[LayerKey, bytes, str, int]:
        return self.key, self._mac.digest(), "sha256:" + self._hash.hexdigest(), self.size


class LayerDecryptor:
    """Decrypts a layer as its bytes arrive into ``sink`` (a spool the caller discards on error); ``finish``
    raises ``layer-hmac-mismatch``, else gives (plaintext digest, size)."""

    def __init__(self, sink: BinaryIO, key: LayerKey, expected_hmac: bytes) -> None:
        self.key, self._expected = key, expected_hmac
        self._ctr = _ctr(key)
        self._mac = hmac.new(key.symkey, digestmod=hashlib.sha256)
        self._hash = hashlib.sha256()
        self._sink = sink
        self.size = 0

    def write(self, chunk: bytes) -> int:
        self._mac.update(chunk)
        out = self._ctr.update(chunk)
        self._hash.update(out)
        self._sink.write(out)
        self.size += len(out)
        return len(chunk)

    def finish(self) -> tuple[str, int]:
        if not hmac.compare_digest(self._mac.digest(), self._expected):
            raise VerificationError("layer-hmac-mismatch", "the encrypted layer's HMAC does not match (corrupt layer)")
        # The private options' digest is not checked: skopeo records the source descriptor's digest there even
        # when it compressed the layer on the way (ocicrypt itself never compares it); the HMAC authenticates.
        digest = "sha256:" + self._hash.hexdigest()
        return digest, self.size


def layer_annotations(
    key: LayerKey, mac: bytes, recipients: Sequence[jwe.PublicKey], providers: dict[str, list[bytes]] | None = None
) -> dict[str, str]:
    """The descriptor annotations for a layer encrypted with ``key`` to JWE ``recipients`` and to key providers
    (``providers``: provider name -> the wrapped keys its key-provider protocol returned)."""
    pub = {"cipher": CIPHER, "hmac": _b64(mac), "cipheroptions": {}}
    out = {PUBOPTS: _b64(json.dumps(pub, separators=(",", ":")).encode())}
    if recipients:
        out[KEYS_JWE] = _b64(jwe.encrypt(key.to_json(), recipients))
    for name, wrapped in (providers or {}).items():
        out[KEYS_PROVIDER + name] = ",".join(_b64(w) for w in wrapped)
    return out


def provider_keys(descriptor: dict[str, Any], name: str) -> list[bytes]:
    """The wrapped keys a layer carries for key provider ``name`` (each as its protocol returned it)."""
    value = (descriptor.get("annotations") or {}).get(KEYS_PROVIDER + name)
    return [_unb64(part, f"keys.provider.{name}") for part in str(value).split(",")] if value else []


def public_hmac(descriptor: dict[str, Any]) -> bytes:
    """The HMAC from a layer's ``pubopts`` (the cipher must be AES_256_CTR_HMAC_SHA256)."""
    ann = descriptor.get("annotations") or {}
    try:
        pub = json.loads(_unb64(ann.get(PUBOPTS), "pubopts"))
    except ValueError:
        raise InputError("malformed-encryption-annotations", "pubopts is not JSON") from None
    if not isinstance(pub, dict) or pub.get("cipher") != CIPHER:
        raise InputError("unsupported-layer-cipher", f"layer cipher {pub.get('cipher')!r} is not supported")
    mac = _unb64(pub.get("hmac"), "hmac")
    if not mac:
        raise InputError("malformed-encryption-annotations", "pubopts carries no HMAC")
    return mac


def unwrap(descriptor: dict[str, Any], keys: Sequence[jwe.PrivateKey]) -> LayerKey:
    """The layer key from the descriptor's JWE annotation, opened with one of ``keys``."""
    ann = descriptor.get("annotations") or {}
    value = ann.get(KEYS_JWE)
    if not value:
        others = sorted(k for k in ann if k.startswith(KEYS_PREFIX))
        raise InputError("no-jwe-recipients", f"the layer has no JWE key annotation (has: {others or 'none'})")
    for part in str(value).split(","):
        try:
            return LayerKey.from_json(jwe.decrypt(_unb64(part, "keys.jwe"), keys))
        except VerificationError as exc:
            if exc.reason != "no-matching-key":
                raise
    raise VerificationError("no-matching-key", "none of the given keys is a recipient of the layer")


def plain_descriptor(descriptor: dict[str, Any], digest: str, size: int) -> dict[str, Any]:
    """The decrypted layer's descriptor: media type without ``+encrypted``, encryption annotations dropped."""
    out = {k: v for k, v in descriptor.items() if k not in ("annotations", "digest", "size", "mediaType")}
    out = {"mediaType": str(descriptor["mediaType"])[: -len(SUFFIX)], "digest": digest, "size": size, **out}
    rest = {
        k: v
        for k, v in (descriptor.get("annotations") or {}).items()
        if not k.startswith("org.opencontainers.image.enc.")
    }
    if rest:
        out["annotations"] = rest
    return out
