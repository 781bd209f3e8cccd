"""RFC 3161 time-stamp tokens: the CMS SignedData checks, in order, with the TSA's chain checked once per root.

A token is verified against one trusted TSA (its certificate chain, leaf first) in these steps; the first
failure raises :class:`TokenError` with what failed:

1. ``status``     — the response is ``granted`` and holds a SignedData over an ``id-ct-TSTInfo``.
2. ``signer``     — exactly one SignerInfo, identifying the TSA's leaf (issuer and serial, or key
                    identifier); an embedded certificate with that identity must be the trusted leaf itself.
3. ``attributes`` — signed attributes are present, their content type is TSTInfo and their message digest
                    is the digest of the TSTInfo the token carries; an ESS signing-certificate attribute,
                    when present, names the leaf.
4. ``signature``  — the leaf's key signs the DER of the signed attributes.
5. ``chain``      — the leaf chains to the TSA's root (signatures checked once per chain and remembered,
                    as the chain is trust material, not input); every certificate is valid at the token's
                    time; the leaf carries the critical ``timeStamping`` extended key usage.
6. ``imprint``    — the token's message imprint is the digest of the signed message (checked by the caller
                    through :func:`imprint_matches`, after the token is known to be genuine).

Pure: bytes and certificates in, a verified time out. May import cryptography, asn1crypto, assay.crypto and
assay.verify.certs (certificate validity).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from assay.crypto import keys
from assay.verify.certs import valid_at

TST_INFO = "tst_info"
DIGESTS = ("sha256", "sha384", "sha512")


class TokenError(Exception):
    """A token that is not a genuine timestamp from the TSA it was checked against."""


class TokenMalformed(Exception):
    """Bytes that are not an RFC 3161 time-stamp response."""


@dataclass(frozen=True)
class Signer:
    """The one SignerInfo, its encodings captured before any part is read (asn1crypto re-encodes once read)."""

    sid_kind: str  # "issuer_and_serial_number" | "subject_key_identifier"
    issuer_der: bytes
    serial: int
    key_identifier: bytes
    signed_attrs: bytes | None  # the DER of the SET OF attributes, as signed
    info: cms.SignerInfo


@dataclass(frozen=True)
class Token:
    """The parts of a time-stamp response the checks read (parsed once)."""

    status: str
    signers: tuple[Signer, ...]
    certificates: tuple[bytes, ...]
    tst_info_der: bytes
    gen_time: datetime
    imprint_algorithm: str
    imprint: bytes


def _signer_of(si: cms.SignerInfo) -> Signer:
    attrs = si["signed_attrs"]
    raw = None if isinstance(attrs, core.Void) else b"\x31" + attrs.dump()[1:]  # signed as an explicit SET OF
    sid = si["sid"]
    if sid.name == "issuer_and_serial_number":
        ias = sid.chosen
        return Signer(sid.name, ias["issuer"].dump(), int(ias["serial_number"].native), b"", raw, si)
    return Signer(str(sid.name), b"", -1, bytes(sid.chosen.native), raw, si)


def parse(stamp: bytes) -> Token:
    """Decode a TimeStampResp (DER); raises :class:`TokenMalformed`."""
    try:
        resp = tsp.TimeStampResp.load(stamp, strict=True)
        status = str(resp["status"]["status"].native)
        token = resp["time_stamp_token"]
        if isinstance(token, core.Void):
            raise TokenMalformed("the response carries no time-stamp token")
        if token["content_type"].native != "signed_data":
            raise TokenMalformed("the time-stamp token is not CMS SignedData")
        sd: cms.SignedData = token["content"]
        certificates = tuple(c.chosen.dump() for c in sd["certificates"] or [] if c.name == "certificate")
        signers = tuple(_signer_of(si) for si in sd["signer_infos"])
        encap = sd["encap_content_info"]
        if encap["content_type"].native != TST_INFO:
            raise TokenMalformed("the SignedData does not hold a TSTInfo")
        tst_der = bytes(encap["content"].contents)
        tst = tsp.TSTInfo.load(tst_der, strict=True)
        gen_time = tst["gen_time"].native
        imprint = tst["message_imprint"]
        algorithm = str(imprint["hash_algorithm"]["algorithm"].native)
        hashed = bytes(imprint["hashed_message"].native)
    except TokenMalformed:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TokenMalformed(str(exc) or type(exc).__name__) from None
    return Token(status, signers, certificates, tst_der, gen_time, algorithm, hashed)


def imprint_matches(token: Token, message: bytes) -> bool:
    """True when the token's message imprint is the digest of ``message`` (sha256/384/512)."""
    if token.imprint_algorithm not in DIGESTS:
        return False
    return hashlib.new(token.imprint_algorithm, message).digest() == token.imprint


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _identifies(signer: Signer, cert: x509.Certificate) -> bool:
    if signer.sid_kind == "issuer_and_serial_number":
        if signer.serial != cert.serial_number:
            return False
        issuer = cert.issuer.public_bytes()
        if signer.issuer_der == issuer:
            return True
        # the same name in another encoding: compare as RFC 5280 does
        return bool(asn1_x509.Name.load(signer.issuer_der) == asn1_x509.Name.load(issuer))
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return False
    return signer.key_identifier == ski


def _signer(token: Token, leaf: x509.Certificate) -> Signer:
    if len(token.signers) != 1:
        raise TokenError(f"expected exactly one SignerInfo, found {len(token.signers)}")
    signer = token.signers[0]
    if not _identifies(signer, leaf):
        raise TokenError("the token is not signed by the TSA's certificate")
    leaf_der = _der(leaf)
    for der in token.certificates:
        if der != leaf_der and _identifies(signer, x509.load_der_x509_certificate(der)):
            raise TokenError("the embedded signing certificate is not the TSA's trusted certificate")
    return signer


