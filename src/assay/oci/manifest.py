"""Structural checks of image manifests and indexes, done once where a store hands out manifest bytes.

Stores call :func:`check` on every manifest they return (and the layout on its ``index.json``), so the
code that reads ``manifests``, ``layers``, ``config`` and ``subject`` afterwards can rely on their types:
descriptors are objects with a string digest, an integer size and string annotations. Anything else is
``manifest-malformed`` (exit 2).
"""

from __future__ import annotations

import re
from typing import Any

from assay.errors import InputError
from assay.formats import safejson

INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_DESCRIPTORS = 10_000
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


def _bad(where: str, message: str) -> InputError:
    return InputError("manifest-malformed", f"{where}: {message}")


def _strings(value: object, where: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _bad(where, "annotations must map strings to strings")


def descriptor(value: object, where: str) -> dict[str, Any]:
    """Check one OCI descriptor: ``digest`` (algorithm:encoded), ``size`` >= 0, optional string fields."""
    if not isinstance(value, dict):
        raise _bad(where, "a descriptor must be an object")
    digest = value.get("digest")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise _bad(where, "descriptor digest must be a string algorithm:encoded")
    size = value.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63:
        raise _bad(where, "descriptor size must be a non-negative integer")
    for name in ("mediaType", "artifactType"):
        if name in value and not isinstance(value[name], str):
            raise _bad(where, f"descriptor {name} must be a string")
    if "annotations" in value and value["annotations"] is not None:
        _strings(value["annotations"], f"{where}.annotations")
    platform = value.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise _bad(where, "descriptor platform must be an object")
    return value


def _descriptors(value: object, where: str) -> None:
    if not isinstance(value, list):
        raise _bad(where, "expected a list of descriptors")
    if len(value) > MAX_DESCRIPTORS:
        raise _bad(where, f"more than {MAX_DESCRIPTORS} descriptors")
    for i, d in enumerate(value):
        descriptor(d, f"{where}[{i}]")


def check_doc(doc: object, media_type: str | None, where: str) -> dict[str, Any]:
    """Check a parsed manifest or index (``media_type`` None: decide by its fields)."""
    if not isinstance(doc, dict):
        raise _bad(where, "a manifest must be a JSON object")
    if "mediaType" in doc and not isinstance(doc["mediaType"], str):
        raise _bad(where, "mediaType must be a string")
    is_index = media_type in INDEX_MEDIA_TYPES if media_type else ("manifests" in doc and "layers" not in doc)
    if is_index or "manifests" in doc:
        _descriptors(doc.get("manifests", []), f"{where}.manifests")
    if not is_index:
        if "layers" in doc:
            _descriptors(doc["layers"], f"{where}.layers")
        if doc.get("config") is not None:
            descriptor(doc["config"], f"{where}.config")
    if doc.get("subject") is not None:
        descriptor(doc["subject"], f"{where}.subject")
    if doc.get("annotations") is not None:
        _strings(doc["annotations"], f"{where}.annotations")
    return doc


def check(data: bytes, media_type: str | None, where: str) -> dict[str, Any]:
    """Parse manifest bytes (depth-limited JSON) and check their structure; ``manifest-malformed`` otherwise."""
    try:
        doc = safejson.loads(data, what=where)
    except InputError as exc:
        raise _bad(where, exc.message) from None
    return check_doc(doc, media_type, where)
