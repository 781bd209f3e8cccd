"""Step 7: transparency-log entries.

Each entry goes through these checks in this order; the first failure stops:

1. ``trusted log``   — the entry's log ID names a log in the trusted root (``tlog-unknown-log``).
2. ``key validity``  — the log key was valid at integration time (``tlog-key-not-valid``).
3. ``proof present`` — an inclusion proof or a promise (``tlog-no-proof``).
4. ``promise``       — the signed entry timestamp, when not already checked for time.
5. ``index binding`` — where no promise signs the entry's ``logIndex`` (Rekor v2, proof-only
                       entries), it is the leaf its inclusion proof proves (``tlog-index-mismatch``).
6. ``inclusion``     — the leaf hashes up to the proof's root (``inclusion-proof-invalid``).
7. ``checkpoint``    — signed by the log, committing to the proof's size and root; a Rekor v2
                       entry without a proof fails here (``inclusion-proof-missing``).
8. ``body``          — the logged body commits to this bundle's signature and content.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from assay.crypto import keys
from assay.errors import InputError
from assay.formats import canonical
from assay.formats.bundle import Bundle, TlogEntry
from assay.formats.checkpoint import parse_checkpoint
from assay.formats.rekor import EntryBody, SignedBy, Verifier, parse_body
from assay.formats.trustroot import LogAuthority, TrustedRoot
from assay.verify import merkle
from assay.verify.model import VerifiedTime, fail

PROMISE_KINDS = {("hashedrekord", "0.0.1"), ("dsse", "0.0.1"), ("intoto", "0.0.2")}


def log_for(entry: TlogEntry, trust: TrustedRoot) -> LogAuthority:
    """The trusted log an entry claims to come from."""
    log = trust.tlog(entry.log_id)
    if log is None:
        raise fail(
            "tlog", "tlog-unknown-log", f"log entry comes from log {entry.log_id.hex()[:16]}…, which is not trusted"
        )
    return log


def verify_log_signature(log: LogAuthority, signature: bytes, message: bytes) -> bool:
    """A log key's signature over a message (ECDSA with the curve's hash, or Ed25519)."""
    key = log.key
    if isinstance(key, ec.EllipticCurvePublicKey):
        return keys.verify_message_with(key, signature, message, ec.ECDSA(keys.hash_for(key)))
    return keys.verify_message(key, signature, message)


def verify_promise(entry: TlogEntry, log: LogAuthority) -> None:
    """The signed entry timestamp binds body, integrated time, log ID and index."""
    assert entry.inclusion_promise is not None
    payload = canonical.dumps(
        {
            "body": base64.b64encode(entry.canonicalized_body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        }
    )
    if not verify_log_signature(log, entry.inclusion_promise, payload):
        raise fail("time", "inclusion-promise-invalid", "the log's signed entry timestamp does not verify")


def promised_times(bundle: Bundle, trust: TrustedRoot) -> list[VerifiedTime]:
    """Integrated times bound by a verified signed entry timestamp (the time step's share of the log checks)."""
    times: list[VerifiedTime] = []
    for entry in bundle.tlog_entries:
        if entry.inclusion_promise is None or entry.integrated_time <= 0:
            continue
        if (entry.kind, entry.version) not in PROMISE_KINDS:
            raise fail(
                "time",
                "tlog-kind-unsupported",
                f"integrated time is not defined for {entry.kind} {entry.version} entries",
            )
        log = log_for(entry, trust)
        verify_promise(entry, log)
        times.append(
            VerifiedTime(
                "tlog", datetime.fromtimestamp(entry.integrated_time, tz=UTC), log.base_url or log.log_id.hex()
            )
        )
    return times


# Sharded Rekor v1 logs: an entry's logIndex counts across every shard the log has had, while its inclusion
# proof's logIndex is relative to the shard's own tree, which the (log-signed) checkpoint origin names. The two
# differ by the shard's start, a constant per shard; the log signs both sides (the promise covers the global index,
# the checkpoint the shard). Any other log, Rekor v2 and assay's own included, must use one index for both.
_PUBLIC_GOOD_REKOR_V1 = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
SHARD_STARTS: dict[tuple[str, str], int] = {
    (_PUBLIC_GOOD_REKOR_V1, "rekor.sigstore.dev - 2605736670972794746"): 4_163_431,
    (_PUBLIC_GOOD_REKOR_V1, "rekor.sigstore.dev - 1193050959916656506"): 121_904_262,
}


def _shard_start(entry: TlogEntry) -> int:
    proof = entry.inclusion_proof
    if proof is None or proof.checkpoint is None:
        return 0
    try:
        origin = parse_checkpoint(proof.checkpoint).origin
    except InputError:
        return 0  # the checkpoint step reports it; without a shard the indices must simply agree
    return SHARD_STARTS.get((entry.log_id.hex(), origin), 0)


def check_index_binding(entry: TlogEntry) -> None:
    """Where only the inclusion proof authenticates the entry's logIndex, it must be the leaf the proof proves.

    A Rekor v1 entry with a signed entry timestamp needs no more: the promise (verified before
    this step) signs the global ``logIndex`` and the proof the leaf, and a sharded or private
    Rekor's global and shard-local indices differ by an offset only the log knows. Without a
    promise (Rekor v2, or a v1 entry carrying only a proof) the indices must agree, plus the
    shard start on a sharded public-good shard.
    """
    proof = entry.inclusion_proof
    if proof is None or entry.inclusion_promise is not None:
        return  # the promise signs the index itself
    start = _shard_start(entry)
    if entry.log_index != start + proof.log_index:
        shard = f" (shard start {start})" if start else ""
        raise fail(
            "tlog",
            "tlog-index-mismatch",
            f"the log entry claims index {entry.log_index} but its inclusion proof is for index "
            f"{proof.log_index}{shard}",
        )


def verify_checkpoint(entry: TlogEntry, log: LogAuthority) -> None:
    """The checkpoint is signed by the log and commits to the proof's tree size and root."""
    proof = entry.inclusion_proof
    assert proof is not None
    if proof.checkpoint is None:
        raise fail("tlog", "checkpoint-missing", "the inclusion proof carries no checkpoint")
    try:
        cp = parse_checkpoint(proof.checkpoint)
    except InputError as exc:
        raise fail("tlog", "checkpoint-malformed", exc.message) from None
    hint = log.log_id[:4]
    candidates = [s for s in cp.signatures if s.key_hint == hint]
    if not candidates:
        raise fail("tlog", "checkpoint-signature-missing", "the checkpoint has no signature from the trusted log key")
    if not any(verify_log_signature(log, s.signature, cp.signed_text) for s in candidates):
        raise fail("tlog", "checkpoint-signature-invalid", "the checkpoint's log signature does not verify")
    if cp.size != proof.tree_size or cp.root_hash != proof.root_hash:
        raise fail(
            "tlog", "checkpoint-mismatch", "the checkpoint does not commit to the inclusion proof's tree size and root"
        )


def verify_inclusion(entry: TlogEntry) -> None:
    """The entry's leaf hashes up to the proof's root."""
    proof = entry.inclusion_proof
    assert proof is not None
    try:
        root = merkle.root_from_inclusion_proof(
            proof.log_index, proof.tree_size, merkle.leaf_hash(entry.canonicalized_body), proof.hashes
        )
    except merkle.ProofError as exc:
        raise fail("tlog", "inclusion-proof-invalid", str(exc)) from None
    if root != proof.root_hash:
        raise fail("tlog", "inclusion-proof-invalid", "the inclusion proof does not lead to the claimed root hash")


def _key_valid(entry: TlogEntry, log: LogAuthority, times: list[VerifiedTime]) -> None:
    if entry.integrated_time > 0:
        when = [datetime.fromtimestamp(entry.integrated_time, tz=UTC)]
    else:
        when = [t.time for t in times]
    for t in when:
        if not log.valid_for.contains(t):
            raise fail("tlog", "tlog-key-not-valid", f"the log key was not valid at {t.isoformat()}")


def check_body(body: EntryBody, bundle: Bundle, artifact_digest: tuple[str, bytes | None], verifier: Verifier) -> None:
    """The logged body commits to exactly this bundle's signature, verifier and content (``(algorithm, digest)``)."""

    def mismatch(what: str) -> None:
        raise fail("tlog", "tlog-body-mismatch", f"the log entry does not match the bundle: {what}")

    if bundle.message_signature is not None:
        if body.kind != "hashedrekord":
            mismatch(f"a message signature must be logged as hashedrekord, not {body.kind}")
        alg, digest = artifact_digest
        if body.digest_algorithm != alg:
            mismatch(f"digest algorithm (the signature is over {alg}, the entry holds {body.digest_algorithm})")
        if digest is not None and body.digest != digest:
            mismatch("artifact digest")
        if bundle.message_signature.digest is not None and body.digest != bundle.message_signature.digest:
            mismatch("message digest")
        if body.signatures != (SignedBy(bundle.message_signature.signature, verifier),):
            mismatch("signature or verifier")
        return
    env = bundle.dsse_envelope
    assert env is not None
    expected = {SignedBy(s.sig, verifier) for s in env.signatures}
    if body.kind == "hashedrekord":
        if len(env.signatures) != 1:
            mismatch("a hashedrekord DSSE entry needs exactly one envelope signature")
        if body.digest_algorithm is None or body.digest != hashlib.new(body.digest_algorithm, env.pae()).digest():
            mismatch("PAE digest")
        if set(body.signatures) != expected:
            mismatch("signature or verifier")
        return
    if body.payload_hash != hashlib.sha256(env.payload).digest():
        mismatch("payload hash")
    if body.kind == "intoto" and body.payload_type != env.payload_type:
        mismatch("payload type")
    if set(body.signatures) != expected or len(body.signatures) != len(env.signatures):
        mismatch("signatures")


def verify_entries(
    bundle: Bundle,
    trust: TrustedRoot,
    times: list[VerifiedTime],
    artifact_digest: tuple[str, bytes | None],
    verifier: Verifier,
) -> list[dict[str, object]]:
    """Verify every log entry; returns a summary of each."""
    out: list[dict[str, object]] = []
    for entry in bundle.tlog_entries:
        log = log_for(entry, trust)
        _key_valid(entry, log, times)
        if entry.inclusion_proof is None and entry.inclusion_promise is None:
            raise fail("tlog", "tlog-no-proof", "the log entry has neither an inclusion proof nor a promise")
        if entry.inclusion_promise is not None and entry.integrated_time <= 0:
            verify_promise(entry, log)  # promises with an integrated time were verified when establishing time
        check_index_binding(entry)
        if entry.inclusion_proof is not None:
            verify_inclusion(entry)
            verify_checkpoint(entry, log)
        elif (entry.kind, entry.version) == ("hashedrekord", "0.0.2"):
            raise fail("tlog", "inclusion-proof-missing", "Rekor v2 entries must carry an inclusion proof")
        try:
            body = parse_body(entry.canonicalized_body, entry.kind, entry.version)
        except InputError as exc:
            raise fail("tlog", exc.reason, exc.message) from None
        check_body(body, bundle, artifact_digest, verifier)
        out.append(
            {
                "logIndex": entry.log_index,
                "logID": entry.log_id.hex(),
                "kind": f"{entry.kind}/{entry.version}",
                "integratedTime": entry.integrated_time or None,
                "inclusionProof": entry.inclusion_proof is not None,
                "inclusionPromise": entry.inclusion_promise is not None,
            }
        )
    return out
