"""Steps: the signature over the artifact or DSSE PAE, and in-toto subject matching."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes

from assay.crypto import keys
from assay.errors import InputError
from assay.formats import intoto
from assay.formats.bundle import HASH_ALGORITHMS, Bundle
from assay.verify.model import Artifact, fail


def check_message_signature(bundle: Bundle, artifact: Artifact, key: keys.PublicKey) -> str:
    """Verify a messageSignature over the artifact; returns a description."""
    ms = bundle.message_signature
    assert ms is not None
    if ms.digest is not None:
        alg = HASH_ALGORITHMS[ms.digest_algorithm or "SHA2_256"]
        if alg == "sha256" and ms.digest != artifact.sha256:
            raise fail(
                "signature", "artifact-digest-mismatch", "the bundle's message digest does not match the artifact"
            )
    if keys.needs_message(key):
        if artifact.message is None:
            raise InputError(
                "digest-verification-unsupported",
                "Ed25519 signatures cover the whole artifact; verify the file, not its digest",
                step="signature",
            )
        ok = keys.verify_message(key, ms.signature, artifact.message)
    else:
        ok = keys.verify_prehashed(key, ms.signature, artifact.sha256, hashes.SHA256())
    if not ok:
        raise fail(
            "signature", "signature-mismatch", "the signature does not verify over the artifact with the signing key"
        )
    return f"{keys.key_type_name(key)} signature over sha256:{artifact.sha256.hex()}"


def check_dsse_signature(bundle: Bundle, key: keys.PublicKey) -> str:
    """Verify that at least one DSSE signature covers the PAE under ``key``."""
    env = bundle.dsse_envelope
    assert env is not None
    pae = env.pae()
    digest_alg = keys.hash_for(key)
    digest = hashlib.new(digest_alg.name, pae).digest()
    for s in env.signatures:
        if keys.needs_message(key):
            if keys.verify_message(key, s.sig, pae):
                break
        elif keys.verify_prehashed(key, s.sig, digest, digest_alg):
            break
    else:
        raise fail(
            "signature", "signature-mismatch", "no DSSE signature verifies over the envelope with the signing key"
        )
    return f"{keys.key_type_name(key)} DSSE signature over {env.payload_type}"


def check_statement(bundle: Bundle, artifact: Artifact | None, predicate_type: str | None) -> intoto.Statement:
    """Parse the in-toto statement, match its subject to the artifact and its predicate type."""
    env = bundle.dsse_envelope
    assert env is not None
    if env.payload_type != intoto.PAYLOAD_TYPE:
        raise fail(
            "subject", "unsupported-payload-type", f"DSSE payloadType {env.payload_type!r} is not an in-toto statement"
        )
    try:
        statement = intoto.parse_statement(env.payload)
    except Exception as exc:  # an InputError from the parser is a trust failure here: the signer signed garbage
        raise fail("subject", "malformed-statement", str(getattr(exc, "message", exc))) from None
    if artifact is not None and not statement.matches_sha256(artifact.sha256.hex()):
        raise fail("subject", "subject-digest-mismatch", f"no statement subject has sha256:{artifact.sha256.hex()}")
    if predicate_type is not None and statement.predicate_type != predicate_type:
        raise fail(
            "subject",
            "predicate-type-mismatch",
            f"expected predicate type {predicate_type}, found {statement.predicate_type}",
        )
    return statement
