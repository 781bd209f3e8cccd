"""cosign's blob formats beside the Sigstore bundle: detached ``.sig``/``.pem`` files and the legacy bundle.

* A detached signature file holds the base64 of the raw signature (a trailing newline is allowed).
* A certificate file holds one PEM certificate, or the base64 of that PEM (what ``cosign sign-blob
  --output-certificate`` writes); both are read. Exactly one certificate is accepted where one is expected.
* The legacy bundle (``cosign sign-blob --bundle`` before the Sigstore bundle) is
  ``{"base64Signature", "cert", "rekorBundle": {"SignedEntryTimestamp", "Payload": {"body", "integratedTime",
  "logIndex", "logID"}}}``; ``cert`` is the base64 of a PEM certificate and is absent or empty for key-based
  signatures. It becomes a v0.1 Sigstore bundle whose tlog entry carries the SET as its inclusion promise,
  so the one verification pipeline checks it like any other bundle: no separate path.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509

from assay.errors import InputError
from assay.formats import safejson
from assay.formats.bundle import MEDIA_TYPE_V01, MEDIA_TYPE_V03, Bundle, MessageSignature, TlogEntry
from assay.formats.encoding import as_int, obj, string

_B64 = re.compile(rb"^[A-Za-z0-9+/=\r\n]+$")
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.S)
MAX_TIME = 253402300799


def encode_signature(signature: bytes) -> bytes:
    """The ``.sig`` file: base64 of the signature, as cosign writes it."""
    return base64.b64encode(signature)


def decode_signature(data: bytes) -> bytes:
    """A ``.sig`` file's signature; refuses anything that is not plain base64."""
    text = data.strip()
    if not text or not _B64.match(text):
        raise InputError("signature-not-base64", "the signature file is not base64 (cosign writes base64)")
    try:
        sig = base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("signature-not-base64", f"the signature file is not valid base64: {exc}") from None
    if not sig:
        raise InputError("signature-not-base64", "the signature file decodes to nothing")
    return sig


