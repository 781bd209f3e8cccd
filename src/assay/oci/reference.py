"""Image references per the distribution reference grammar, with Docker Hub defaults.

``[registry[:port]/]path[:tag][@algorithm:hex]``. A first component is a
registry when it contains ``.`` or ``:`` or is ``localhost``; otherwise the
reference names Docker Hub (``docker.io``, with ``library/`` for one-component
paths). Path components are lowercase alphanumerics joined by ``.``, ``_``,
``__`` or dashes; tags are ``[\\w][\\w.-]{0,127}``; digests are
``algorithm:hex`` with a length the algorithm fixes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import InputError

DOCKER_HUB = "docker.io"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_HOST = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?"
)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
MAX_NAME = 255


@dataclass(frozen=True)
class Reference:
    """A parsed image reference."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``."""
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest: str) -> Reference:
        """The same image pinned to ``digest`` (the tag is kept for display only)."""
        return Reference(self.registry, self.repository, self.tag, parse_digest(digest))

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_digest(value: str) -> str:
    """Check ``algorithm:hex`` (sha256/384/512, lowercase hex of the right length)."""
    alg, sep, hexpart = value.partition(":")
    if (
        not sep
        or alg not in _DIGEST_LENGTHS
        or len(hexpart) != _DIGEST_LENGTHS[alg]
        or not re.fullmatch(r"[0-9a-f]+", hexpart)
    ):
        raise InputError("bad-image-reference", f"{value!r} is not a valid digest (algorithm:lowercase-hex)")
    return value


def parse(value: str) -> Reference:
    """Parse an image reference, applying Docker Hub defaults."""
    bad = InputError("bad-image-reference", f"{value!r} is not a valid image reference")
    if not value or value != value.strip():
        raise bad
    rest, _, digest = value.partition("@")
    digest_value = parse_digest(digest) if digest else None
    if "@" in value and not digest:
        raise bad
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise bad
    parts = rest.split("/")
    if len(parts) > 1 and (("." in parts[0] or ":" in parts[0]) or parts[0] == "localhost"):
        registry, path = parts[0], parts[1:]
        if not _HOST.fullmatch(registry):
            raise bad
    else:
        registry, path = DOCKER_HUB, parts
        if len(path) == 1:
            path = ["library", *path]
    if not path or not all(_COMPONENT.fullmatch(p) for p in path):
        raise bad
    repository = "/".join(path)
    if len(registry) + 1 + len(repository) > MAX_NAME:
        raise bad
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    return Reference(registry, repository, tag if tag or digest_value else "latest", digest_value)


def is_image_argument(value: str) -> bool:
    """True for ``oci:PATH...`` and for image references that are not an existing path on disk
    (the one rule every command uses to tell an image argument from a file)."""
    from pathlib import Path

    return value.startswith("oci:") or (
        not value.startswith("sha256:") and not Path(value).exists() and ("/" in value or ":" in value)
    )
