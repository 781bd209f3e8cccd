"""Provenance and VSA use cases: generate provenance here, verify it like slsa-verifier, sign summaries."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.attest import provenance, vsa
from assay.errors import AssayError, InputError, VerificationError
from assay.formats import intoto
from assay.oci.reference import is_image_argument
from assay.verify.identity import IdentityPolicy, ci_identity
from assay.verify.model import Result


def subject_digest(target: str, auth: Any = None) -> tuple[str, str]:
    """(name, sha256 hex) of a file or an image."""
    if is_image_argument(target):
        from assay.oci.target import open_target

        t = open_target(target, auth)
        digest, _, _ = t.resolve()
        return t.name, digest.split(":", 1)[1]
    from assay.crypto.digest import sha256_file

    return Path(target).name, sha256_file(target).hex()


def materials(specs: list[str], lockfiles: list[str]) -> list[dict[str, Any]]:
    """``URI=ALG:VALUE`` or ``FILE`` (sha256 computed) materials, plus pinned packages of lock files."""
    from assay.crypto.digest import sha256_file

    out: list[dict[str, Any]] = []
    for spec in specs:
        uri, sep, digest = spec.rpartition("=")
        if sep and ":" in digest:
            alg, _, value = digest.partition(":")
            out.append({"uri": uri, "digest": {alg: value}})
        elif Path(spec).is_file():
            out.append({"uri": Path(spec).name, "digest": {"sha256": sha256_file(spec).hex()}})
        else:
            raise InputError("material-malformed", f"--material {spec!r}: expected FILE or URI=ALGORITHM:VALUE")
    for lock in lockfiles:
        from assay.sbom.catalog import catalog_all
        from assay.sbom.source import DirTree

        if not Path(lock).is_file():
            raise InputError("file-not-found", f"{lock}: no such lock file")
        comps = catalog_all(DirTree(Path(lock)))
        if not comps:
            raise InputError("lockfile-unrecognised", f"{lock}: no pinned packages found (unknown lock file format?)")
        for c in comps:
            item: dict[str, Any] = {"uri": c.purl, "name": c.name}
            if c.hashes.get("sha256"):
                item["digest"] = {"sha256": c.hashes["sha256"]}
            out.append(item)
    return out


def generate(
    subjects: list[str],
    *,
    builder_id: str | None,
    source_uri: str | None,
    source_digest: str | None,
    material_specs: list[str],
    lockfiles: list[str],
    started_on: str | None,
    auth: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(predicate, statement) for the current environment."""
    import json

    predicate = provenance.generate(
        os.environ,
        builder_id=builder_id,
        source_uri=source_uri,
        source_digest=source_digest,
        materials=materials(material_specs, lockfiles),
        started_on=started_on or os.environ.get("ASSAY_BUILD_STARTED_ON"),
    )
    subs = [subject_digest(s, auth) for s in subjects]
    if not subs:
        raise InputError("usage", "give at least one --subject FILE|IMAGE")
    statement = intoto.Statement(
        tuple(intoto.Subject(name, {"sha256": hexd}) for name, hexd in subs), provenance.PREDICATE_TYPE, predicate
    )
    return predicate, json.loads(statement.to_json_bytes())


@dataclass(frozen=True)
class Verified:
    """A verification's result plus what a VSA needs: the resource, its digest, the input attestations."""

    result: Result
    resource: str
    sha256: str
    inputs: list[tuple[str, bytes]]


def verify_attestation_of(
    target: str,
    *,
    bundle: str | None,
    key: str | None,
    identity: IdentityPolicy | None,
    trusted_root: str | None,
    server: str | None,
    predicate_type: str,
    auth: Any = None,
) -> Verified:
    """Verify an attestation of ``predicate_type`` about a blob (bundle file) or an image (attached)."""
    if is_image_argument(target):
        from assay.oci.target import open_target
        from assay.service.image import ImageVerifier

        t = open_target(target, auth)
        digest, _, _ = t.resolve()
        verifier = ImageVerifier(key, identity, trusted_root, server)
        result = verifier.verify_stored(t.store, t.repository, digest, t.pinned(digest), predicate_type)
        return Verified(result, t.pinned(digest), digest.split(":", 1)[1], [(t.pinned(digest), digest.encode())])
    from assay.service import blob
    from assay.service.io import read_file

    bundle_path = bundle or blob.default_bundle_path(target)
    result = blob.verify_file(
        target, bundle_path, key, identity=identity, trusted_root=trusted_root, server=server,
        predicate_type=predicate_type, expect_statement=True,
    )  # fmt: skip
    name, hexd = subject_digest(target)
    return Verified(result, name, hexd, [(bundle_path, read_file(bundle_path, "bundle"))])


