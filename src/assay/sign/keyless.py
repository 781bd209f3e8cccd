"""Keyless signing: ephemeral key → certificate for an OIDC identity → log entry + timestamp → bundle."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.clients import fulcio, tsa
from assay.clients.rekor import RekorClient
from assay.crypto.signer import KeyFileSigner
from assay.errors import InputError
from assay.formats import intoto
from assay.formats.bundle import Bundle
from assay.log.entries import dsse_proposal, hashedrekord_proposal
from assay.sign import blob


@dataclass(frozen=True)
class Services:
    """Where keyless signing talks to: a CA (Fulcio v2), a log (Rekor v1) and a TSA (RFC 3161)."""

    ca: str
    tlog: str
    tsa: str | None

    @classmethod
    def assay(cls, server: str) -> Services:
        """All three on one assay server."""
        base = server.rstrip("/")
        return cls(base, base, base + "/api/v1/timestamp")

    @classmethod
    def from_signing_config(cls, doc: Any) -> Services:
        """From a Sigstore SigningConfig v0.2 (or the one inside a ClientTrustConfig)."""
        if isinstance(doc, dict) and "signingConfig" in doc:
            doc = doc["signingConfig"]
        if not isinstance(doc, dict):
            raise InputError("unknown-signing-config", "the signing config is not a JSON object")
        if doc.get("mediaType") != "application/vnd.dev.sigstore.signingconfig.v0.2+json":
            raise InputError("unknown-signing-config", f"unsupported signing config {doc.get('mediaType')!r}")

        def first(key: str, version: int = 1) -> str | None:
            for svc in doc.get(key) or []:
                if (
                    isinstance(svc, dict)
                    and svc.get("majorApiVersion", 1) == version
                    and isinstance(svc.get("url"), str)
                ):
                    return str(svc["url"])
            return None

        ca, tlog = first("caUrls"), first("rekorTlogUrls")
        if ca is None or tlog is None:
            raise InputError("signing-config-incomplete", "the signing config names no usable CA (v1) or Rekor v1 log")
        return cls(ca, tlog, first("tsaUrls"))


def _finish(
    bundle: Bundle, cert_der: bytes, signature: bytes, proposal: dict[str, object], services: Services
) -> Bundle:
    stamps = (tsa.timestamp(services.tsa, signature),) if services.tsa else ()
    entry = RekorClient(services.tlog).create_entry(proposal)
    return replace(
        bundle, certificates=(cert_der,), public_key_hint=None, tlog_entries=(entry,), rfc3161_timestamps=stamps
    )


def _certificate(services: Services, token: str) -> tuple[KeyFileSigner, bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    chain = fulcio.signing_certificate(services.ca, token, key)
    leaf = chain[0]
    return (
        KeyFileSigner(key),
        leaf.public_bytes(serialization.Encoding.DER),
        leaf.public_bytes(serialization.Encoding.PEM),
    )


def sign_digest(server: str | Services, token: str, digest: bytes) -> Bundle:
    """A v0.3 bundle for an artifact digest: certificate, tlog entry and RFC 3161 timestamp."""
    services = server if isinstance(server, Services) else Services.assay(server)
    signer, cert_der, cert_pem = _certificate(services, token)
    b = blob.sign_blob(signer, digest)
    assert b.message_signature is not None
    sig = b.message_signature.signature
    return _finish(b, cert_der, sig, hashedrekord_proposal(sig, digest, cert_pem), services)


def sign_statement(server: str | Services, token: str, statement: intoto.Statement) -> Bundle:
    """A v0.3 bundle with a DSSE envelope over an in-toto statement, keyless."""
    services = server if isinstance(server, Services) else Services.assay(server)
    signer, cert_der, cert_pem = _certificate(services, token)
    b = blob.sign_statement(signer, statement)
    assert b.dsse_envelope is not None
    return _finish(b, cert_der, b.dsse_envelope.signatures[0].sig, dsse_proposal(b.dsse_envelope, cert_pem), services)
