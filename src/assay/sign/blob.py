"""Key-based signing of blobs (messageSignature) and in-toto attestations (DSSE)."""

from __future__ import annotations

import hashlib
from typing import Any

from assay.crypto import keys
from assay.crypto.signer import Signer
from assay.formats import intoto
from assay.formats.bundle import MEDIA_TYPE_V03, Bundle, MessageSignature
from assay.formats.dsse import Envelope, Signature


def sign_digest_or_message(signer: Signer, digest: bytes, message: bytes | None) -> bytes:
    """Sign the SHA-256 digest when the algorithm allows it, else the whole message."""
    sig = signer.sign_digest(digest)
    if sig is not None:
        return sig
    if message is None:
        raise ValueError("signer needs the whole message")
    return signer.sign_message(message)


def sign_blob(signer: Signer, digest: bytes, message: bytes | None = None) -> Bundle:
    """A v0.3 bundle with a messageSignature over an artifact; no log entry."""
    sig = sign_digest_or_message(signer, digest, message)
    return Bundle(
        media_type=MEDIA_TYPE_V03,
        version=(0, 3),
        public_key_hint=keys.key_id(signer.public_key),
        message_signature=MessageSignature(sig, "SHA2_256", digest),
    )


def make_statement(subject_name: str, digest: bytes, predicate_type: str, predicate: Any) -> intoto.Statement:
    """An in-toto Statement v1 about one artifact."""
    return intoto.Statement((intoto.Subject(subject_name, {"sha256": digest.hex()}),), predicate_type, predicate)


def sign_statement(signer: Signer, statement: intoto.Statement) -> Bundle:
    """A v0.3 bundle with a DSSE envelope over the statement; no log entry."""
    payload = statement.to_json_bytes()
    pae_bytes = Envelope(payload, intoto.PAYLOAD_TYPE).pae()
    sig = sign_digest_or_message(signer, hashlib.sha256(pae_bytes).digest(), pae_bytes)
    return Bundle(
        media_type=MEDIA_TYPE_V03,
        version=(0, 3),
        public_key_hint=keys.key_id(signer.public_key),
        dsse_envelope=Envelope(payload, intoto.PAYLOAD_TYPE, (Signature(sig, ""),)),
    )
