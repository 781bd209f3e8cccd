"""Storing and finding Sigstore bundles as OCI 1.1 referrers (with the tag-schema fallback)."""

from __future__ import annotations

import json
from typing import Any

from assay.oci.registry import OCI_INDEX, OCI_MANIFEST, Registry, sha256_digest

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
    reg: Registry, repo: str, subject: dict[str, Any], bundle: bytes, annotations: dict[str, str] | None = None
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
    resp = reg.put_manifest(repo, digest, data, OCI_MANIFEST)
    if resp.headers.get("OCI-Subject") != subject["digest"]:
        _update_fallback_index(
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


def _update_fallback_index(reg: Registry, repo: str, subject_digest: str, descriptor: dict[str, Any]) -> None:
    """Add a descriptor to the ``sha256-<hex>`` index (the distribution spec's fallback)."""
    tag = fallback_tag(subject_digest)
    try:
        data, _, _ = reg.get_manifest(repo, tag)
        index = json.loads(data)
    except Exception:  # no index yet (404) — start one
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if not any(m.get("digest") == descriptor["digest"] for m in index.get("manifests", [])):
        index.setdefault("manifests", []).append(descriptor)
    reg.put_manifest(repo, tag, json.dumps(index, separators=(",", ":")).encode(), OCI_INDEX)


def find_bundles(reg: Registry, repo: str, subject_digest: str) -> list[bytes]:
    """Every Sigstore bundle attached to ``subject_digest`` (referrers API, else the fallback tag)."""
    descriptors = reg.referrers(repo, subject_digest, BUNDLE_ARTIFACT_TYPE)
    if descriptors is None:
        try:
            data, _, _ = reg.get_manifest(repo, fallback_tag(subject_digest))
        except Exception:  # no fallback index: nothing attached
            return []
        descriptors = [
            m for m in json.loads(data).get("manifests", []) if m.get("artifactType") == BUNDLE_ARTIFACT_TYPE
        ]
    bundles = []
    for d in descriptors:
        manifest_bytes, _, _ = reg.get_manifest(repo, d["digest"])
        manifest = json.loads(manifest_bytes)
        if manifest.get("subject", {}).get("digest") != subject_digest:
            continue  # a referrer that does not refer to this image is ignored
        for layer in manifest.get("layers", []):
            if layer.get("mediaType") == BUNDLE_ARTIFACT_TYPE:
                bundles.append(reg.get_blob(repo, layer["digest"], limit=4 * 1024 * 1024))
    return bundles
