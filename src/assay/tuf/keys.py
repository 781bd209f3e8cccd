"""Keys for TUF: assay's signers (key files, HSM/KMS URIs) as securesystemslib signers and TUF public keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner, Signer, SSlibKey  # type: ignore[attr-defined]

from assay.crypto import keys
from assay.crypto import signer as signers
from assay.errors import InputError


def _password() -> bytes | None:
    return os.environ.get("ASSAY_PASSWORD", "").encode() or None


def tuf_signer(spec: str) -> Signer:
    """A securesystemslib signer for a private key file or a signer URI (``hsm:``, ``awskms:``, ...)."""
    loaded = signers.load(spec, _password())
    if isinstance(loaded, signers.KeyFileSigner):
        return CryptoSigner(loaded.private_key)
    if isinstance(loaded, signers.URISigner):
        inner: Signer = loaded.inner
        return inner
    raise InputError("unknown-signer-uri", f"{spec}: not a signer assay can use for TUF")


def from_crypto(public: Any) -> SSlibKey:
    """The TUF key for a ``cryptography`` public key."""
    return SSlibKey.from_crypto(public)


def public_key(spec: str) -> SSlibKey:
    """The TUF public key for ``spec``: a public key PEM file, a private key file or a signer URI."""
    if signers.is_signer_uri(spec):
        return tuf_signer(spec).public_key  # type: ignore[return-value]
    path = Path(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError("key-unreadable", f"{spec}: {exc.strerror}") from None
    if b"PRIVATE KEY" in data:
        return tuf_signer(spec).public_key  # type: ignore[return-value]
    try:
        pub = serialization.load_pem_public_key(data)
    except ValueError:
        raise InputError("key-malformed", f"{spec}: not a PEM public key") from None
    return from_crypto(keys.supported_public(pub, "key"))
