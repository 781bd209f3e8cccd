"""cosign's detached blob signatures (``--output-signature``/``--output-certificate``) written and verified.

Verification turns the detached files into a bundle and hands it to the one pipeline: the log entry for the
signature is found by searching the log for the artifact's digest and picking the entry whose body carries this
signature; with ``--insecure-ignore-tlog`` (stated explicitly) a key-based signature is checked with no entry.
"""

from __future__ import annotations

import base64
from pathlib import Path

from assay.crypto import keys
from assay.errors import InputError, VerificationError
from assay.formats import cosign, safejson
from assay.formats.bundle import Bundle, TlogEntry
from assay.formats.trustroot import TrustedRoot, parse_trusted_root
from assay.service.blob import load_artifact, public_good_root
from assay.service.io import read_file, write_atomic
from assay.verify import pipeline
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Result
from assay.verify.policy import Policy


def write_outputs(bundle: Bundle, signature_out: str | None, certificate_out: str | None) -> list[str]:
    """Write the ``.sig`` (base64) and ``.pem`` (base64 PEM) files cosign would; returns what was written."""
    written: list[str] = []
    if signature_out:
        if bundle.message_signature is None:
            raise InputError("usage", "--output-signature needs a message signature (sign-blob)")
        write_atomic(signature_out, cosign.encode_signature(bundle.message_signature.signature))
        written.append(signature_out)
    if certificate_out:
        if not bundle.certificates:
            raise InputError("usage", "--output-certificate needs keyless signing (there is no certificate)")
        write_atomic(certificate_out, cosign.encode_certificate(bundle.certificates[0]))
        written.append(certificate_out)
    return written


def _signed_by(entry: TlogEntry, signature: bytes) -> bool:
    """True when a hashedrekord body carries exactly this signature."""
    if entry.kind != "hashedrekord":
        return False
    try:
        body = safejson.load_object(entry.canonicalized_body, what="log entry body")
        return bool(base64.b64decode(body["spec"]["signature"]["content"]) == signature)
    except (InputError, KeyError, TypeError, ValueError):
        return False


def find_entry(server: str, digest: bytes, signature: bytes) -> TlogEntry:
    """The log's entry for this signature over this digest."""
    from assay.clients.rekor import RekorClient

    for entry in RekorClient(server).search_hash(digest.hex()):
        if _signed_by(entry, signature):
            return entry
    raise VerificationError(
        "tlog-entry-not-found",
        f"the log at {server} has no entry for this signature over sha256:{digest.hex()}",
        step="tlog",
    )


def _entry_certificate(entry: TlogEntry) -> bytes:
    """The signing certificate a hashedrekord entry recorded (its ``publicKey.content``, base64 PEM)."""
    body = safejson.load_object(entry.canonicalized_body, what="log entry body")
    try:
        content = body["spec"]["signature"]["publicKey"]["content"]
    except (KeyError, TypeError):
        raise VerificationError("tlog-body-mismatch", "the log entry records no public key", step="tlog") from None
    pem = base64.b64decode(content)
    if b"BEGIN CERTIFICATE" not in pem:
        raise VerificationError(
            "certificate-required",
            "the log entry records a public key, not a certificate: give --key for a key-based signature",
            step="material",
        )
    return cosign.decode_certificate(pem, "certificate in the log entry")


def _chain_in_root(chain: list[bytes], trust: TrustedRoot) -> None:
    """--certificate-chain names the CA chain; assay trusts only the trusted root's, so each must be one of them."""
    from cryptography.hazmat.primitives.serialization import Encoding

    known = {c.public_bytes(Encoding.DER) for ca in trust.certificate_authorities for c in ca.chain}
    for der in chain:
        if der not in known:
            raise VerificationError(
                "certificate-chain-untrusted",
                "a certificate in --certificate-chain is not a CA certificate of the trusted root",
                step="certificate-chain",
            )


def verify_detached(
    target: str,
    signature_path: str,
    *,
    certificate_path: str | None,
    chain_path: str | None,
    key_path: str | None,
    identity: IdentityPolicy | None,
    trusted_root: str | None,
    server: str | None,
    ignore_tlog: bool,
) -> Result:
    """Verify a file against a detached signature (and certificate): the same pipeline as bundles."""
    signature = cosign.decode_signature(read_file(signature_path, "signature file"))
    cert = cosign.decode_certificate(read_file(certificate_path, "certificate file")) if certificate_path else None
    key = keys.load_public(Path(key_path)) if key_path else None
    if cert is not None and key is not None:
        raise InputError("usage", "give --key (key-based) or --certificate (keyless) with --signature, not both")
    keyless = key is None
    if server and trusted_root:
        raise InputError("usage", "give --server/--rekor-url or --trusted-root, not both")
    if keyless and ignore_tlog:
        raise InputError(
            "tlog-required",
            "a keyless signature's certificate lives minutes; only its log entry proves when it signed, so "
            "--insecure-ignore-tlog is accepted for key-based signatures only",
        )
    if not ignore_tlog and not server:
        raise InputError(
            "tlog-source-required", "give --server (or --rekor-url) to find the log entry, or --insecure-ignore-tlog"
        )
    art = load_artifact(target, need_message=key is not None and keys.needs_message(key))
    trust: TrustedRoot | None
    if server:
        from assay.clients.rekor import RekorClient

        trust = parse_trusted_root(RekorClient(server).trusted_root())
    elif trusted_root:
        trust = parse_trusted_root(read_file(trusted_root, "trusted root"))
    else:
        trust = public_good_root() if keyless else None
    if chain_path:
        if trust is None:
            raise InputError("usage", "--certificate-chain goes with a keyless --certificate")
        _chain_in_root(cosign.decode_certificates(read_file(chain_path, "certificate chain")), trust)
    entry = None if ignore_tlog else find_entry(server or "", art.sha256, signature)
    if keyless and cert is None:
        assert entry is not None
        cert = _entry_certificate(entry)  # as cosign: the certificate the log recorded with this signature
    bundle = cosign.detached_bundle(signature, art.sha256, cert, entry)
    policy = Policy(key=key, identity=identity, require_tlog=not ignore_tlog)
    return pipeline.verify(bundle, art.as_artifact(), policy, trust)
