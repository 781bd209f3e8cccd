"""Signing X.509 certificates with any :class:`~assay.crypto.signer.Signer` (files, HSM, KMS).

cryptography signs certificates only with in-memory keys, so the TBS is built
with a throwaway key of the same type (which fixes the signature algorithm
inside the TBS), then signed by the real signer and assembled in DER.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from assay.ca import der
from assay.crypto.signer import Signer
from assay.errors import InputError

# AlgorithmIdentifier DER for the signature algorithms a CA signer may use.
_ALGORITHMS: dict[str, tuple[type[ec.EllipticCurve], type[hashes.SHA256 | hashes.SHA384], bytes]] = {
    "secp256r1": (ec.SECP256R1, hashes.SHA256, bytes.fromhex("300a06082a8648ce3d040302")),
    "secp384r1": (ec.SECP384R1, hashes.SHA384, bytes.fromhex("300a06082a8648ce3d040303")),
}


def _algorithm(signer: Signer) -> tuple[type[ec.EllipticCurve], type[hashes.SHA256 | hashes.SHA384], bytes]:
    key = signer.public_key
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _ALGORITHMS:
        raise InputError("unsupported-ca-key", "CA, CT and TSA keys must be ECDSA P-256 or P-384")
    return _ALGORITHMS[key.curve.name]


_THROWAWAY: dict[str, ec.EllipticCurvePrivateKey] = {}


def tbs_bytes(builder: x509.CertificateBuilder, signer: Signer) -> bytes:
    """The TBSCertificate the builder describes, with the signer's signature algorithm.

    The throwaway key only fixes the algorithm identifier; its signature is
    discarded, so one key per curve is reused.
    """
    curve, hash_cls, _ = _algorithm(signer)
    name = curve().name
    throwaway = _THROWAWAY.get(name)
    if throwaway is None:
        throwaway = _THROWAWAY.setdefault(name, ec.generate_private_key(curve()))
    return builder.sign(throwaway, hash_cls()).tbs_certificate_bytes


def sign(builder: x509.CertificateBuilder, signer: Signer) -> x509.Certificate:
    """Build and sign a certificate with ``signer``."""
    _, _, algid = _algorithm(signer)
    tbs = tbs_bytes(builder, signer)
    signature = signer.sign_message(tbs)
    return x509.load_der_x509_certificate(der.sequence(tbs, algid, der.bit_string(signature)))
