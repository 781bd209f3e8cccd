"""Steps on the signing certificate: chain to a trusted CA, embedded SCTs, key usage."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import (
    VerificationError as X509VerificationError,
)

from assay.crypto import keys
from assay.formats.trustroot import CertificateAuthority, TrustedRoot
from assay.verify import fulcio
from assay.verify.memo import Memo, memo
from assay.verify.model import fail

_CA_POLICY = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)


def load_certificate(der: bytes) -> x509.Certificate:
    """Parse a DER certificate from a bundle."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise fail("certificate-chain", "certificate-malformed", "the signing certificate is not valid DER") from None


@lru_cache(maxsize=64)
def _store(ca: CertificateAuthority) -> Store:
    return Store(list(ca.chain))


def valid_at(cert: x509.Certificate, t: datetime) -> bool:
    """The certificate is within its validity period at ``t`` (both ends inclusive)."""
    return cert.not_valid_before_utc <= t <= cert.not_valid_after_utc


def verify_chain(leaf: x509.Certificate, times: list[datetime], trust: TrustedRoot) -> list[x509.Certificate]:
    """Chain ``leaf`` to a trusted CA valid at every verified time; returns [leaf, issuer, ..., root]."""
    if not trust.certificate_authorities:
        raise fail("certificate-chain", "no-trusted-ca", "the trusted root names no certificate authority")
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    for t in times:
        if t < not_before:
            raise fail(
                "certificate-chain",
                "certificate-not-yet-valid-at-signing-time",
                f"signing time {t.isoformat()} is before the certificate's validity ({not_before.isoformat()})",
            )
        if t > not_after:
            raise fail(
                "certificate-chain",
                "certificate-expired-at-signing-time",
                f"signing time {t.isoformat()} is after the certificate expired ({not_after.isoformat()})",
            )
    chain: list[x509.Certificate] = []
    used: CertificateAuthority | None = None
    for t in times:
        # A path's signatures and extensions do not depend on the time: a path found at one verified time holds at
        # another exactly when its certificates and its CA's window are valid then; otherwise search again.
        if used is not None and used.valid_for.contains(t) and all(valid_at(c, t) for c in chain):
            continue
        chain = []
        last_error = "no trusted CA is valid at the signing time"
        for ca in trust.certificate_authorities:
            if not ca.valid_for.contains(t):
                continue
            verifier = (
                PolicyBuilder()
                .store(_store(ca))
                .time(t)
                .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
                .build_client_verifier()
            )
            try:
                chain = list(verifier.verify(leaf, []).chain)
                used = ca
                break
            except X509VerificationError as exc:
                last_error = str(exc)
            except ValueError as exc:  # unsupported name types and the like
                last_error = str(exc)
        if not chain:
            raise fail(
                "certificate-chain",
                "certificate-chain-invalid",
                f"the certificate does not chain to a trusted CA at {t.isoformat()}: {last_error}",
            )
    return chain


@lru_cache(maxsize=64)
def _key_hash(issuer: x509.Certificate) -> bytes:
    """SHA-256 of the issuer's SubjectPublicKeyInfo (issuers are trust material: computed once each)."""
    spki = issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def _sct_signed_data(
    sct: x509.certificate_transparency.SignedCertificateTimestamp, leaf: x509.Certificate, issuer: x509.Certificate
) -> bytes:
    issuer_key_hash = _key_hash(issuer)
    tbs = leaf.tbs_precertificate_bytes
    ext = sct.extension_bytes
    timestamp_ms = int(sct.timestamp.replace(tzinfo=UTC).timestamp() * 1000)
    return (
        struct.pack(">BBQH", 0, 0, timestamp_ms, 1)
        + issuer_key_hash
        + len(tbs).to_bytes(3, "big")
        + tbs
        + len(ext).to_bytes(2, "big")
        + ext
    )


def verify_scts(leaf: x509.Certificate, chain: list[x509.Certificate], trust: TrustedRoot) -> str:
    """At least one embedded SCT must verify under a trusted CT log key valid at the SCT's time."""
    try:
        scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    except x509.ExtensionNotFound:
        raise fail("sct", "sct-missing", "the certificate carries no embedded SCT") from None
    if len(chain) < 2:
        raise fail("sct", "sct-no-issuer", "cannot check an SCT without the issuing certificate")
    issuer = chain[1]
    reasons = []
    for sct in scts:
        log = trust.ctlog(sct.log_id)
        if log is None:
            reasons.append(f"unknown CT log {sct.log_id.hex()[:16]}")
            continue
        when = sct.timestamp.replace(tzinfo=UTC)
        if not log.valid_for.contains(when):
            reasons.append("CT log key not valid at the SCT's time")
            continue
        data = _sct_signed_data(sct, leaf, issuer)
        key = log.key
        hash_alg = sct.signature_hash_algorithm or hashes.SHA256()
        ok = False
        if isinstance(key, ec.EllipticCurvePublicKey):
            ok = keys.verify_message_with(key, sct.signature, data, ec.ECDSA(hash_alg))
        elif isinstance(key, rsa.RSAPublicKey):
            ok = keys.verify_message(key, sct.signature, data)
        if ok:
            return f"SCT from CT log {log.log_id.hex()[:16]} at {when.isoformat()}"
        reasons.append(f"SCT signature from CT log {log.log_id.hex()[:16]} is invalid")
    raise fail("sct", "sct-invalid", "no embedded SCT verifies: " + "; ".join(reasons or ["no SCTs"]))


def check_key_usage(leaf: x509.Certificate) -> str:
    """Sigstore profile: digitalSignature key usage and the code-signing EKU."""
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise fail("key-usage", "key-usage-missing", "the certificate has no key usage extension") from None
    if not ku.digital_signature:
        raise fail("key-usage", "key-usage-invalid", "the certificate's key usage lacks digitalSignature")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise fail("key-usage", "eku-missing", "the certificate has no extended key usage extension") from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise fail("key-usage", "eku-not-code-signing", "the certificate is not for code signing")
    return "digitalSignature, codeSigning"


@dataclass(frozen=True)
class CertificateVerdict:
    """What steps 3-5 established about a signing certificate."""

    chain: tuple[x509.Certificate, ...]
    chain_detail: str
    sct_detail: str | None  # None: the trusted root names no CT log, so no SCT is demanded
    key_usage_detail: str
    claims: tuple[tuple[str, str], ...]


_VERDICTS: Memo[tuple[bytes, tuple[datetime, ...], int], CertificateVerdict] = memo()


def verify_certificate(
    leaf: x509.Certificate, leaf_der: bytes, times: list[datetime], trust: TrustedRoot
) -> CertificateVerdict:
    """Steps 3-5 on the certificate: chain at every verified time, SCT, key usage; claims read (memoised).

    An SCT is demanded exactly when the trusted root names a CT log (an instance
    without CT, like GitHub's, names none).
    """
    key = (leaf_der, tuple(times), id(trust))
    hit = _VERDICTS.get(key)
    if hit is not None:
        return hit
    chain = verify_chain(leaf, times, trust)
    verdict = CertificateVerdict(
        chain=tuple(chain),
        chain_detail=f"chains to {chain[-1].subject.rfc4514_string()}",
        sct_detail=verify_scts(leaf, chain, trust) if trust.ctlogs else None,
        key_usage_detail=check_key_usage(leaf),
        claims=tuple(fulcio.claims(leaf).items()),
    )
    _VERDICTS.put(key, trust, verdict)
    return verdict