def _digest_name(si: cms.SignerInfo) -> str:
    name = str(si["digest_algorithm"]["algorithm"].native)
    if name not in DIGESTS:
        raise TokenError(f"unsupported digest algorithm {name}")
    return name


def _check_attributes(token: Token, signer: Signer, leaf: x509.Certificate) -> bytes:
    si = signer.info
    if signer.signed_attrs is None or len(si["signed_attrs"]) == 0:
        raise TokenError("the SignerInfo has no signed attributes")
    digest = _digest_name(si)
    seen: dict[str, object] = {}
    for attr in si["signed_attrs"]:
        kind = str(attr["type"].native)
        if kind in seen:
            raise TokenError(f"signed attribute {kind} appears twice")
        values = attr["values"]
        if len(values) != 1:
            raise TokenError(f"signed attribute {kind} must have one value")
        seen[kind] = values[0]
    content_type = seen.get("content_type")
    if content_type is None or content_type.native != TST_INFO:  # type: ignore[attr-defined]
        raise TokenError("the signed content type is not TSTInfo")
    md = seen.get("message_digest")
    if md is None or bytes(md.native) != hashlib.new(digest, token.tst_info_der).digest():  # type: ignore[attr-defined]
        raise TokenError("the signed message digest does not match the TSTInfo")
    _check_ess(seen, leaf)
    return signer.signed_attrs


def _check_ess(seen: dict[str, object], leaf: x509.Certificate) -> None:
    leaf_der = _der(leaf)
    for kind, default in (("signing_certificate", "sha1"), ("signing_certificate_v2", "sha256")):
        value = seen.get(kind)
        if value is None:
            continue
        certs = value["certs"]  # type: ignore[index]
        if len(certs) == 0:
            raise TokenError(f"the {kind} attribute names no certificate")
        first = certs[0]
        alg = default
        if kind == "signing_certificate_v2" and first["hash_algorithm"].native is not None:
            alg = str(first["hash_algorithm"]["algorithm"].native)
        if alg not in ("sha1", *DIGESTS):
            raise TokenError(f"the {kind} attribute uses an unsupported digest {alg}")
        if bytes(first["cert_hash"].native) != hashlib.new(alg, leaf_der).digest():
            raise TokenError(f"the {kind} attribute does not name the TSA's certificate")


def _check_signature(si: cms.SignerInfo, signed: bytes, leaf: x509.Certificate) -> None:
    key = leaf.public_key()
    algo = si["signature_algorithm"]
    kind = algo.signature_algo
    try:
        hash_name = algo.hash_algo
    except ValueError:
        hash_name = _digest_name(si)
    signature = bytes(si["signature"].native)
    try:
        if kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(keys.hash_named(hash_name)))
        elif kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), keys.hash_named(hash_name))
        elif kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = algo["parameters"]
            mgf_hash = keys.hash_named(str(params["mask_gen_algorithm"]["parameters"]["algorithm"].native))
            pss = padding.PSS(mgf=padding.MGF1(mgf_hash), salt_length=int(params["salt_length"].native))
            key.verify(signature, signed, pss, keys.hash_named(str(params["hash_algorithm"]["algorithm"].native)))
        elif kind == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed)
        else:
            raise TokenError(f"signature algorithm {kind} does not fit the TSA's key")
    except InvalidSignature:
        raise TokenError("the token's signature does not verify under the TSA's certificate") from None
    except ValueError as exc:  # unsupported hash names, malformed parameters
        raise TokenError(str(exc)) from None


@lru_cache(maxsize=64)
def _chain_problem(chain: tuple[bytes, ...]) -> str | None:
    """Why the chain (leaf first, root last) does not hold together, or None; checked once per chain."""
    certs = [x509.load_der_x509_certificate(c) for c in chain]
    for child, issuer in itertools.pairwise(certs):
        try:
            bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            return f"{issuer.subject.rfc4514_string()} is not a CA"
        if not bc.ca:
            return f"{issuer.subject.rfc4514_string()} is not a CA"
        try:
            ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
            if not ku.key_cert_sign:
                return f"{issuer.subject.rfc4514_string()} may not sign certificates"
        except x509.ExtensionNotFound:
            pass
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return f"{child.subject.rfc4514_string()} is not issued by {issuer.subject.rfc4514_string()}"
    return None


def _check_chain(chain: tuple[x509.Certificate, ...], when: datetime) -> None:
    if len(chain) < 2:
        raise TokenError("the TSA's certificate chain is incomplete")
    problem = _chain_problem(tuple(_der(c) for c in chain))
    if problem is not None:
        raise TokenError(problem)
    for cert in chain:
        if not valid_at(cert, when):
            raise TokenError(f"{cert.subject.rfc4514_string()} is not valid at the token's time {when.isoformat()}")
    try:
        eku = chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise TokenError("the TSA certificate has no extended key usage") from None
    if not eku.critical or ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
        raise TokenError("the TSA certificate lacks the critical timeStamping extended key usage")


def verify_token(token: Token, chain: tuple[x509.Certificate, ...]) -> None:
    """Steps 1-5 against one TSA's chain (leaf first); raises :class:`TokenError`."""
    if token.status != "granted":
        raise TokenError(f"the time-stamp response status is {token.status}, not granted")
    if not chain:
        raise TokenError("the TSA has no certificate")
    leaf = chain[0]
    signer = _signer(token, leaf)
    signed = _check_attributes(token, signer, leaf)
    _check_signature(signer.info, signed, leaf)
    _check_chain(chain, token.gen_time)


__all__ = ["Token", "TokenError", "TokenMalformed", "imprint_matches", "parse", "verify_token"]
