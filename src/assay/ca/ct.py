"""assay's CT log: RFC 6962 v1 SCTs over precertificate entries, and the SCT list extension."""

from __future__ import annotations

import hashlib
import struct
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from assay.ca import der
from assay.crypto import keys
from assay.crypto.signer import Signer

HASH_SHA256 = 4
SIG_ECDSA = 3


class CTLog:
    """Signs SCTs for precertificates."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.spki = keys.spki_der(signer.public_key)
        self.log_id = hashlib.sha256(self.spki).digest()

    def sct(self, precert_tbs: bytes, issuer: x509.Certificate) -> bytes:
        """A serialized SignedCertificateTimestamp for a precertificate TBS issued by ``issuer``."""
        timestamp = int(time.time() * 1000)
        issuer_key_hash = hashlib.sha256(
            issuer.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).digest()
        extensions = b""
        signed = (
            struct.pack(">BBQH", 0, 0, timestamp, 1)
            + issuer_key_hash
            + len(precert_tbs).to_bytes(3, "big")
            + precert_tbs
            + len(extensions).to_bytes(2, "big")
            + extensions
        )
        signature = self.signer.sign_message(signed)
        return (
            bytes([0])
            + self.log_id
            + timestamp.to_bytes(8, "big")
            + len(extensions).to_bytes(2, "big")
            + extensions
            + bytes([HASH_SHA256, SIG_ECDSA])
            + len(signature).to_bytes(2, "big")
            + signature
        )


def sct_list_extension(scts: list[bytes]) -> x509.UnrecognizedExtension:
    """The embedded-SCT-list extension: an OCTET STRING holding the TLS-encoded list."""
    body = b"".join(len(s).to_bytes(2, "big") + s for s in scts)
    tls_list = len(body).to_bytes(2, "big") + body
    return x509.UnrecognizedExtension(ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS, der.octet_string(tls_list))
