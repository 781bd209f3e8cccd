"""Keyless signing: ephemeral key → certificate for an OIDC identity → log entry + timestamp → bundle."""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.clients import fulcio, tsa
from assay.clients.rekor import RekorClient
from assay.crypto.signer import KeyFileSigner
from assay.formats import intoto
from assay.formats.bundle import Bundle
from assay.log.entries import dsse_proposal, hashedrekord_proposal
from assay.sign import blob


def _finish(bundle: Bundle, cert_der: bytes, signature: bytes, proposal: dict[str, object], server: str) -> Bundle:
    stamp = tsa.timestamp(server.rstrip("/") + "/api/v1/timestamp", signature)
    entry = RekorClient(server).create_entry(proposal)
    return replace(
        bundle, certificates=(cert_der,), public_key_hint=None, tlog_entries=(entry,), rfc3161_timestamps=(stamp,)
    )


def _certificate(server: str, token: str) -> tuple[KeyFileSigner, bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    chain = fulcio.signing_certificate(server, token, key)
    leaf = chain[0]
    return (
        KeyFileSigner(key),
        leaf.public_bytes(serialization.Encoding.DER),
        leaf.public_bytes(serialization.Encoding.PEM),
    )


def sign_digest(server: str, token: str, digest: bytes) -> Bundle:
    """A v0.3 bundle for an artifact digest: certificate, tlog entry and RFC 3161 timestamp."""
    signer, cert_der, cert_pem = _certificate(server, token)
    b = blob.sign_blob(signer, digest)
    assert b.message_signature is not None
    sig = b.message_signature.signature
    return _finish(b, cert_der, sig, hashedrekord_proposal(sig, digest, cert_pem), server)


def sign_statement(server: str, token: str, statement: intoto.Statement) -> Bundle:
    """A v0.3 bundle with a DSSE envelope over an in-toto statement, keyless."""
    signer, cert_der, cert_pem = _certificate(server, token)
    b = blob.sign_statement(signer, statement)
    assert b.dsse_envelope is not None
    return _finish(b, cert_der, b.dsse_envelope.signatures[0].sig, dsse_proposal(b.dsse_envelope, cert_pem), server)
