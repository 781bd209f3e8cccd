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

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from assay.crypto import keys
from assay.errors import InputError
from assay.formats.dsse import Envelope
from assay.formats.encoding import b64decode, obj, string

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
    except ValueError:
        raise _bad("entry-malformed", f"{where}: not a PEM certificate or public key") from None
    return keys.supported_public(key, where), base64.b64encode(canonical_pem).decode()


def _hashedrekord(spec: dict[str, Any]) -> CanonicalEntry:
    data = obj(spec.get("data"), "spec.data")
    h = obj(data.get("hash"), "spec.data.hash")
    if h.get("algorithm") != "sha256":
        raise _bad("entry-malformed", "spec.data.hash.algorithm must be sha256")
    hexdigest = string(h.get("value"), "spec.data.hash.value").lower()
    try:
        digest = bytes.fromhex(hexdigest)
    except ValueError:
        raise _bad("entry-malformed", "spec.data.hash.value is not hex") from None
    if len(digest) != 32:
        raise _bad("entry-malformed", "spec.data.hash.value is not a SHA-256 digest")
    sig = obj(spec.get("signature"), "spec.signature")
    content_b64 = string(sig.get("content"), "spec.signature.content")
    signature = b64decode(content_b64, "spec.signature.content")
    key, pem_b64 = _verifier_key(
        obj(sig.get("publicKey"), "spec.signature.publicKey").get("content"), "spec.signature.publicKey.content"
    )
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
    return CanonicalEntry("hashedrekord", rfc8785.dumps(body), f"sha256:{hexdigest}")


def _dsse(spec: dict[str, Any]) -> CanonicalEntry:
    proposed = obj(spec.get("proposedContent"), "spec.proposedContent")
    envelope_text = string(proposed.get("envelope"), "spec.proposedContent.envelope")
    try:
        env = Envelope.from_json(json.loads(envelope_text), "envelope")
    except ValueError:
        raise _bad("entry-malformed", "spec.proposedContent.envelope is not JSON") from None
    verifiers_raw = proposed.get("verifiers")
    if not isinstance(verifiers_raw, list) or not verifiers_raw:
        raise _bad("entry-malformed", "spec.proposedContent.verifiers must list at least one key or certificate")
    verifiers = [_verifier_key(v, f"verifiers[{i}]") for i, v in enumerate(verifiers_raw)]
    pae = env.pae()
    signatures = []
    for i, s in enumerate(env.signatures):
        for key, pem_b64 in verifiers:
            if keys.verify_message(key, s.sig, pae) if keys.needs_message(key) else _verify_pae(key, s.sig, pae):
                signatures.append({"signature": base64.b64encode(s.sig).decode(), "verifier": pem_b64})
                break
        else:
            raise _bad("entry-signature-invalid", f"DSSE signature {i} does not verify with any given verifier")
    body: dict[str, Any] = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(envelope_text.encode()).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(env.payload).hexdigest()},
            "signatures": signatures,
        },
    }
    return CanonicalEntry("dsse", rfc8785.dumps(body), f"sha256:{hashlib.sha256(env.payload).hexdigest()}")


def _verify_pae(key: keys.PublicKey, sig: bytes, pae: bytes) -> bool:
    alg = keys.hash_for(key)
    return keys.verify_prehashed(key, sig, hashlib.new(alg.name, pae).digest(), alg)


def canonicalize(proposed: object) -> CanonicalEntry:
    """Verify a proposed entry and return its canonical body."""
    doc = obj(proposed, "entry")
    kind, version = doc.get("kind"), doc.get("apiVersion")
    if (kind, version) == ("hashedrekord", "0.0.1"):
        entry = _hashedrekord(obj(doc.get("spec"), "spec"))
    elif (kind, version) == ("dsse", "0.0.1"):
        entry = _dsse(obj(doc.get("spec"), "spec"))
    else:
        raise _bad(
            "entry-kind-unsupported",
            f"entries of kind {kind!r} version {version!r} are not accepted (use hashedrekord or dsse 0.0.1)",
        )
    if len(entry.body) > MAX_BODY:
        raise _bad("entry-too-large", f"the canonical entry is {len(entry.body)} bytes; the limit is {MAX_BODY}")
    return entry


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
