"""Managed-key bundles through the pipeline, with a negative test per rejection."""

import hashlib
from dataclasses import replace

import pytest

from assay.crypto import keys
from assay.crypto.signer import KeyFileSigner
from assay.errors import AssayError, VerificationError
from assay.formats.bundle import parse_bundle
from assay.formats.dsse import Envelope, Signature
from assay.sign.blob import make_statement, sign_blob, sign_statement
from assay.verify.model import Artifact
from assay.verify.pipeline import verify
from assay.verify.policy import Policy

DATA = b"artifact bytes"
DIGEST = hashlib.sha256(DATA).digest()


@pytest.fixture(params=keys.KEY_TYPES)
def key(request):
    return keys.generate(request.param)


def _artifact(data: bytes = DATA) -> Artifact:
    return Artifact(hashlib.sha256(data).digest(), data)


def _flip(b: bytes, i: int = 0) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]


def _reason(fn) -> str:
    with pytest.raises(AssayError) as exc:
        fn()
    return exc.value.reason


def test_blob_signature_verifies_and_reports_no_tlog(key):
    bundle = parse_bundle(sign_blob(KeyFileSigner(key), DIGEST, DATA).to_bytes())
    result = verify(bundle, _artifact(), Policy(key=key.public_key()))
    assert [s.step for s in result.steps] == ["material", "time", "tlog", "signature"]
    assert result.steps[2].detail == "no tlog entry"
    assert result.to_json()["verified"] is True


def test_flipped_signature_byte(key):
    b = sign_blob(KeyFileSigner(key), DIGEST, DATA)
    assert b.message_signature is not None
    bad = replace(b, message_signature=replace(b.message_signature, signature=_flip(b.message_signature.signature, 10)))
    assert _reason(lambda: verify(bad, _artifact(), Policy(key=key.public_key()))) == "signature-mismatch"


def test_flipped_artifact_byte(key):
    b = sign_blob(KeyFileSigner(key), DIGEST, DATA)
    assert (
        _reason(lambda: verify(b, _artifact(_flip(DATA)), Policy(key=key.public_key()))) == "artifact-digest-mismatch"
    )


def test_flipped_artifact_byte_without_digest_hint(key):
    b = sign_blob(KeyFileSigner(key), DIGEST, DATA)
    assert b.message_signature is not None
    b = replace(b, message_signature=replace(b.message_signature, digest=None, digest_algorithm=None))
    assert _reason(lambda: verify(b, _artifact(_flip(DATA)), Policy(key=key.public_key()))) == "signature-mismatch"


def test_wrong_key(key):
    b = sign_blob(KeyFileSigner(key), DIGEST, DATA)
    other = keys.generate("ecdsa-p256").public_key()
    assert _reason(lambda: verify(b, _artifact(), Policy(key=other))) == "signature-mismatch"


def test_missing_key_and_required_tlog(key):
    b = sign_blob(KeyFileSigner(key), DIGEST, DATA)
    assert _reason(lambda: verify(b, _artifact(), Policy())) == "key-required"
    assert (
        _reason(lambda: verify(b, _artifact(), Policy(key=key.public_key(), require_tlog=True))) == "missing-tlog-entry"
    )


def _attestation(key, digest=DIGEST, ptype="https://example.com/p/v1"):
    return sign_statement(KeyFileSigner(key), make_statement("a.txt", digest, ptype, {"x": 1}))


def test_attestation_verifies(key):
    result = verify(
        _attestation(key), _artifact(), Policy(key=key.public_key(), predicate_type="https://example.com/p/v1")
    )
    assert result.statement["predicateType"] == "https://example.com/p/v1"
    assert [s.step for s in result.steps][-1] == "subject"


def test_attestation_wrong_predicate_type(key):
    policy = Policy(key=key.public_key(), predicate_type="https://slsa.dev/provenance/v1")
    assert _reason(lambda: verify(_attestation(key), _artifact(), policy)) == "predicate-type-mismatch"


def test_attestation_wrong_subject_digest(key):
    b = _attestation(key, digest=hashlib.sha256(b"other").digest())
    assert _reason(lambda: verify(b, _artifact(), Policy(key=key.public_key()))) == "subject-digest-mismatch"


def test_attestation_flipped_signature_and_payload(key):
    b = _attestation(key)
    env = b.dsse_envelope
    assert env is not None
    bad_sig = replace(
        b, dsse_envelope=Envelope(env.payload, env.payload_type, (Signature(_flip(env.signatures[0].sig, 5)),))
    )
    assert _reason(lambda: verify(bad_sig, _artifact(), Policy(key=key.public_key()))) == "signature-mismatch"
    tampered = env.payload.replace(b'"x":1', b'"x":2')
    bad_payload = replace(b, dsse_envelope=Envelope(tampered, env.payload_type, env.signatures))
    assert _reason(lambda: verify(bad_payload, _artifact(), Policy(key=key.public_key()))) == "signature-mismatch"


def test_message_signature_is_not_an_attestation(key):
    b = sign_blob(KeyFileSigner(key), DIGEST, DATA)
    with pytest.raises(VerificationError) as exc:
        verify(b, _artifact(), Policy(key=key.public_key(), expect_statement=True))
    assert exc.value.reason == "not-an-attestation"
    assert exc.value.step == "subject"
