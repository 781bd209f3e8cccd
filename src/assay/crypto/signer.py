"""Signers: a private key file, or a securesystemslib signer URI (HSM, KMS, Vault).

A :class:`Signer` exposes its public key and signs either a whole message or,
where the algorithm allows it, a precomputed digest so that large artifacts are
hashed once in a streaming pass and never loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.crypto import keys
from assay.errors import EnvironmentFailure, InputError

URI_SCHEMES = ("hsm", "awskms", "gcpkms", "azurekms", "hashivault")


class Signer(Protocol):
    """What signing flows need from a key."""

    @property
    def public_key(self) -> keys.PublicKey: ...

    def sign_message(self, message: bytes) -> bytes:
        """Sign a whole message."""
        ...

    def sign_digest(self, digest: bytes) -> bytes | None:
        """Sign a SHA-256 digest, or return None when the algorithm cannot."""
        ...

    @property
    def signs_digests(self) -> bool:
        """True when :meth:`sign_digest` works, so the artifact need not be loaded."""
        ...


@dataclass
class KeyFileSigner:
    """Signs with a private key held in memory (loaded from a PKCS#8 file)."""

    private_key: keys.PrivateKey

    @property
    def public_key(self) -> keys.PublicKey:
        return self.private_key.public_key()

    @property
    def signs_digests(self) -> bool:
        k = self.private_key
        return isinstance(k, rsa.RSAPrivateKey) or (
            isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == "secp256r1"
        )

    def sign_message(self, message: bytes) -> bytes:
        k = self.private_key
        if isinstance(k, ed25519.Ed25519PrivateKey):
            return k.sign(message)
        if isinstance(k, ec.EllipticCurvePrivateKey):
            return k.sign(message, ec.ECDSA(keys.hash_for(k.public_key())))
        return k.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def sign_digest(self, digest: bytes) -> bytes | None:
        k = self.private_key
        if not self.signs_digests:
            return None
        if isinstance(k, ec.EllipticCurvePrivateKey):
            return k.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        assert isinstance(k, rsa.RSAPrivateKey)
        return k.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


@dataclass
class URISigner:
    """Adapter over a securesystemslib ``Signer`` built from a private key URI."""

    inner: Any
    public_key: keys.PublicKey

    def sign_message(self, message: bytes) -> bytes:
        try:
            sig = self.inner.sign(message)
        except Exception as exc:  # device and cloud SDK errors vary; report them as environment failures
            raise EnvironmentFailure("signer-failed", f"remote signer failed: {exc}") from None
        return bytes.fromhex(sig.signature)

    def sign_digest(self, digest: bytes) -> bytes | None:
        return None

    @property
    def signs_digests(self) -> bool:
        return False


def _secrets_handler(name: str) -> str:
    pin = os.environ.get("ASSAY_HSM_PIN") or os.environ.get("ASSAY_PASSWORD")
    if pin is None:
        raise EnvironmentFailure("signer-secret-missing", f"the signer needs a {name}", hint="set ASSAY_HSM_PIN")
    return pin


def _import_uri(uri: str) -> tuple[str, Any]:
    """Resolve a signer URI to (securesystemslib URI, SSlibKey) by asking the backend for the public key."""
    from urllib.parse import parse_qsl, urlparse

    scheme, _, rest = uri.partition(":")
    try:
        if scheme == "hsm":
            from securesystemslib.signer import HSMSigner  # type: ignore[attr-defined]

            parsed = urlparse(uri)
            keyid = int(parsed.path) if parsed.path else None
            label = dict(parse_qsl(parsed.query)).get("label")
            return HSMSigner.import_(keyid, label, _secrets_handler)
        if scheme == "awskms":
            from securesystemslib.signer import AWSSigner  # type: ignore[attr-defined]

            return AWSSigner.import_(rest)
        if scheme == "gcpkms":
            from securesystemslib.signer import GCPSigner  # type: ignore[attr-defined]

            return GCPSigner.import_(rest)
        if scheme == "azurekms":
            from securesystemslib.signer import AzureSigner  # type: ignore[attr-defined]

            vault, _, name = rest.strip("/").partition("/")
            return AzureSigner.import_(vault, name)
        if scheme == "hashivault":
            from securesystemslib.signer import VaultSigner  # type: ignore[attr-defined]

            return VaultSigner.import_(rest.strip("/"))
    except InputError:
        raise
    except EnvironmentFailure:
        raise
    except Exception as exc:  # backend SDK errors: missing library, device, credentials, network
        raise EnvironmentFailure("signer-unavailable", f"{scheme}: {exc}") from None
    raise InputError(
        "unknown-signer-uri",
        f"{uri}: unknown signer URI scheme",
        hint=f"use a key file or one of {', '.join(s + ':' for s in URI_SCHEMES)}",
    )


def _sslib_to_crypto(sslib_key: Any) -> keys.PublicKey:
    public = sslib_key.keyval["public"]
    if sslib_key.keytype == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
    return keys.supported_public(serialization.load_pem_public_key(public.encode()), "signer")


def from_uri(uri: str) -> URISigner:
    """Build a signer for a ``hsm:``/``awskms:``/``gcpkms:``/``azurekms:``/``hashivault:`` URI."""
    from securesystemslib.signer import Signer as SslibSigner  # type: ignore[attr-defined]

    ssl_uri, pub = _import_uri(uri)
    try:
        inner = SslibSigner.from_priv_key_uri(ssl_uri, pub, _secrets_handler)
    except Exception as exc:  # backend SDK errors
        raise EnvironmentFailure("signer-unavailable", f"{uri}: {exc}") from None
    return URISigner(inner, _sslib_to_crypto(pub))


def is_signer_uri(value: str) -> bool:
    """True when ``value`` names a signer URI rather than a key file."""
    scheme, sep, _ = value.partition(":")
    return bool(sep) and scheme in URI_SCHEMES


def load(key: str, password: bytes | None) -> Signer:
    """Load a signer from a key file path or a signer URI."""
    if is_signer_uri(key):
        return from_uri(key)
    return KeyFileSigner(keys.load_private(Path(key), password))
