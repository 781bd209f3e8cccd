"""Storing and finding Sigstore bundles as OCI 1.1 referrers (with the tag-schema fallback)."""

from __future__ import annotations

import json
from typing import Any

from assay.errors import AssayError, VerificationError
from assay.oci.registry import sha256_digest
from assay.oci.store import OCI_INDEX, OCI_MANIFEST, Store

BUNDLE_ARTIFACT_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"


def fallback_tag(digest: str) -> str:
    """The referrers tag schema: ``sha256-<hex>``."""
    alg, _, hexpart = digest.partition(":")
    return f"{alg}-{hexpart}"


def _descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data), **extra}


def attach_bundle(
    reg: Store, repo: str, subject: dict[str, Any], bundle: bytes, annotations: dict[str, str] | None = None
) -> str:
    """Push ``bundle`` as an artifact manifest referring to ``subject``; returns the artifact's digest."""
    reg.push_blob(repo, EMPTY_BLOB)
    reg.push_blob(repo, bundle)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_ARTIFACT_TYPE,
        "config": _descriptor(EMPTY_MEDIA_TYPE, EMPTY_BLOB),
        "layers": [_descriptor(BUNDLE_ARTIFACT_TYPE, bundle)],
        "subject": subject,
    }
    if annotations:
        manifest["annotations"] = annotations
    data = json.dumps(manifest, separators=(",", ":")).encode()
    digest = sha256_digest(data)
    if reg.put_manifest(repo, digest, data, OCI_MANIFEST) != subject["digest"]:
        update_fallback_index(
            reg,
            repo,
            subject["digest"],
            _descriptor(
                OCI_MANIFEST,
                data,
                artifactType=BUNDLE_ARTIFACT_TYPE,
                **({"annotations": annotations} if annotations else {}),
            ),
        )
    return digest


def update_fallback_index(reg: Store, repo: str, subject_digest: str, descriptor: dict[str, Any]) -> None:
    """Add a descriptor to the ``sha256-<hex>`` index (the distribution spec's fallback)."""
    tag = fallback_tag(subject_digest)
    try:
        data, _, _ = reg.get_manifest(repo, tag)
        index = json.loads(data)
    except AssayError as exc:
        if exc.reason != "image-not-found":
            raise
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if not any(m.get("digest") == descriptor["digest"] for m in index.get("manifests", [])):
        index.setdefault("manifests", []).append(descriptor)
    reg.put_manifest(repo, tag, json.dumps(index, separators=(",", ":")).encode(), OCI_INDEX)


def referrer_descriptors(
    reg: Store, repo: str, subject_digest: str, tags: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Descriptors of everything referring to ``subject_digest`` (referrers API, else the fallback index).

    ``tags``: the repository's tags, when the caller has just listed them; a fallback tag not among them is not
    fetched (nothing attached that way)."""
    descriptors = reg.referrers(repo, subject_digest)
    if descriptors is not None:
        return descriptors
    if tags is not None and fallback_tag(subject_digest) not in tags:
        return []
    try:
        data, _, _ = reg.get_manifest(repo, fallback_tag(subject_digest))
    except AssayError as exc:
        if exc.reason != "image-not-found":
            raise
        return []  # no fallback index: nothing attached
    manifests = json.loads(data).get("manifests", [])
    return [m for m in manifests if isinstance(m, dict) and isinstance(m.get("digest"), str)]


def find_bundles(
    reg: Store, repo: str, subject_digest: str, tags: frozenset[str] | None = None
) -> tuple[list[bytes], list[AssayError]]:
    """Every Sigstore bundle attached to ``subject_digest``, and the referrers refused on the way
    (a manifest whose ``subject`` is another image)."""
    descriptors = [
        d
        for d in referrer_descriptors(reg, repo, subject_digest, tags)
        if d.get("artifactType") == BUNDLE_ARTIFACT_TYPE
    ]
    bundles: list[bytes] = []
    rejected: list[AssayError] = []
    for d in descriptors:
        manifest_bytes, _, _ = reg.get_manifest(repo, d["digest"])
        manifest = json.loads(manifest_bytes)
        subject = (manifest.get("subject") or {}).get("digest")
        if subject != subject_digest:
            rejected.append(
                VerificationError(
                    "referrer-subject-mismatch",
                    f"referrer {d['digest']} is listed for {subject_digest} but its subject is {subject}",
                    step="material",
                )
            )
            continue
        for layer in manifest.get("layers", []):
            if layer.get("mediaType") == BUNDLE_ARTIFACT_TYPE:
                bundles.append(reg.get_blob(repo, layer["digest"], limit=4 * 1024 * 1024))
    return bundles, rejected
