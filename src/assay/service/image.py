"""Image use cases: sign and verify images in an OCI registry (bundles stored as referrers)."""

from __future__ import annotations

import base64
import sys
from typing import Any

from assay.crypto import keys
from assay.crypto import signer as signers
from assay.errors import AssayError, VerificationError
from assay.formats.bundle import Bundle, parse_bundle
from assay.oci import reference as refs
from assay.oci.referrers import attach_bundle, find_bundles
from assay.oci.registry import Registry
from assay.verify import pipeline
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact, Result
from assay.verify.policy import Policy


def _registry(ref: refs.Reference, insecure: bool, username: str | None, password_: str | None) -> Registry:
    return Registry(ref.registry, insecure=insecure, username=username, password=password_)


def sign_image(
    image: str,
    *,
    key: str | None,
    token: str | None,
    server: str | None,
    password_file: str | None = None,
    insecure: bool = False,
    username: str | None = None,
    registry_password: str | None = None,
    predicate: Any = None,
    predicate_type: str | None = None,
) -> dict[str, Any]:
    """Resolve the image to a digest and sign it — the manifest digest, or (with a predicate)
    an in-toto statement about it — then attach the bundle as a referrer."""
    from assay.formats import intoto
    from assay.service.blob import Credentials
    from assay.sign import blob as sign_blob_mod

    ref = refs.parse(image)
    reg = _registry(ref, insecure, username, registry_password)
    digest, media_type, size = reg.resolve(ref.repository, ref.digest or ref.tag or "latest")
    if ref.digest is None:
        sys.stderr.write(f"warning: {image} is a mutable tag; signing its current digest {digest}\n")
    raw = bytes.fromhex(digest.split(":", 1)[1])
    creds = Credentials.resolve(key, token, server, password_file)
    annotations = None
    if predicate_type is not None:
        ptype = intoto.predicate_type(predicate_type)
        bundle = creds.sign_statement(sign_blob_mod.make_statement(ref.name, raw, ptype, predicate))
        annotations = {"dev.sigstore.bundle.predicateType": ptype}
    else:
        bundle = creds.sign_digest(raw)
        if creds.signer is not None:
            _write_cosign_layout(reg, ref, digest, creds.signer, server)
    subject = {"mediaType": media_type, "digest": digest, "size": size}
    artifact = attach_bundle(reg, ref.repository, subject, bundle.to_bytes(), annotations)
    return {"image": str(ref.with_digest(digest)), "digest": digest, "referrer": artifact}


def _write_cosign_layout(
    reg: Registry, ref: refs.Reference, digest: str, signer: signers.Signer, server: str | None
) -> None:
    """Also store the signature the way cosign does (``sha256-<hex>.sig``), so cosign users find it."""
    import hashlib

    from assay.log.entries import hashedrekord_proposal
    from assay.oci import cosign

    body = cosign.payload(ref.name, digest)
    signature = signer.sign_message(body)
    annotations = {cosign.SIGNATURE: base64.b64encode(signature).decode()}
    if server:
        from assay.clients.rekor import RekorClient

        pem = keys.public_pem(signer.public_key)
        entry = RekorClient(server).create_entry(hashedrekord_proposal(signature, hashlib.sha256(body).digest(), pem))
        annotations[cosign.REKOR_BUNDLE] = cosign.rekor_annotation(entry)
    cosign.attach(reg, ref.repository, digest, body, annotations)


def _candidates(reg: Registry, repo: str, digest: str) -> list[tuple[bytes | Bundle, Artifact]]:
    """Every attached signature: referrer bundles (artifact = manifest digest) and cosign layers (artifact = payload)."""
    import hashlib

    from assay.oci import cosign

    image_artifact = Artifact(bytes.fromhex(digest.split(":", 1)[1]))
    out: list[tuple[bytes | Bundle, Artifact]] = [(raw, image_artifact) for raw in find_bundles(reg, repo, digest)]
    for body, layer_annotations in cosign.find(reg, repo, digest):
        claimed = cosign.claimed_digest(body)
        if claimed is None or claimed.lower() != digest:
            continue  # a payload about another image never counts for this one
        try:
            out.append((cosign.to_bundle(body, layer_annotations), Artifact(hashlib.sha256(body).digest(), body)))
        except AssayError:
            continue
    return out


