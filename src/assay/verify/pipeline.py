"""The ordered verification pipeline.

Steps run in this order; the first failure stops the pipeline and names its
step and reason code:

1. ``material``   — which key signed: the caller's managed key (``--key``).
2. ``tlog``       — transparency-log entries; a bundle without one is reported
                    as "no tlog entry" and rejected when a log is required.
3. ``signature``  — the signature over the artifact digest, or over the DSSE PAE.
4. ``subject``    — for DSSE bundles, the in-toto subject digest and predicate type.
"""

from __future__ import annotations

from assay.crypto import keys
from assay.formats.bundle import Bundle
from assay.verify.model import Artifact, Result, fail
from assay.verify.policy import Policy
from assay.verify.signature import check_dsse_signature, check_message_signature, check_statement


def verify(bundle: Bundle, artifact: Artifact | None, policy: Policy) -> Result:
    """Run every step; return the result or raise :class:`VerificationError`."""
    result = Result()
    if bundle.certificates:
        raise fail("material", "trusted-root-required", "certificate bundles need a trusted root")
    if policy.key is None:
        raise fail("material", "key-required", "this bundle names a managed key; pass --key")
    key = policy.key
    result.signer = {"type": "key", "keyType": keys.key_type_name(key), "keyId": keys.key_id(key)}
    result.record("material", f"managed key {keys.key_id(key)[:16]}")

    if not bundle.tlog_entries:
        if policy.require_tlog:
            raise fail("tlog", "missing-tlog-entry", "the bundle has no transparency-log entry and one is required")
        result.record("tlog", "no tlog entry", status="skip")
        result.notes.append("no tlog entry: the signature is not recorded in a transparency log")
    else:
        raise fail("tlog", "trusted-root-required", "log entries can only be checked against a trusted root")

    if bundle.message_signature is not None:
        if artifact is None:
            raise fail("signature", "artifact-required", "a message signature needs the artifact")
        result.record("signature", check_message_signature(bundle, artifact, key))
    else:
        result.record("signature", check_dsse_signature(bundle, key))
    if bundle.dsse_envelope is not None:
        statement = check_statement(bundle, artifact, policy.predicate_type)
        result.statement = {"predicateType": statement.predicate_type, "subjects": [s.name for s in statement.subjects]}
        result.record("subject", f"subject sha256 matches; predicate {statement.predicate_type}")
    elif policy.expect_statement:
        raise fail("subject", "not-an-attestation", "the bundle holds a message signature, not an attestation")
    return result
