"""Signed decryption policies: a Sigstore bundle (or bare DSSE envelope) carrying an in-toto statement whose
predicate is the policy, verified against the project's trust and its signer's standing.

The statement's subject names the key (``PROJECT/KEY``, digest of that name) so a policy signed for one key
cannot be replayed onto another. A key-signed policy must verify with a key the project trusts (only a
``policy_writer`` can set those); a keyless one must come from an identity holding ``policy_writer`` (or
above) in the project.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rfc8785

from assay.errors import AssayError, InputError, VerificationError
from assay.evidence.parse import parse_item
from assay.evidence.trust import Trust, verify_item

PREDICATE_TYPE = "https://assay.dev/broker-policy/v1"
WRITER_ROLES = ("policy_writer", "admin")

RoleOf = Callable[[str, str], str | None]  # (issuer, subject) -> the identity's role in the project


def subject_name(project: str, key: str) -> str:
    return f"{project}/{key}"


def subject_digest(project: str, key: str) -> str:
    return hashlib.sha256(subject_name(project, key).encode()).hexdigest()


@dataclass(frozen=True)
class SignedPolicy:
    document: bytes  # the predicate as canonical JSON (what the policy parser reads and the digest covers)
    signer: str  # key:ID, or ISSUER=SUBJECT for a keyless signer


def verify(body: bytes, project: str, key: str, trust: Trust, role_of: RoleOf) -> SignedPolicy:
    """The policy document out of a signed upload, or a reason: ``broker-policy-unsigned``,
    ``broker-policy-wrong-type``, ``broker-policy-wrong-key``, ``broker-policy-signature-invalid`` (tampered, or
    signed by a key or identity the project does not trust; the verifier's reason in the message), or
    ``broker-policy-signer-not-writer``."""
    try:
        item = parse_item(body)
    except AssayError:
        raise InputError(
            "broker-policy-unsigned",
            "the decryption policy must be a signed Sigstore bundle or DSSE envelope (assay broker policy set)",
        ) from None
    if item.kind not in ("bundle", "dsse") or item.statement is None:
        raise InputError("broker-policy-unsigned", "the upload is not a signed in-toto statement")
    if item.predicate_type != PREDICATE_TYPE:
        raise InputError(
            "broker-policy-wrong-type",
            f"the statement's predicateType is {item.predicate_type!r}, not {PREDICATE_TYPE}",
        )
    want = ("sha256:" + subject_digest(project, key), subject_name(project, key))
    if want not in item.subjects:
        raise InputError("broker-policy-wrong-key", f"the signed policy is not for key {subject_name(project, key)}")
    try:
        verdict = verify_item(item, trust)
    except AssayError as exc:
        raise VerificationError(
            "broker-policy-signature-invalid",
            f"the policy's signature does not verify with the project's trust ({exc.reason}: {exc.message})",
        ) from None
    if verdict.issuer is not None:
        role = role_of(verdict.issuer, verdict.signer)
        if role not in WRITER_ROLES:
            raise VerificationError(
                "broker-policy-signer-not-writer",
                f"{verdict.signer} ({verdict.issuer}) is {role or 'not a member'} in {project}, not a policy_writer",
            )
        signer = f"{verdict.issuer}={verdict.signer}"
    else:
        signer = verdict.signer
    predicate = item.statement.get("predicate")
    if not isinstance(predicate, dict):
        raise InputError("broker-policy-invalid", "the statement's predicate is not a policy object")
    return SignedPolicy(rfc8785.dumps(predicate), signer)


def verify_attestation(raw: bytes, trust: Trust) -> dict[str, Any]:
    """Platform evidence: a signed in-toto statement verified against the project's trust; its signer (key:ID or
    ISSUER=SUBJECT), predicate type and predicate (the platform's claims). ``attestation-invalid`` otherwise."""
    try:
        item = parse_item(raw)
        if item.kind not in ("bundle", "dsse") or item.statement is None:
            raise InputError("attestation-invalid", "the platform evidence is not a signed in-toto statement")
        verdict = verify_item(item, trust)
    except AssayError as exc:
        if exc.reason == "attestation-invalid":
            raise
        raise InputError(
            "attestation-invalid", f"the platform evidence does not verify ({exc.reason}: {exc.message})"
        ) from None
    predicate = item.statement.get("predicate")
    if not isinstance(predicate, dict):
        raise InputError("attestation-invalid", "the platform evidence's predicate is not an object of claims")
    signer = f"{verdict.issuer}={verdict.signer}" if verdict.issuer is not None else verdict.signer
    return {"signer": signer, "predicateType": item.predicate_type, "claims": predicate}
