"""Step 2: establish verified signing times: RFC 3161 timestamps here, Rekor v1 integrated times from the log step."""

from __future__ import annotations

from datetime import UTC

from assay.formats.bundle import Bundle
from assay.formats.trustroot import TrustedRoot
from assay.verify import rfc3161
from assay.verify.memo import Memo, memo
from assay.verify.model import VerifiedTime, fail
from assay.verify.tlog import promised_times

MAX_TIMESTAMPS = 32


def bundle_signature(bundle: Bundle) -> bytes:
    """The signature bytes timestamps are computed over."""
    if bundle.message_signature is not None:
        return bundle.message_signature.signature
    assert bundle.dsse_envelope is not None
    return bundle.dsse_envelope.signatures[0].sig


_STAMPS: Memo[tuple[bytes, bytes, int], VerifiedTime] = memo()


def _verify_tsr(stamp: bytes, message: bytes, trust: TrustedRoot) -> VerifiedTime:
    """Verify one RFC 3161 timestamp over ``message`` against the trusted TSAs (memoised on success)."""
    key = (stamp, message, id(trust))
    hit = _STAMPS.get(key)
    if hit is None:
        hit = _verify_tsr_uncached(stamp, message, trust)
        _STAMPS.put(key, trust, hit)
    return hit


def _verify_tsr_uncached(stamp: bytes, message: bytes, trust: TrustedRoot) -> VerifiedTime:
    try:
        token = rfc3161.parse(stamp)
    except rfc3161.TokenMalformed:
        raise fail("time", "timestamp-malformed", "an RFC 3161 timestamp in the bundle cannot be decoded") from None
    problems = []
    when = token.gen_time.astimezone(UTC) if token.gen_time.tzinfo else token.gen_time.replace(tzinfo=UTC)
    for tsa in trust.timestamp_authorities:
        try:
            rfc3161.verify_token(token, tsa.chain)
        except rfc3161.TokenError as exc:
            problems.append(str(exc))
            continue
        if not rfc3161.imprint_matches(token, message):
            raise fail(
                "time", "timestamp-message-mismatch", "an RFC 3161 timestamp does not cover this bundle's signature"
            )
        if not tsa.valid_for.contains(when):
            problems.append("timestamp outside the TSA's validity window")
            continue
        return VerifiedTime("tsa", when, tsa.uri or tsa.chain[0].subject.rfc4514_string())
    raise fail(
        "time",
        "timestamp-untrusted",
        "an RFC 3161 timestamp is not signed by a trusted TSA: " + "; ".join(problems[:3]),
    )


def establish(bundle: Bundle, trust: TrustedRoot) -> list[VerifiedTime]:
    """Every verified time the bundle carries; any timestamp or promise that fails to verify rejects the bundle."""
    times: list[VerifiedTime] = []
    stamps = bundle.rfc3161_timestamps
    if stamps:
        if not trust.timestamp_authorities:
            raise fail(
                "time", "no-trusted-tsa", "the bundle carries RFC 3161 timestamps but the trusted root names no TSA"
            )
        if len(stamps) > MAX_TIMESTAMPS:
            raise fail("time", "too-many-timestamps", f"the bundle carries more than {MAX_TIMESTAMPS} timestamps")
        if len(set(stamps)) != len(stamps):
            raise fail("time", "duplicate-timestamps", "the bundle carries the same timestamp twice")
        message = bundle_signature(bundle)
        times.extend(_verify_tsr(s, message, trust) for s in stamps)
    times.extend(promised_times(bundle, trust))
    return times
