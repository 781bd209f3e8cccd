"""Open an image argument — a registry reference or ``oci:PATH[:tag|@digest]`` — as (store, repository, reference)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay.errors import InputError
from assay.oci import reference as refs
from assay.oci.layout import Layout
from assay.oci.registry import Registry
from assay.oci.store import RegistryAuth, Store

__all__ = ["RegistryAuth", "Target", "open_target", "parse_layout"]

LAYOUT_PREFIX = "oci:"


@dataclass
class Target:
    """Where an image lives and how it was named."""

    store: Store
    repository: str
    reference: str  # tag or digest to resolve
    name: str  # registry/repository, or oci:PATH — the docker-reference of cosign payloads
    tag: str | None
    digest: str | None

    def resolve(self) -> tuple[str, str, int]:
        """(digest, media type, size) of the manifest the argument names now."""
        return self.store.resolve(self.repository, self.reference)

    def pinned(self, digest: str) -> str:
        """The image pinned to a digest, for display."""
        return f"{self.name}@{digest}"

    def with_tag(self, tag: str) -> str:
        return f"{self.name}:{tag}"


def parse_layout(value: str) -> tuple[Path, str | None, str | None]:
    """``oci:PATH``, ``oci:PATH:tag`` or ``oci:PATH@sha256:...`` → (path, tag, digest)."""
    rest = value[len(LAYOUT_PREFIX) :]
    digest = None
    tag = None
    if "@" in rest:
        rest, _, digest = rest.rpartition("@")
        refs.parse_digest(digest)
    else:
        head, sep, last = rest.rpartition(":")
        if sep and "/" not in last and last and head:
            rest, tag = head, last
    if not rest:
        raise InputError("bad-image-reference", f"{value!r} names no layout directory")
    return Path(rest), tag, digest


_POOL: dict[tuple[str, bool, str | None, str | None], Registry] = {}  # one client (connections, caches) per registry


def open_target(image: str, auth: RegistryAuth | None = None, create: bool = False) -> Target:
    """Parse an image argument and open its store (``create`` makes a missing layout directory)."""
    auth = auth or RegistryAuth()
    if image.startswith(LAYOUT_PREFIX):
        path, tag, digest = parse_layout(image)
        store = Layout(path, create=create)
        return Target(store, "", digest or tag or "latest", f"oci:{path}", tag, digest)
    ref = refs.parse(image)
    key = (ref.registry, auth.insecure, auth.username, auth.password)
    reg = _POOL.get(key)
    if reg is None:
        reg = _POOL[key] = Registry(
            ref.registry, insecure=auth.insecure, username=auth.username, password=auth.password
        )
    return Target(reg, ref.repository, ref.digest or ref.tag or "latest", ref.name, ref.tag, ref.digest)
