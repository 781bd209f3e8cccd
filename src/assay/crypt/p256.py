"""age recipient stanzas for P-256 keys held in hardware: the ``piv-p256`` stanza of age-plugin-yubikey.

Format (as published by age-plugin-yubikey): ``-> piv-p256 TAG EPK`` where TAG is the first 4 bytes of SHA-256
of the recipient's SEC1-compressed public key and EPK the SEC1-compressed ephemeral public key (both unpadded
base64); the body is ChaCha20-Poly1305 (zero nonce) of the 16-byte file key under
HKDF-SHA256(ikm = ECDH shared secret, salt = EPK || recipient, info = "piv-p256"). The recipient's text form is
the plugin's: Bech32 of the compressed point under the prefix ``age1yubikey``.

Unwrapping takes a ``derive(point) -> shared secret`` callable, so the private operation can be a PKCS#11
``CKM_ECDH1_DERIVE`` or an AWS KMS ``DeriveSharedSecret`` call; the private key is never needed here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from assay.crypt import age, bech32
from assay.crypt.age import Stanza, _b64, _hkdf, _unb64
from assay.errors import InputError

STANZA_TYPE = "piv-p256"
RECIPIENT_HRP = "age1yubikey"
LABEL = b"piv-p256"
_POINT = 33  # SEC1-compressed P-256 point

Derive = Callable[[ec.EllipticCurvePublicKey], bytes]
"""The raw ECDH shared secret (the x coordinate, 32 bytes) of the KEK's private key and the given point."""


def _point(data: bytes, what: str) -> ec.EllipticCurvePublicKey:
    if len(data) != _POINT or data[0] not in (2, 3):
        raise InputError("malformed-stanza", f"{what} is not a compressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)
    except ValueError:
        raise InputError("malformed-stanza", f"{what} is not a point on P-256") from None


def compressed(key: ec.EllipticCurvePublicKey) -> bytes:
    """The SEC1-compressed encoding of a P-256 public key."""
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


@dataclass(frozen=True)
class Recipient:
    """A P-256 recipient (``age1yubikey1…``): wraps file keys in ``piv-p256`` stanzas."""

    public: bytes  # SEC1-compressed point

    @classmethod
    def from_key(cls, key: ec.EllipticCurvePublicKey) -> Recipient:
        if not isinstance(key.curve, ec.SECP256R1):
            raise InputError("bad-recipient", "a piv-p256 recipient must be a P-256 key")
        return cls(compressed(key))

    @classmethod
    def parse(cls, text: str) -> Recipient:
        text = text.strip()
        try:
            hrp, data = bech32.decode(text)
        except InputError:
            raise InputError("bad-recipient", f"{text!r} is not a P-256 recipient (age1yubikey1…)") from None
        if hrp != RECIPIENT_HRP or text != text.lower():
            raise InputError("bad-recipient", f"{text!r} is not a P-256 recipient (age1yubikey1…)")
        try:
            _point(data, "the recipient")
        except InputError:
            raise InputError("bad-recipient", f"{text!r} does not hold a compressed P-256 point") from None
        return cls(data)

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public)

    def key(self) -> ec.EllipticCurvePublicKey:
        return _point(self.public, "the recipient")

    @property
    def tag(self) -> bytes:
        return hashlib.sha256(self.public).digest()[:4]

    def wrap(self, file_key: bytes) -> Stanza:
        eph = ec.generate_private_key(ec.SECP256R1())
        epk = compressed(eph.public_key())
        shared = eph.exchange(ec.ECDH(), self.key())
        key = _hkdf(shared, epk + self.public, LABEL)
        body = ChaCha20Poly1305(key).encrypt(b"\0" * 12, file_key, None)
        return Stanza(STANZA_TYPE, (_b64(self.tag), _b64(epk)), body)


def is_recipient(text: str) -> bool:
    """Whether ``text`` looks like a P-256 recipient (by its prefix; :meth:`Recipient.parse` checks it)."""
    return text.strip().lower().startswith(RECIPIENT_HRP + "1")


@dataclass(frozen=True)
class Identity:
    """An unwrapper for one P-256 KEK whose private operation is ``derive`` (an HSM or KMS call)."""

    recipient: Recipient
    derive: Derive

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key from the first ``piv-p256`` stanza for this key that opens; None when none does. Other
        stanza types, and P-256 stanzas tagged for another key, are skipped without a private operation."""
        for st in stanzas:
            if st.type != STANZA_TYPE:
                continue
            if len(st.args) != 2 or len(st.body) != 32:
                raise InputError("malformed-stanza", "a piv-p256 stanza needs two arguments and a 32-byte body")
            tag = _unb64(st.args[0], "piv-p256 tag")
            epk_bytes = _unb64(st.args[1], "piv-p256 ephemeral key")
            if len(tag) != 4:
                raise InputError("malformed-stanza", "the piv-p256 tag is not 4 bytes")
            epk = _point(epk_bytes, "the piv-p256 ephemeral key")
            if tag != self.recipient.tag:
                continue
            shared = self.derive(epk)
            key = _hkdf(shared, epk_bytes + self.recipient.public, LABEL)
            try:
                return ChaCha20Poly1305(key).decrypt(b"\0" * 12, st.body, None)
            except InvalidTag:
                continue
        return None


def software_derive(private: ec.EllipticCurvePrivateKey) -> Derive:
    """A ``derive`` over a private key in memory (tests, and keys that are not hardware-held)."""

    def derive(point: ec.EllipticCurvePublicKey) -> bytes:
        return private.exchange(ec.ECDH(), point)

    return derive


def any_recipient(text: str) -> Recipient | age.Recipient:
    """An X25519 (``age1…``) or P-256 (``age1yubikey1…``) recipient from its text."""
    return Recipient.parse(text) if is_recipient(text) else age.Recipient.parse(text)
