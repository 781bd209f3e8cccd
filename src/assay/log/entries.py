"""Proposed Rekor entries → verified, canonical bodies (pure).

Accepted kinds: ``hashedrekord`` 0.0.1 (signature over a SHA-256 digest by a
public key or certificate) and ``dsse`` 0.0.1 (an envelope and its verifiers).
A proposal is accepted only if its signatures verify. The canonical body is
the RFC 8785 serialisation of the normalised entry, which is byte-identical to
what Rekor stores for these kinds.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from assay.crypto import keys
from assay.errors import InputError
from assay.formats import canonical
from assay.formats.dsse import Envelope
from assay.formats.dsse import pae as dsse_pae
from assay.formats.encoding import b64decode
from assay.log.proposals import DsseProposal, HashedRekordProposal, parse_envelope, parse_proposal

MAX_BODY = 65535  # tlog-tiles entry bundles length-prefix entries with a uint16


@dataclass(frozen=True)
class CanonicalEntry:
    """A verified entry ready to sequence."""

    kind: str
    body: bytes
    artifact_hash: str | None = None  # "sha256:<hex>" of the artifact or DSSE payload, for search
    leaf_hash: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaf_hash", hashlib.sha256(b"\x00" + self.body).digest())


def _bad(reason: str, message: str) -> InputError:
    return InputError(reason, message, step="entry")


def _verifier_key(pem_b64: object, where: str) -> tuple[keys.PublicKey, str]:
    pem = b64decode(pem_b64, where)
    try:
        if b"BEGIN CERTIFICATE" in pem:
            cert = x509.load_pem_x509_certificate(pem)
            key: object = cert.public_key()
            canonical_pem = cert.public_bytes(serialization.Encoding.PEM)
        else:
            key = serialization.load_pem_public_key(pem)
            canonical_pem = key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
    except (ValueError, UnsupportedAlgorithm):
        raise _bad("entry-malformed", f"{where}: not a PEM certificate or public key") from None
    return keys.supported_public(key, where), base64.b64encode(canonical_pem).decode()


MAX_RSA_BITS = 8192
MAX_MESSAGE_WORK = 64 * 1024 * 1024  # bytes Ed25519 verifiers may hash for one DSSE entry (they cannot prehash)


def _checked(key: keys.PublicKey, where: str) -> keys.PublicKey:
    if isinstance(key, rsa.RSAPublicKey) and key.key_size > MAX_RSA_BITS:
        raise _bad("entry-key-too-large", f"{where}: RSA keys over {MAX_RSA_BITS} bits are not accepted")
    return key


def _hashedrekord(p: HashedRekordProposal) -> CanonicalEntry:
    hexdigest = p.spec.data.hash.value  # exactly ^[0-9a-f]{64}$ (the model checked it)
    digest = bytes.fromhex(hexdigest)
    signature = b64decode(p.spec.signature.content, "spec.signature.content")
    key, pem_b64 = _verifier_key(p.spec.signature.publicKey.content, "spec.signature.publicKey.content")
    key = _checked(key, "spec.signature.publicKey.content")
    if keys.needs_message(key):
        raise _bad(
            "entry-kind-unsupported",
            "hashedrekord entries cannot carry Ed25519 signatures (they cover the message, not a digest)",
        )
    if not keys.verify_prehashed(key, signature, digest, hashes.SHA256()):
        raise _bad("entry-signature-invalid", "the signature does not verify over the digest with the given key")
    body: dict[str, Any] = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hexdigest}},
            "signature": {"content": base64.b64encode(signature).decode(), "publicKey": {"content": pem_b64}},
        },
    }
    return CanonicalEntry("hashedrekord", canonical.dumps(body), f"sha256:{hexdigest}")


def _dsse(p: DsseProposal) -> CanonicalEntry:
    envelope_text = p.spec.proposedContent.envelope
    env = parse_envelope(envelope_text)
    payload = b64decode(env.payload, "envelope.payload")
    sigs = [b64decode(s.sig, f"envelope.signatures[{i}].sig") for i, s in enumerate(env.signatures)]
    if len(set(sigs)) != len(sigs):
        raise _bad("entry-duplicate-signature", "the envelope carries the same signature more than once")
    raw_verifiers = list(dict.fromkeys(p.spec.proposedContent.verifiers))  # each distinct verifier parsed once
    verifiers = []
    for i, v in enumerate(raw_verifiers):
        key, pem_b64 = _verifier_key(v, f"verifiers[{i}]")
        verifiers.append((_checked(key, f"verifiers[{i}]"), pem_b64))
    pae = dsse_pae(env.payloadType, payload)
    whole_message = sum(1 for k, _ in verifiers if keys.needs_message(k))
    if whole_message * len(sigs) * len(pae) > MAX_MESSAGE_WORK:
        raise _bad(
            "entry-too-costly",
            f"{len(sigs)} signatures x {whole_message} Ed25519 verifiers over {len(pae)} bytes exceeds the work limit",
        )
    digests: dict[str, bytes] = {}  # the PAE is hashed once per hash algorithm, not per signature x verifier

    def prehashed(key: keys.PublicKey, sig: bytes) -> bool:
        alg = keys.hash_for(key)
        if alg.name not in digests:
            digests[alg.name] = hashlib.new(alg.name, pae).digest()
        return keys.verify_prehashed(key, sig, digests[alg.name], alg)

    signatures = []
    for i, sig in enumerate(sigs):
        for key, pem_b64 in verifiers:
            if keys.verify_message(key, sig, pae) if keys.needs_message(key) else prehashed(key, sig):
                signatures.append({"signature": base64.b64encode(sig).decode(), "verifier": pem_b64})
                break
        else:
            raise _bad("entry-signature-invalid", f"DSSE signature {i} does not verify with any given verifier")
    payload_hash = hashlib.sha256(payload).hexdigest()
    body: dict[str, Any] = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(envelope_text.encode()).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": payload_hash},
            "signatures": signatures,
        },
    }
    return CanonicalEntry("dsse", canonical.dumps(body), f"sha256:{payload_hash}")


def canonicalize(proposed: bytes | str | dict[str, Any]) -> CanonicalEntry:
    """Verify a proposed entry (raw JSON, or an already-parsed object) and return its canonical body."""
    if isinstance(proposed, dict):
        proposed = json.dumps(proposed)
    parsed = parse_proposal(proposed)
    entry = _hashedrekord(parsed) if isinstance(parsed, HashedRekordProposal) else _dsse(parsed)
    if len(entry.body) > MAX_BODY:
        raise _bad("entry-too-large", f"the canonical entry is {len(entry.body)} bytes; the limit is {MAX_BODY}")
    return entry


def canonicalize_outcome(raw: bytes) -> tuple[CanonicalEntry | None, tuple[str, str] | None]:
    """:func:`canonicalize` for a worker process: (entry, None) or (None, (reason, message)), always picklable."""
    try:
        return canonicalize(raw), None
    except InputError as exc:
        return None, (exc.reason, exc.message)


def hashedrekord_proposal(signature: bytes, digest: bytes, verifier_pem: bytes) -> dict[str, Any]:
    """A proposed hashedrekord entry, as a client submits it."""
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(verifier_pem).decode()},
            },
        },
    }


def dsse_proposal(envelope: Envelope, verifier_pem: bytes) -> dict[str, Any]:
    """A proposed dsse entry, as a client submits it."""
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": json.dumps(envelope.to_json()),
                "verifiers": [base64.b64encode(verifier_pem).decode()],
            }
        },
    }