def verify_image(
    image: str,
    *,
    key_path: str | None,
    identity: IdentityPolicy | None,
    trusted_root: str | None,
    server: str | None,
    insecure: bool = False,
    username: str | None = None,
    registry_password: str | None = None,
    predicate_type: str | None = None,
) -> Result:
    """Verify that at least one attached bundle signs the image's manifest digest under the policy.

    Without ``predicate_type`` only message signatures count (image signatures); with
    it, only DSSE attestations whose statement names the image digest and that type.
    """
    from pathlib import Path

    from assay.clients.rekor import RekorClient
    from assay.formats.trustroot import parse_trusted_root
    from assay.service.blob import trust_for

    ref = refs.parse(image)
    reg = _registry(ref, insecure, username, registry_password)
    digest, _, _ = reg.resolve(ref.repository, ref.digest or ref.tag or "latest")
    found = _candidates(reg, ref.repository, digest)
    if not found:
        raise VerificationError(
            "no-signatures", f"no Sigstore bundle is attached to {ref.name}@{digest}", step="material"
        )
    key = keys.load_public(Path(key_path)) if key_path else None
    errors: list[AssayError] = []
    from assay.formats import intoto

    ptype = intoto.predicate_type(predicate_type) if predicate_type else None
    for raw, artifact in found:
        try:
            bundle = raw if isinstance(raw, Bundle) else parse_bundle(raw)
            if (bundle.dsse_envelope is not None) != (ptype is not None):
                continue  # signatures and attestations are verified by different commands
            trust = (
                parse_trusted_root(RekorClient(server).trusted_root()) if server else trust_for(bundle, trusted_root)
            )
            policy = Policy(
                key=key,
                identity=identity,
                require_tlog=bool(server),
                predicate_type=ptype,
                expect_statement=ptype is not None,
            )
            result = pipeline.verify(bundle, artifact, policy, trust)
            result.notes.append(f"verified {ref.name}@{digest} ({len(found)} bundle(s) attached)")
            return result
        except AssayError as exc:
            errors.append(exc)
    if not errors:
        kind = f"attestation of type {ptype}" if ptype else "signature"
        raise VerificationError("no-signatures", f"no {kind} is attached to {ref.name}@{digest}", step="material")
    first = errors[0]
    raise VerificationError(
        first.reason, f"none of the {len(found)} attached bundle(s) verifies; first: {first.message}", step=first.step
    )


def tree(
    image: str, *, insecure: bool = False, username: str | None = None, registry_password: str | None = None
) -> dict[str, Any]:
    """Everything attached to an image: each bundle's kind, signer and (for attestations) predicate type."""
    from assay.formats.intoto import parse_statement

    ref = refs.parse(image)
    reg = _registry(ref, insecure, username, registry_password)
    digest, media_type, _ = reg.resolve(ref.repository, ref.digest or ref.tag or "latest")
    items = []
    for raw in find_bundles(reg, ref.repository, digest):
        try:
            b = parse_bundle(raw)
        except AssayError as exc:
            items.append({"kind": "unreadable", "reason": exc.reason})
            continue
        item: dict[str, Any] = {
            "kind": "attestation" if b.dsse_envelope else "signature",
            "signer": "certificate" if b.certificates else "key",
        }
        if b.dsse_envelope is not None:
            try:
                item["predicateType"] = parse_statement(b.dsse_envelope.payload).predicate_type
            except AssayError:
                item["predicateType"] = None
        item["tlogEntries"] = len(b.tlog_entries)
        items.append(item)
    return {"image": str(ref.with_digest(digest)), "mediaType": media_type, "attached": items}