def encode_certificate(der: bytes) -> bytes:
    """The ``.pem`` file as cosign writes it: the base64 of the PEM certificate."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return base64.b64encode(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM))


def _pem_text(data: bytes, what: str) -> bytes:
    """PEM text from a PEM file or the base64 of one."""
    text = data.strip()
    if b"-----BEGIN" in text:
        return text
    try:
        inner = base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("certificate-malformed", f"the {what} is neither PEM nor base64-wrapped PEM") from None
    if b"-----BEGIN" not in inner:
        raise InputError("certificate-malformed", f"the {what} is neither PEM nor base64-wrapped PEM")
    return inner.strip()


def decode_certificates(data: bytes, what: str = "certificate file") -> list[bytes]:
    """Every certificate (DER) in a PEM file or base64-wrapped PEM, in order."""
    found = _PEM.findall(_pem_text(data, what))
    if not found:
        raise InputError("certificate-malformed", f"the {what} holds no PEM certificate")
    out = []
    for pem in found:
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise InputError(
                "certificate-malformed", f"the {what} holds a certificate that does not parse: {exc}"
            ) from None
        from cryptography.hazmat.primitives.serialization import Encoding

        out.append(cert.public_bytes(Encoding.DER))
    return out


def decode_certificate(data: bytes, what: str = "certificate file") -> bytes:
    """The one certificate (DER) of a ``.pem`` file; two or more is an error, not a guess."""
    certs = decode_certificates(data, what)
    if len(certs) != 1:
        raise InputError(
            "certificate-count", f"the {what} holds {len(certs)} certificates where one is expected (the leaf)"
        )
    return certs[0]


def detached_bundle(signature: bytes, digest: bytes, certificate: bytes | None, entry: TlogEntry | None) -> Bundle:
    """A v0.3 bundle made from detached material, so the one pipeline verifies it."""
    return Bundle(
        media_type=MEDIA_TYPE_V03,
        version=(0, 3),
        certificates=(certificate,) if certificate else (),
        tlog_entries=(entry,) if entry else (),
        message_signature=MessageSignature(signature, "SHA2_256", digest),
        single_certificate=certificate is not None,
    )


def is_legacy_bundle(doc: object) -> bool:
    """True for a cosign legacy bundle document (``base64Signature`` + ``rekorBundle``, no ``mediaType``)."""
    return isinstance(doc, dict) and "base64Signature" in doc and "mediaType" not in doc


def _entry(rekor: dict[str, Any]) -> TlogEntry:
    payload = obj(rekor.get("Payload"), "rekorBundle.Payload")
    set_b64 = string(rekor.get("SignedEntryTimestamp"), "rekorBundle.SignedEntryTimestamp")
    try:
        body = base64.b64decode(string(payload.get("body"), "rekorBundle.Payload.body"), validate=True)
        promise = base64.b64decode(set_b64, validate=True)
        log_id = bytes.fromhex(string(payload.get("logID"), "rekorBundle.Payload.logID"))
    except (binascii.Error, ValueError) as exc:
        raise InputError("legacy-bundle-malformed", f"the legacy bundle's rekorBundle is malformed: {exc}") from None
    kind = safejson.load_object(body, what="the legacy bundle's entry body")
    return TlogEntry(
        log_index=as_int(payload.get("logIndex"), "rekorBundle.Payload.logIndex"),
        log_id=log_id,
        kind=string(kind.get("kind"), "entry body kind"),
        version=string(kind.get("apiVersion"), "entry body apiVersion"),
        integrated_time=as_int(payload.get("integratedTime"), "rekorBundle.Payload.integratedTime", maximum=MAX_TIME),
        canonicalized_body=body,
        inclusion_promise=promise,
    )


def _body_digest(body: bytes) -> bytes | None:
    """The artifact digest a hashedrekord body names (the bundle's message digest)."""
    doc = safejson.load_object(body, what="the legacy bundle's entry body")
    try:
        value = doc["spec"]["data"]["hash"]
        if value.get("algorithm") != "sha256":
            return None
        return bytes.fromhex(value["value"])
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def parse_legacy_bundle(doc: dict[str, Any]) -> Bundle:
    """A cosign legacy bundle as a v0.1 Sigstore bundle (message signature, certificate or key, SET entry)."""
    try:
        signature = base64.b64decode(string(doc.get("base64Signature"), "base64Signature"), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("signature-not-base64", "the legacy bundle's base64Signature is not base64") from None
    if not signature:
        raise InputError("legacy-bundle-malformed", "the legacy bundle's base64Signature is empty")
    rekor = doc.get("rekorBundle")
    if rekor is not None and not isinstance(rekor, dict):
        raise InputError("legacy-bundle-malformed", "the legacy bundle's rekorBundle is not an object")
    entry = _entry(rekor) if rekor else None  # without one, the pipeline decides (a certificate needs an entry)
    cert_field = doc.get("cert")
    certs: tuple[bytes, ...] = ()
    if cert_field:
        certs = (decode_certificate(string(cert_field, "cert").encode(), "legacy bundle's cert"),)
    digest = _body_digest(entry.canonicalized_body) if entry else None
    return Bundle(
        media_type=MEDIA_TYPE_V01,
        version=(0, 1),
        certificates=certs,
        tlog_entries=(entry,) if entry else (),
        message_signature=MessageSignature(signature, "SHA2_256" if digest else None, digest),
    )


def to_legacy_bundle(bundle: Bundle) -> dict[str, Any]:
    """A Sigstore bundle back in cosign's legacy form, where the material allows (message signature + SET)."""
    if bundle.message_signature is None:
        raise InputError("bundle-not-convertible", "the legacy format holds only message signatures, not DSSE")
    entries = [e for e in bundle.tlog_entries if e.inclusion_promise]
    if len(entries) != 1 or entries[0].integrated_time <= 0:
        raise InputError(
            "bundle-not-convertible", "the legacy format needs exactly one log entry with a signed entry timestamp"
        )
    if len(bundle.certificates) > 1:
        raise InputError("bundle-not-convertible", "the legacy format holds the leaf certificate only")
    e = entries[0]
    assert e.inclusion_promise is not None
    out: dict[str, Any] = {"base64Signature": base64.b64encode(bundle.message_signature.signature).decode()}
    if bundle.certificates:
        out["cert"] = encode_certificate(bundle.certificates[0]).decode()
    out["rekorBundle"] = {
        "SignedEntryTimestamp": base64.b64encode(e.inclusion_promise).decode(),
        "Payload": {
            "body": base64.b64encode(e.canonicalized_body).decode(),
            "integratedTime": e.integrated_time,
            "logIndex": e.log_index,
            "logID": e.log_id.hex(),
        },
    }
    return out


def to_v01_json(bundle: Bundle) -> dict[str, Any]:
    """A bundle as Sigstore bundle v0.1 JSON (``x509CertificateChain`` material; entries may carry a promise only)."""
    doc = bundle.to_json()
    doc["mediaType"] = MEDIA_TYPE_V01
    vm = doc["verificationMaterial"]
    if "certificate" in vm:
        vm["x509CertificateChain"] = {"certificates": [vm.pop("certificate")]}
    return doc