def verify_provenance(
    target: str,
    expect: provenance.Expectations,
    *,
    bundle: str | None,
    key: str | None,
    identity: IdentityPolicy | None,
    trusted_root: str | None,
    server: str | None,
    auth: Any = None,
) -> Verified:
    """Signature and identity, subject digest and predicate type, then builder, source and ref."""
    if key is None and identity is None:
        identity = default_identity(expect)
    if identity is not None and key is None:
        extensions = dict(identity.extensions)
        extensions.setdefault("sourceRepositoryURI", expect.repository)
        if expect.ref:
            extensions.setdefault("sourceRepositoryRef", expect.ref)
        identity = IdentityPolicy(
            identity.identity,
            identity.identity_regexp,
            identity.issuer,
            identity.issuer_regexp,
            tuple(extensions.items()),
        )
    v = verify_attestation_of(
        target, bundle=bundle, key=key, identity=identity, trusted_root=trusted_root, server=server,
        predicate_type=provenance.PREDICATE_TYPE, auth=auth,
    )  # fmt: skip
    checked = provenance.check(
        v.result.statement["predicateType"] if v.result.statement else "",
        v.result.predicate,
        expect,
        {k: str(x) for k, x in v.result.claims.items()},
    )
    v.result.record("provenance", "; ".join(checked))
    return v


def default_identity(expect: provenance.Expectations) -> IdentityPolicy:
    """Without identity flags: the CI identity of the source repository (GitHub or GitLab hosted)."""
    return ci_identity(expect.repository)


def write_vsa(
    inputs: list[tuple[str, bytes]],
    passed: bool,
    *,
    resource: str,
    sha256: str,
    policy_uri: str,
    policy_bytes: bytes,
    levels: list[str],
    key: str,
    password_file: str | None,
    out: str,
) -> None:
    """Sign a VSA (PASSED or FAILED) about the resource and write it as a bundle."""
    from assay import __version__
    from assay.service.credentials import Credentials
    from assay.service.io import write_atomic
    from assay.sign import blob as sign_blob_mod

    summary = vsa.Summary(
        resource_uri=resource,
        policy_uri=policy_uri,
        policy_bytes=policy_bytes,
        inputs=inputs,
        passed=passed,
        levels=levels,
    )
    pred = vsa.predicate(summary, __version__)
    creds = Credentials.resolve(key, None, None, password_file, ambient=False)
    statement = sign_blob_mod.make_statement(resource, bytes.fromhex(sha256), vsa.PREDICATE_TYPE, pred)
    write_atomic(out, creds.sign_statement(statement).to_bytes())


def digest_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = ["VerificationError", "Verified", "generate", "verify_attestation_of", "verify_provenance", "write_vsa"]


@dataclass(frozen=True)
class VsaRequest:
    """Where and how to write a verification summary for one target."""

    target: str
    bundle: str | None
    flags: dict[str, Any]
    out: str
    key: str
    password_file: str | None
    auth: Any = None


def verify_with_vsa(run: Any, req: VsaRequest, written: Any) -> Any:
    """Run a verification and write a signed VSA, PASSED or FAILED, before reporting its outcome.
    Bad input (exit 2) is not a verification: nothing is written and the error propagates."""
    name, sha = subject_digest(req.target, req.auth)
    failure: AssayError | None = None
    result: Any = None
    try:
        result = run()
    except AssayError as exc:
        if exc.exit_code != 1:
            raise
        failure = exc
    verified = result if isinstance(result, Verified) else None
    if verified is None and req.bundle is not None and Path(req.bundle).is_file():
        verified = Verified(result, name, sha, [(req.bundle, Path(req.bundle).read_bytes())])
    claims = verified.result.claims if verified and verified.result else {}
    levels = vsa.build_level(claims, failure is None and req.flags.get("kind") == "provenance")
    write_vsa(
        verified.inputs if verified else [], failure is None, resource=verified.resource if verified else name,
        sha256=sha, policy_uri="assay:cli-flags", policy_bytes=vsa.flags_policy(req.flags), levels=levels,
        key=req.key, password_file=req.password_file, out=req.out,
    )  # fmt: skip
    written(failure is None)
    if failure is not None:
        raise failure
    return verified.result if verified is not None else result
