"""Steps: the signature over the artifact or DSSE PAE, and in-toto subject matching."""

from __future__ import annotations

import hashlib

from assay.crypto import keys
from assay.errors import InputError
from assay.formats import intoto
from assay.formats.bundle import HASH_ALGORITHMS, Bundle
from assay.verify.model import Artifact, fail


def message_digest_algorithm(bundle: Bundle, key: keys.PublicKey, *, managed: bool) -> str:
    """The digest algorithm a message signature is over, checked against what the key's algorithm allows.

    The bundle's ``messageDigest`` names it; without one, the Sigstore algorithm
    registry's pairing for the key does (P-384 -> sha384, P-521 -> sha512).
    Managed keys may also sign SHA-256 digests, as cosign and assay do for
    every key type.
    """
    ms = bundle.message_signature
    assert ms is not None
    alg = HASH_ALGORITHMS[ms.digest_algorithm] if ms.digest_algorithm else keys.registry_digest(key)
    if alg not in keys.allowed_digests(key) and not (managed and alg == "sha256"):
        raise fail(
            "signature",
            "digest-algorithm-not-allowed",
            f"a {keys.key_type_name(key)} key signs {'/'.join(keys.allowed_digests(key))} digests, "
            f"but the bundle's signature is over {alg}",
        )
    return alg


def check_message_signature(bundle: Bundle, artifact: Artifact, key: keys.PublicKey, algorithm: str) -> str:
    """Verify a messageSignature over the artifact's ``algorithm`` digest; returns a description."""
    ms = bundle.message_signature
    assert ms is not None
    digest = artifact.digest(algorithm)
    if ms.digest is not None and digest is not None and ms.digest != digest:
        raise fail("signature", "artifact-digest-mismatch", "the bundle's message digest does not match the artifact")
    if keys.needs_message(key):
        if artifact.message is None:
            raise InputError(
                "digest-verification-unsupported",
                "Ed25519 signatures cover the whole artifact; verify the file, not its digest",
                step="signature",
            )
        ok = keys.verify_message(key, ms.signature, artifact.message)
    else:
        if digest is None:
            raise InputError(
                "artifact-digest-unavailable",
                f"the signature is over the artifact's {algorithm} digest; give the file or {algorithm}:HEX",
                step="signature",
            )
        ok = keys.verify_prehashed(key, ms.signature, digest, keys.hash_named(algorithm))
    if not ok:
        raise fail(
            "signature", "signature-mismatch", "the signature does not verify over the artifact with the signing key"
        )
    shown = digest.hex() if digest is not None else "(message)"
    return f"{keys.key_type_name(key)} signature over {algorithm}:{shown}"


def check_dsse_signature(bundle: Bundle, key: keys.PublicKey) -> str:
    """Verify that at least one DSSE signature covers the PAE under ``key``."""
    env = bundle.dsse_envelope
    assert env is not None
    pae = env.pae()
    # Over the PAE in each digest the key may sign, the registry's pairing first (P-384 keys of
    # sigstore-python and cosign sign SHA-256); P-256 and RSA have one, Ed25519 signs the PAE itself.
    digests = (
        []
        if keys.needs_message(key)
        else [(keys.hash_named(alg), hashlib.new(alg, pae).digest()) for alg in keys.allowed_digests(key)]
    )
    for s in env.signatures:
        if keys.needs_message(key):
            if keys.verify_message(key, s.sig, pae):
                break
        elif any(keys.verify_prehashed(key, s.sig, digest, alg) for alg, digest in digests):
            break
    else:
        raise fail(
            "signature", "signature-mismatch", "no DSSE signature verifies over the envelope with the signing key"
        )
    return f"{keys.key_type_name(key)} DSSE signature over {env.payload_type}"


SUBJECT_ALGORITHMS = ("sha256", "sha384", "sha512")


def subject_algorithms(statement: intoto.Statement) -> list[str]:
    """The digest algorithms named by the statement's subjects that assay can compute."""
    named = {alg.lower() for s in statement.subjects for alg in s.digest}
    return [a for a in SUBJECT_ALGORITHMS if a in named]


def match_subject(statement: intoto.Statement, artifact: Artifact) -> str:
    """The algorithm in which some subject's digest equals the artifact's; raises when none does."""
    algs = subject_algorithms(statement)
    if not algs:
        named = sorted({alg for s in statement.subjects for alg in s.digest})
        raise fail(
            "subject",
            "subject-digest-unsupported",
            f"the statement's subjects name only digest algorithms assay cannot compute: {', '.join(named) or 'none'}",
        )
    computed = {a: d.hex() for a in algs if (d := artifact.digest(a)) is not None}
    if not computed:
        raise fail(
            "subject",
            "subject-digest-unavailable",
            f"the statement's subjects name {'/'.join(algs)} digests, but only "
            f"{'/'.join(artifact.known()) or 'no'} digest of the artifact is known; give the file",
        )
    for s in statement.subjects:
        lowered = {k.lower(): v.lower() for k, v in s.digest.items()}
        for alg, hexdigest in computed.items():
            if lowered.get(alg) == hexdigest:
                return alg
    shown = ", ".join(f"{a}:{h}" for a, h in computed.items())
    raise fail("subject", "subject-digest-mismatch", f"no statement subject has {shown}")


def check_statement(
    bundle: Bundle, artifact: Artifact | None, predicate_type: str | None
) -> tuple[intoto.Statement, str | None]:
    """Parse the in-toto statement, match a subject to the artifact and check the predicate type.

    Returns the statement and the algorithm the subject matched in (None without an artifact).
    """
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
    matched = match_subject(statement, artifact) if artifact is not None else None
    if predicate_type is not None and statement.predicate_type != predicate_type:
        raise fail(
            "subject",
            "predicate-type-mismatch",
            f"expected predicate type {predicate_type}, found {statement.predicate_type}",
        )
    return statement, matched


def digests_needed(bundle: Bundle, key: keys.PublicKey | None) -> list[str]:
    """The artifact digests verification will compare, so a caller hashes the artifact once in all of them."""
    ms = bundle.message_signature
    if ms is not None:
        if ms.digest_algorithm in HASH_ALGORITHMS:
            return [HASH_ALGORITHMS[ms.digest_algorithm]]
        return [keys.registry_digest(key) if key is not None else "sha256"]
    env = bundle.dsse_envelope
    try:
        statement = intoto.parse_statement(env.payload) if env is not None else None
    except Exception:  # the pipeline reports a malformed statement with its reason
        statement = None
    return (subject_algorithms(statement) if statement is not None else []) or ["sha256"]
