"""The ordered verification pipeline.

Steps run in this order; the first failure stops the pipeline and names its
step and reason code. Steps that do not apply are recorded as skipped.

1. ``material``          — what signed: a certificate from the bundle, or the
                           caller's managed key (``--key``); never both.
2. ``time``              — verified times: RFC 3161 timestamps from trusted TSAs
                           (within each TSA's validity window) and, for Rekor v1
                           entries, integrated times bound by a verified inclusion
                           promise. Certificates need at least one.
3. ``certificate-chain`` — the certificate chains to a trusted CA valid at every
                           verified time, and is itself valid then (inclusive).
4. ``sct``               — an embedded SCT verifies under a trusted CT log key
                           (skipped when the trusted root names no CT log).
5. ``key-usage``         — digitalSignature and the code-signing EKU.
6. ``identity``          — SAN identity, OIDC issuer and extension claims.
7. ``tlog``              — each entry: trusted log, log key valid at integration
                           time, promise, the entry's logIndex bound to its proof's where
                           no promise signs it (``tlog-index-mismatch``), inclusion proof to a checkpoint
                           signed by the log, and a body consistent with the bundle (its
                           digest in the algorithm the key implies). Certificate bundles
                           need an entry when the trusted root names a log; when it names
                           none, a verified RFC 3161 timestamp stands in for it.
8. ``signature``         — the signature over the artifact digest or the DSSE PAE.
9. ``subject``           — for DSSE bundles, a subject digest in any algorithm
                           assay can compute (sha256/384/512), and the predicate type.
"""

from __future__ import annotations

from cryptography import x509

from assay.crypto import keys
from assay.errors import InputError
from assay.formats.bundle import Bundle
from assay.formats.rekor import Verifier
from assay.formats.trustroot import TrustedRoot
from assay.verify import certs
from assay.verify import timestamps as ts
from assay.verify.model import Artifact, Result, VerifiedTime, fail
from assay.verify.policy import Policy
from assay.verify.signature import (
    check_dsse_signature,
    check_message_signature,
    check_statement,
    message_digest_algorithm,
)
from assay.verify.tlog import verify_entries


def needs_trust_root(bundle: Bundle) -> bool:
    """Certificates, log entries and timestamps are checked against a trusted root; a bare key signature is not."""
    return bool(bundle.certificates or bundle.tlog_entries or bundle.rfc3161_timestamps)


def _material(
    bundle: Bundle, policy: Policy, result: Result
) -> tuple[keys.PublicKey, x509.Certificate | None, Verifier]:
    if bundle.certificates:
        if policy.key is not None:
            raise InputError(
                "key-with-certificate-bundle",
                "the bundle carries a certificate; verify it with an identity policy, not --key",
                step="material",
            )
        leaf = certs.load_certificate(bundle.certificates[0])
        try:
            key = keys.supported_public(leaf.public_key(), "signing certificate")
        except InputError as exc:
            raise fail("material", "unsupported-key-type", exc.message) from None
        result.record("material", f"certificate serial {leaf.serial_number:x}")
        return key, leaf, Verifier(bundle.certificates[0], True)  # the DER as given, not re-serialised
    if policy.key is None:
        raise InputError("key-required", "this bundle names a managed key; pass --key", step="material")
    key = policy.key
    result.signer = {"type": "key", "keyType": keys.key_type_name(key), "keyId": keys.key_id(key)}
    result.record("material", f"managed key {keys.key_id(key)[:16]}")
    return key, None, Verifier(keys.spki_der(key), False)


def verify(bundle: Bundle, artifact: Artifact | None, policy: Policy, trust: TrustedRoot | None = None) -> Result:
    """Run every step; return the result or raise :class:`VerificationError`."""
    result = Result()
    key, leaf, verifier = _material(bundle, policy, result)
    msg_alg = (
        message_digest_algorithm(bundle, key, managed=leaf is None) if bundle.message_signature is not None else ""
    )

    # 2. time
    times: list[VerifiedTime] = []
    if trust is not None:
        times = ts.establish(bundle, trust)
        result.verified_times = [
            {"source": t.source, "time": t.time.isoformat(), "authority": t.authority} for t in times
        ]
        result.record(
            "time",
            ", ".join(f"{t.source} {t.time.isoformat()}" for t in times) or "none needed",
            status="pass" if times else "skip",
        )
    elif bundle.rfc3161_timestamps:
        raise InputError("trusted-root-required", "timestamps can only be checked against a trusted root", step="time")
    else:
        result.record("time", "no trusted root", status="skip")

    # 3-6. certificate checks
    if leaf is not None:
        if trust is None:
            raise InputError(
                "trusted-root-required", "certificate bundles need a trusted root", step="certificate-chain"
            )
        if not times:
            raise fail("time", "no-verified-time", "the bundle has no verified timestamp or log integration time")
        verdict = certs.verify_certificate(leaf, bundle.certificates[0], [t.time for t in times], trust)
        result.record("certificate-chain", verdict.chain_detail)
        if verdict.sct_detail is None:
            result.record("sct", "the trusted root names no CT log", status="skip")
        else:
            result.record("sct", verdict.sct_detail)
        result.record("key-usage", verdict.key_usage_detail)
        claims = dict(verdict.claims)
        result.claims = claims
        identity = policy.identity
        if identity is None:
            raise InputError(
                "identity-required",
                "verifying a certificate bundle needs --certificate-identity and --certificate-oidc-issuer",
                step="identity",
            )
        result.record("identity", identity.check(claims))
        result.signer = {"type": "certificate", "subject": claims.get("subject"), "issuer": claims.get("issuer")}

    # 7. tlog
    if not bundle.tlog_entries:
        root_has_log = trust is None or bool(trust.tlogs)
        if policy.require_tlog or (leaf is not None and root_has_log):
            raise fail("tlog", "missing-tlog-entry", "the bundle has no transparency-log entry and one is required")
        if leaf is not None and not any(t.source == "tsa" for t in times):
            raise fail(
                "time",
                "no-verified-timestamp",
                "the trusted root names no transparency log, so a verified RFC 3161 timestamp must give the time",
            )
        result.record("tlog", "no tlog entry", status="skip")
        result.notes.append("no tlog entry: the signature is not recorded in a transparency log")
    elif trust is None:
        raise InputError("trusted-root-required", "log entries can only be checked against a trusted root", step="tlog")
    else:
        digest = artifact.digest(msg_alg) if artifact is not None and msg_alg else None
        result.tlog = verify_entries(bundle, trust, times, (msg_alg, digest), verifier)
        result.record(
            "tlog", f"{len(result.tlog)} entr{'y' if len(result.tlog) == 1 else 'ies'} included and consistent"
        )

    # 8. signature
    if bundle.message_signature is not None:
        if artifact is None:
            raise InputError("artifact-required", "a message signature needs the artifact", step="signature")
        result.record("signature", check_message_signature(bundle, artifact, key, msg_alg))
    else:
        result.record("signature", check_dsse_signature(bundle, key))

    # 9. subject
    if bundle.dsse_envelope is not None:
        statement, matched = check_statement(bundle, artifact, policy.predicate_type)
        result.statement = {"predicateType": statement.predicate_type, "subjects": [s.name for s in statement.subjects]}
        result.predicate = statement.predicate
        how = f"subject {matched} matches" if matched else "no artifact to match"
        result.record("subject", f"{how}; predicate {statement.predicate_type}")
    elif policy.expect_statement:
        raise fail("subject", "not-an-attestation", "the bundle holds a message signature, not an attestation")
    return result
