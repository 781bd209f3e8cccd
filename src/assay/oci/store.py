"""The storage interface image commands use: a registry (``Registry``) or an OCI image layout (``Layout``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

MANIFEST_LIMIT = 4 * 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join(MANIFEST_TYPES)


class Store(Protocol):
    """Manifests and blobs addressed by repository and tag or digest."""

    host: str

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) — a digest reference is checked against the bytes."""
        ...

    def resolve(self, repo: str, reference: str) -> tuple[str, str, int]:
        """(digest, media type, size) of a tag or digest."""
        ...

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str | None:
        """Store a manifest under a tag or its digest; returns the ``OCI-Subject`` the store acknowledged."""
        ...

    def blob_exists(self, repo: str, digest: str) -> bool: ...

    def push_blob(self, repo: str, data: bytes) -> str:
        """Store bytes as a blob unless present; returns the digest."""
        ...

    def push_blob_chunks(self, repo: str, digest: str, size: int, chunks: Iterator[bytes]) -> None:
        """Store a (possibly large) blob from an iterator of chunks; the store checks the digest."""
        ...

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount; False when the store cannot (the caller uploads instead)."""
        ...

    def get_blob(self, repo: str, digest: str, limit: int = ...) -> bytes: ...

    def fetch_blob(self, repo: str, digest: str, sink: BinaryIO) -> int:
        """Stream a blob into ``sink``, checking its digest; returns the size."""
        ...

    def list_tags(self, repo: str, page_size: int = ...) -> list[str]: ...

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]] | None:
        """Descriptors from a referrers API, or None (use the tag-schema fallback)."""
        ...


@dataclass
class RegistryAuth:
    """Registry connection flags shared by the image commands."""

    insecure: bool = False
    username: str | None = None
    password: str | None = None
