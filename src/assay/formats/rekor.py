"""Rekor entry bodies (hashedrekord 0.0.1/0.0.2, dsse 0.0.1, intoto 0.0.2), normalised.

Verifiers in bodies are normalised to DER (certificate or SubjectPublicKeyInfo)
so consistency checks compare bytes, never PEM text or JSON layout.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from assay.errors import InputError
from assay.formats.encoding import b64decode, load_json, obj, string

SUPPORTED = {("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2"), ("dsse", "0.0.1"), ("intoto", "0.0.2")}
_V2_HASHES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


@dataclass(frozen=True)
class Verifier:
    """A key or certificate named in an entry, as DER."""

    der: bytes
    is_certificate: bool


@dataclass(frozen=True)
class SignedBy:
    """A signature and the verifier it claims."""

    signature: bytes
    verifier: Verifier


@dataclass(frozen=True)
class EntryBody:
    """What an entry body commits to."""

    kind: str
    version: str
    digest_algorithm: str | None = None
    digest: bytes | None = None
    payload_hash: bytes | None = None
    payload_type: str | None = None
    signatures: tuple[SignedBy, ...] = ()


def _bad(message: str) -> InputError:
    return InputError("tlog-body-malformed", message, step="tlog")


def _pem_verifier(pem_b64: object, where: str) -> Verifier:
    pem = b64decode(pem_b64, where)
    try:
        if pem.startswith(b"-----BEGIN CERTIFICATE-----\n") and pem.rstrip().endswith(b"-----END CERTIFICATE-----"):
            # The DER is the base64 between the armour lines; no need to parse the certificate to compare it.
            inner = pem.strip().split(b"\n")[1:-1]
            try:
                return Verifier(base64.b64decode(b"".join(inner), validate=True), True)
            except (binascii.Error, ValueError):
                raise _bad(f"{where}: malformed PEM certificate") from None
        if b"CERTIFICATE" in pem:
            return Verifier(x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER), True)
        key = serialization.load_pem_public_key(pem)
        return Verifier(
            key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo), False
        )
    except ValueError:
        raise _bad(f"{where}: not a PEM certificate or public key") from None


_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


def _hex(value: object, where: str) -> bytes:
    text = string(value, where)
    if not _HEX.fullmatch(text):  # bytes.fromhex would skip whitespace: one digest, many spellings
        raise _bad(f"{where}: not a hex digest")
    return bytes.fromhex(text)


def _hash(d: object, where: str) -> tuple[str, bytes]:
    h = obj(d, where)
    alg = string(h.get("algorithm"), f"{where}.algorithm")
    return alg, _hex(h.get("value"), f"{where}.value")


def _hashedrekord_v001(spec: dict[str, Any]) -> EntryBody:
    alg, digest = _hash(obj(obj(spec.get("data"), "spec.data").get("hash"), "spec.data.hash"), "spec.data.hash")
    sig = obj(spec.get("signature"), "spec.signature")
    content = b64decode(sig.get("content"), "spec.signature.content")
    verifier = _pem_verifier(
        obj(sig.get("publicKey"), "spec.signature.publicKey").get("content"), "spec.signature.publicKey.content"
    )
    return EntryBody("hashedrekord", "0.0.1", alg, digest, signatures=(SignedBy(content, verifier),))


def _hashedrekord_v002(spec: dict[str, Any]) -> EntryBody:
    inner = obj(spec.get("hashedRekordV002"), "spec.hashedRekordV002")
    data = obj(inner.get("data"), "data")
    alg_name = string(data.get("algorithm"), "data.algorithm")
    if alg_name not in _V2_HASHES:
        raise _bad(f"unsupported digest algorithm {alg_name!r}")
    digest = b64decode(data.get("digest"), "data.digest")
    sig = obj(inner.get("signature"), "signature")
    content = b64decode(sig.get("content"), "signature.content")
    v = obj(sig.get("verifier"), "signature.verifier")
    if "x509Certificate" in v:
        der = b64decode(obj(v["x509Certificate"], "x509Certificate").get("rawBytes"), "x509Certificate.rawBytes")
        verifier = Verifier(der, True)
    elif "publicKey" in v:
        verifier = Verifier(b64decode(obj(v["publicKey"], "publicKey").get("rawBytes"), "publicKey.rawBytes"), False)
    else:
        raise _bad("signature.verifier names neither a certificate nor a key")
    return EntryBody("hashedrekord", "0.0.2", _V2_HASHES[alg_name], digest, signatures=(SignedBy(content, verifier),))


def _dsse_v001(spec: dict[str, Any]) -> EntryBody:
    alg, payload_hash = _hash(spec.get("payloadHash"), "spec.payloadHash")
    if alg != "sha256":
        raise _bad("dsse payloadHash must be sha256")
    signatures = _signatures(spec.get("signatures"), "dsse", "signature", "verifier", b64decode)
    return EntryBody("dsse", "0.0.1", payload_hash=payload_hash, signatures=signatures)


def _signatures(
    sigs: object, kind: str, sig_field: str, verifier_field: str, decode: Callable[[object, str], bytes]
) -> tuple[SignedBy, ...]:
    """A non-empty list of ``{sig_field: signature, verifier_field: base64 PEM}`` objects."""
    if not isinstance(sigs, list) or not sigs:
        raise _bad(f"{kind} entry has no signatures")
    out = []
    for i, s in enumerate(sigs):
        s = obj(s, f"signatures[{i}]")
        out.append(
            SignedBy(
                decode(s.get(sig_field), f"signatures[{i}].{sig_field}"),
                _pem_verifier(s.get(verifier_field), f"signatures[{i}].{verifier_field}"),
            )
        )
    return tuple(out)


def _maybe_double_b64(value: object, where: str) -> bytes:
    raw = b64decode(value, where)
    # intoto v0.0.2 stores the envelope's (already base64) signature base64-encoded again.
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw


def _intoto_v002(spec: dict[str, Any]) -> EntryBody:
    content = obj(spec.get("content"), "spec.content")
    alg, payload_hash = _hash(content.get("payloadHash"), "spec.content.payloadHash")
    if alg != "sha256":
        raise _bad("intoto payloadHash must be sha256")
    env = obj(content.get("envelope"), "spec.content.envelope")
    signatures = _signatures(env.get("signatures"), "intoto", "sig", "publicKey", _maybe_double_b64)
    payload_type = str(env.get("payloadType", ""))
    return EntryBody("intoto", "0.0.2", payload_hash=payload_hash, payload_type=payload_type, signatures=signatures)


def parse_body(raw: bytes, kind: str, version: str) -> EntryBody:
    """Parse a canonicalized body and check it is of the kind and version the entry claims."""
    if (kind, version) not in SUPPORTED:
        raise InputError(
            "tlog-kind-unsupported", f"log entries of kind {kind} {version} are not supported", step="tlog"
        )
    try:
        doc = obj(load_json(raw, "log entry body"), "log entry body")
        if doc.get("kind") != kind or doc.get("apiVersion") != version:
            raise _bad(
                f"entry body is {doc.get('kind')} {doc.get('apiVersion')}, but the entry claims {kind} {version}"
            )
        spec = obj(doc.get("spec"), "spec")
        if kind == "hashedrekord":
            return _hashedrekord_v001(spec) if version == "0.0.1" else _hashedrekord_v002(spec)
        if kind == "dsse":
            return _dsse_v001(spec)
        return _intoto_v002(spec)
    except InputError as exc:
        if exc.reason == "tlog-body-malformed":
            raise
        raise _bad(f"entry body: {exc.message}") from None
