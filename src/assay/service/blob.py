"""Blob use cases: sign, attest, verify — files in, bundles out (and back)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.crypto import keys
from assay.crypto.digest import digest_file, parse_typed_digest_ref, sha256_file
from assay.errors import InputError
from assay.formats import intoto, pep740
from assay.formats.bundle import Bundle, parse_bundle
from assay.formats.encoding import load_json
from assay.formats.trustroot import TrustedRoot, parse_trusted_root
from assay.service import trust
from assay.service.credentials import Credentials
from assay.service.io import map_message, read_file, write_atomic
from assay.sign import blob as sign_blob_mod
from assay.verify import pipeline
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact, Result
from assay.verify.policy import Policy
from assay.verify.signature import digests_needed


@dataclass(frozen=True)
class LoadedArtifact:
    """An artifact argument resolved to its digests (and message, when loaded)."""

    digests: dict[str, bytes]
    message: Any = None
    name: str | None = None

    @property
    def sha256(self) -> bytes:
        """The SHA-256 digest; an artifact given as ``sha384:``/``sha512:HEX`` has none."""
        if "sha256" not in self.digests:
            raise InputError("artifact-digest-unavailable", "this needs the artifact's sha256 digest; give the file")
        return self.digests["sha256"]

    def as_artifact(self) -> Artifact:
        """The pipeline's view of the artifact."""
        return Artifact(self.digests.get("sha256"), self.message, self.name, dict(self.digests))


def load_artifact(target: str, *, need_message: bool, algorithms: Sequence[str] = ("sha256",)) -> LoadedArtifact:
    """Resolve ``FILE``, ``-`` or ``ALG:HEX``; hashes once in every algorithm, loads the bytes only when needed."""
    typed = parse_typed_digest_ref(target)
    if typed is not None:
        return LoadedArtifact({typed[0]: typed[1]}, None, None)
    name = Path(target).name if target != "-" else None
    if need_message:
        if target != "-":
            sha256_file(target)  # for clear errors on missing files and directories
        message = map_message(target)
        return LoadedArtifact({a: hashlib.new(a, message).digest() for a in dict.fromkeys(algorithms)}, message, name)
    return LoadedArtifact(digest_file(target, algorithms), None, name)


def default_bundle_path(target: str) -> str:
    """``FILE.sigstore.json``, the conventional bundle name next to an artifact."""
    if target == "-" or parse_typed_digest_ref(target) is not None:
        raise InputError("bundle-path-required", "pass --bundle when the artifact is stdin or a digest")
    return target + ".sigstore.json"


def sign_file(
    target: str,
    key: str | None,
    bundle_out: str | None,
    password_file: str | None,
    server: str | None = None,
    token: str | None = None,
    *,
    write_bundle: bool = True,
) -> tuple[Bundle, str]:
    """Sign a file (or stdin) with a key, a signer URI or an identity token; log it when a server is given; write the bundle."""
    creds = Credentials.resolve(key, token, server, password_file)
    art = load_artifact(target, need_message=creds.needs_message)
    bundle = creds.sign_digest(art.sha256, art.message)
    if not write_bundle:
        return bundle, ""
    out = bundle_out or default_bundle_path(target)
    write_atomic(out, bundle.to_bytes())
    return bundle, out


def attest_file(
    target: str,
    predicate_path: str,
    predicate_type: str,
    key: str | None,
    bundle_out: str | None,
    password_file: str | None,
    server: str | None = None,
    token: str | None = None,
) -> tuple[Bundle, str]:
    """Wrap a predicate about a file in an in-toto statement, sign it as DSSE, write the bundle."""
    ptype = intoto.predicate_type(predicate_type)
    predicate = load_json(read_file(predicate_path, "predicate file"), predicate_path)
    creds = Credentials.resolve(key, token, server, password_file)
    art = load_artifact(target, need_message=False)
    name = art.name or ("-" if target == "-" else target)
    bundle = creds.sign_statement(sign_blob_mod.make_statement(name, art.sha256, ptype, predicate))
    out = bundle_out or default_bundle_path(target)
    write_atomic(out, bundle.to_bytes())
    return bundle, out


def read_bundle(path: str) -> Bundle:
    """Read and parse a bundle file (a Sigstore bundle, or a PEP 740 attestation or one-attestation provenance)."""
    data = read_file(path, "bundle")
    if b'"envelope"' in data or b'"attestation_bundles"' in data:
        doc = load_json(data, "bundle")
        converted = pep740.bundles_in(doc)
        if converted is not None:
            if len(converted) != 1:
                raise InputError(
                    "bundle-ambiguous", f"{path} holds {len(converted)} attestations; use `assay attestation verify`"
                )
            return parse_bundle(converted[0])
        return parse_bundle(doc)
    if b'"base64Signature"' in data:
        from assay.formats import cosign

        doc = load_json(data, "bundle")
        if cosign.is_legacy_bundle(doc):
            return cosign.parse_legacy_bundle(doc)
    return parse_bundle(data)


def verify_file(
    target: str,
    bundle_path: str | None,
    key_path: str | None,
    *,
    identity: IdentityPolicy | None = None,
    trusted_root: str | None = None,
    server: str | None = None,
    require_tlog: bool = False,
    predicate_type: str | None = None,
    expect_statement: bool = False,
) -> Result:
    """Verify a file, stdin or digest against a bundle, with a managed key or an identity policy.

    With ``server``, the server's trusted root is used and a log entry is required.
    """
    bundle = read_bundle(bundle_path or default_bundle_path(target))
    key = keys.load_public(Path(key_path)) if key_path else None
    ptype = intoto.predicate_type(predicate_type) if predicate_type else None
    if server:
        from assay.clients.rekor import RekorClient

        if trusted_root:
            raise InputError("usage", "give --server or --trusted-root, not both")
        trust: TrustedRoot | None = parse_trusted_root(RekorClient(server).trusted_root())
        require_tlog = True
    else:
        trust = trust_for(bundle, trusted_root, require_tlog=require_tlog)
    signing_key = key
    if signing_key is None and bundle.certificates:
        signing_key = _certificate_key(bundle.certificates[0])
    need_message = bundle.message_signature is not None and signing_key is not None and keys.needs_message(signing_key)
    art = load_artifact(target, need_message=need_message, algorithms=digests_needed(bundle, signing_key))
    policy = Policy(
        key=key, identity=identity, require_tlog=require_tlog, predicate_type=ptype, expect_statement=expect_statement
    )
    return pipeline.verify(bundle, art.as_artifact(), policy, trust)


def _certificate_key(der: bytes) -> keys.PublicKey | None:
    from cryptography import x509

    try:
        return keys.supported_public(x509.load_der_x509_certificate(der).public_key(), "certificate")
    except (ValueError, InputError):
        return None  # the pipeline reports a malformed certificate with its own reason


def trust_for(bundle: Bundle, trusted_root: str | None, *, require_tlog: bool = False) -> TrustedRoot | None:
    """The trusted root to use: the given file, else the shipped root for the certificate's issuer when needed."""
    if trusted_root:
        return parse_trusted_root(read_file(trusted_root, "trusted root"))
    if pipeline.needs_trust_root(bundle) or require_tlog:
        return trust.shipped_root_for(bundle)
    return None


def public_good_root() -> TrustedRoot:
    """The Sigstore public-good trusted root shipped with assay (offline)."""
    return trust.public_good_root()
